"""Latent statistics: the per-position mean and variance (C, H, W) of the encoder's latents over a
dataset, written in the stat.pt format ({'mean', 'var'}, float32) or as safetensors.

This computes the exact population statistics: every rank accumulates count, mean and the sum of
squared deviations in float64 (Chan et al.'s pairwise update per batch), and the ranks' partial
results are merged the same way, so the result does not depend on batch order or world size beyond
float64 rounding. The reference's calculate_stat.py instead keeps a BatchNorm-style running average
(momentum 0.1 per batch, from mean 0 / var 1), which weights the last ~10 batches most and changes with
the data order (its README reports ~0.008 L1 from the released variance); its rank merge is
mean = avg(mean_r), var = avg(var_r) + Var(mean_r).

Images get the stage-2 preprocessing (ADM center crop) and flips per `flips`: 'random' (a seeded flip
per image, the reference), 'both' (every image and its mirror), 'none'. A latent cache works as input.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from rae_spec.files import write_text

from . import distributed, precision
from .config import StatsRunConfig
from .data import ImageDataset, PartitionSampler, flip_of, make_loader
from .export import provenance, save_stats
from .latent_cache import LatentCache, dataset_encoding

log = logging.getLogger("rae.train")


@dataclass
class Moments:
    """Count, mean and sum of squared deviations (M2) per position, float64."""

    count: int = 0
    mean: torch.Tensor | None = None
    m2: torch.Tensor | None = None

    def merge(self, count: int, mean: torch.Tensor, m2: torch.Tensor) -> None:
        if count == 0:
            return
        if self.count == 0:
            self.count, self.mean, self.m2 = count, mean.clone(), m2.clone()
            return
        total = self.count + count
        delta = mean - self.mean
        self.mean = self.mean + delta * (count / total)
        self.m2 = self.m2 + m2 + delta * delta * (self.count * count / total)
        self.count = total

    def update(self, z: torch.Tensor) -> None:
        """Add a batch of latents (B, C, H, W)."""
        z = z.double()
        mean = z.mean(dim=0)
        self.merge(z.shape[0], mean, ((z - mean) ** 2).sum(dim=0))

    @property
    def var(self) -> torch.Tensor:
        """Population (biased) variance, as the reference's batch statistics."""
        return self.m2 / self.count


def merge_ranks(local: Moments) -> Moments:
    """Every rank's moments merged in rank order (a collective)."""
    parts = distributed.all_gather_object(
        (local.count, None if local.mean is None else local.mean.cpu(), None if local.m2 is None else local.m2.cpu()))
    out = Moments()
    for count, mean, m2 in parts:
        if count:
            out.merge(count, mean, m2)
    return out


def compute_stats(cfg: StatsRunConfig, runtime: distributed.Runtime | None = None
                  ) -> tuple[torch.Tensor, torch.Tensor, int]:
    """(mean, var, count) over the dataset; rank 0 writes cfg.output (+ a .json provenance sidecar)."""
    rt = runtime or distributed.init()
    precision.configure(rt.device, cfg.tf32)
    moments = Moments()
    if cfg.data.cache:
        cache = LatentCache(cfg.data.cache)
        n = len(cache) if cfg.num_samples is None else min(cfg.num_samples, len(cache))
        sampler = PartitionSampler(n, rt.rank, rt.world_size, cfg.seed)
        items = list(sampler)
        bar = tqdm(total=len(items), desc="latent stats", disable=not (rt.is_main and cfg.progress), unit="img")
        for start in range(0, len(items), cfg.batch_size):
            chunk = items[start:start + cfg.batch_size]
            zs = []
            for index, seed in chunk:
                if cfg.flips == "both":
                    zs += [cache.read(index, False), cache.read(index, True)]
                else:
                    zs.append(cache.read(index, cfg.flips == "random" and flip_of(seed)))
            moments.update(torch.stack(zs))
            bar.update(len(chunk))
        bar.close()
    else:
        folder, n, codec = dataset_encoding(cfg, rt.device)
        mode = "adm_both" if cfg.flips == "both" else "adm"
        dataset = ImageDataset(folder, cfg.data.image_size, mode=mode, flip=cfg.flips == "random")
        sampler = PartitionSampler(n, rt.rank, rt.world_size, cfg.seed)
        loader = make_loader(dataset, sampler, cfg.batch_size, cfg.data.num_workers,
                             pin_memory=rt.device.type == "cuda")
        bar = tqdm(total=len(loader), desc="latent stats", disable=not (rt.is_main and cfg.progress), unit="batch")
        with torch.no_grad():
            for batch in loader:
                images = batch["image"]
                if cfg.flips == "both":
                    images = torch.cat([images, batch["image_flip"]])
                with precision.autocast(rt.device, cfg.precision):
                    z = codec.raw(images.to(rt.device, non_blocking=True))
                moments.update(z)
                bar.update(1)
        bar.close()
    total = merge_ranks(moments)
    mean, var = total.mean.float().cpu(), total.var.float().cpu()
    if rt.is_main:
        origin = provenance(stage="stats", count=total.count, flips=cfg.flips, encoder=str(cfg.encoder),
                            encoder_input_size=cfg.encoder_input_size, image_size=cfg.data.image_size,
                            data=str(cfg.data.cache or cfg.data.path), estimator="exact (Chan merge, float64)")
        out = save_stats(mean, var, cfg.output, origin)
        sidecar = json.dumps(json.loads(origin), indent=2)
        write_text(Path(str(out) + ".json"), sidecar)
        log.info("latent stats over %d latents -> %s (var mean %.4g, min %.4g)", total.count, out,
                 var.mean().item(), var.min().item())
    distributed.barrier()
    return mean, var, total.count
