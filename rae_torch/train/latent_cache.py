"""Latent cache: encode a dataset once, both horizontal flips, into sharded safetensors; stage 2 (and
stats) then read latents instead of running the frozen encoder every step.

Layout of a cache folder:
  meta.json                 sizes, dtype, classes, the encoder (spec + config), shard list
  part-r000-00000.safetensors ...   'latents' (n, 2, C, H, W) [unflipped, flipped], 'labels' (n,),
                                    'indices' (n,) dataset indices
Latents are raw (before normalization), so statistics can be computed from the cache and changed
without re-encoding. Size: ImageNet-1k with DINOv2-B at 256 px is 1.28M x 2 x 768 x 16 x 16 values,
about 1.0 TB in bf16; reading it must beat encoding (the encoder is ~5% of DiT^DH-XL's training FLOPs).
Each rank encodes items r, r + W, ... and writes its own shards; rank 0 writes meta.json last.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from torch.utils.data import Dataset
from tqdm import tqdm

from rae_spec.configs import ConfigError, EncoderConfig, from_dict, to_dict
from rae_spec.files import write_text

from . import distributed, precision
from .codec import LatentEncoder
from .config import CacheConfig, StatsRunConfig
from .data import ImageDataset, ImageFolder, PartitionSampler, flip_of, make_loader
from .export import save_safetensors
from .pretrained import load_encoder

log = logging.getLogger("rae.train")

META = "meta.json"
FORMAT = "rae-latent-cache/1"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


def dataset_encoding(cfg: CacheConfig | StatsRunConfig, device: torch.device
                     ) -> tuple[ImageFolder, int, LatentEncoder]:
    """What encoding a dataset needs (the latent cache, statistics): its image folder, how many of its images
    to encode (`num_samples` caps it) and the frozen encoder with its pixel preprocessing."""
    folder = ImageFolder(cfg.data.path)
    n = len(folder) if cfg.num_samples is None else min(cfg.num_samples, len(folder))
    encoder, enc_cfg = load_encoder(cfg.encoder)
    return folder, n, LatentEncoder(encoder, enc_cfg, cfg.encoder_input_size).to(device)


def build_cache(cfg: CacheConfig, runtime: distributed.Runtime | None = None) -> Path:
    """Encode cfg.data.path (ADM center crop, both flips) into cfg.output_dir; returns the folder."""
    rt = runtime or distributed.init()
    precision.configure(rt.device, cfg.tf32)
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    folder, n, codec = dataset_encoding(cfg, rt.device)
    dataset = ImageDataset(folder, cfg.data.image_size, mode="adm_both")
    loader = make_loader(dataset, PartitionSampler(n, rt.rank, rt.world_size), cfg.batch_size, cfg.data.num_workers,
                         pin_memory=rt.device.type == "cuda")
    dtype = DTYPES[cfg.dtype]
    shards: list[dict[str, Any]] = []
    pending: dict[str, list[torch.Tensor]] = {"latents": [], "labels": [], "indices": []}

    def flush() -> None:
        if not pending["indices"]:
            return
        name = f"part-r{rt.rank:03d}-{len(shards):05d}.safetensors"
        tensors = {k: torch.cat(v) for k, v in pending.items()}
        save_safetensors(tensors, out / name)
        shards.append({"file": name, "count": int(tensors["indices"].numel())})
        for v in pending.values():
            v.clear()

    bar = tqdm(total=len(loader), desc="latent cache", disable=not (rt.is_main and cfg.progress), unit="batch")
    with torch.no_grad():
        for batch in loader:
            images = torch.cat([batch["image"], batch["image_flip"]]).to(rt.device, non_blocking=True)
            with precision.autocast(rt.device, cfg.precision):
                z = codec.raw(images)
            b = batch["image"].shape[0]
            pending["latents"].append(torch.stack([z[:b], z[b:]], dim=1).to(dtype).cpu())
            pending["labels"].append(batch["label"].long())
            pending["indices"].append(batch["index"].long())
            if sum(t.shape[0] for t in pending["indices"]) >= cfg.shard_size:
                flush()
            bar.update(1)
    flush()
    bar.close()
    all_shards = [s for rank_shards in distributed.all_gather_object(shards) for s in rank_shards]
    if rt.is_main:
        meta = {"format": FORMAT, "num_samples": n, "latent_shape": list(codec.latent_shape), "dtype": cfg.dtype,
                "classes": folder.classes, "encoder": cfg.encoder, "encoder_config": to_dict(codec.config),
                "encoder_input_size": cfg.encoder_input_size, "image_size": cfg.data.image_size,
                "data_path": str(cfg.data.path), "shards": all_shards}
        text = json.dumps(meta, indent=2)
        write_text(out / META, text)
        log.info("latent cache: %d samples x 2 flips in %d shards at %s", n, len(all_shards), out)
    distributed.barrier()
    return out


class LatentCache(Dataset):
    """Items keyed by (index, seed) -> {'latent' (C, H, W) float32 raw, 'label', 'seed', 'index'}; the
    flip is chosen from the seed exactly as online encoding chooses it (`flip_of`)."""

    def __init__(self, folder: str | Path, flip: bool = True):
        self.folder = Path(folder)
        meta_file = self.folder / META
        if not meta_file.is_file():
            raise ConfigError(f"{self.folder} is not a latent cache (no {META}); build one with "
                              "`python -m rae_torch.train cache --config ...`")
        self.meta = json.loads(meta_file.read_text())
        if self.meta.get("format") != FORMAT:
            raise ConfigError(f"{meta_file}: unsupported cache format {self.meta.get('format')!r}")
        self.flip = flip
        self.classes: list[str] = self.meta["classes"]
        self.latent_shape = tuple(self.meta["latent_shape"])
        self.encoder_config: EncoderConfig = from_dict(self.meta["encoder_config"], EncoderConfig)
        self.where: dict[int, tuple[str, int]] = {}
        self.labels: dict[int, int] = {}
        for shard in self.meta["shards"]:
            with safe_open(str(self.folder / shard["file"]), framework="pt") as f:
                indices, labels = f.get_tensor("indices").tolist(), f.get_tensor("labels").tolist()
            for row, (i, y) in enumerate(zip(indices, labels, strict=True)):
                self.where[i] = (shard["file"], row)
                self.labels[i] = y
        if sorted(self.where) != list(range(self.meta["num_samples"])):
            raise ConfigError(f"{self.folder}: the shards do not cover samples 0..{self.meta['num_samples'] - 1}; "
                              "the cache is incomplete, rebuild it")
        self._handles: dict[tuple[int, str], Any] = {}

    def __len__(self) -> int:
        return len(self.where)

    def _open(self, name: str):
        key = (os.getpid(), name)  # one handle per worker process
        if key not in self._handles:
            self._handles[key] = safe_open(str(self.folder / name), framework="pt")
        return self._handles[key]

    def read(self, index: int, flipped: bool) -> torch.Tensor:
        name, row = self.where[index]
        f = int(flipped)
        return self._open(name).get_slice("latents")[row:row + 1, f:f + 1][0, 0].float()

    def __getitem__(self, key) -> dict:
        index, seed = key
        flipped = self.flip and flip_of(seed)
        return {"latent": self.read(index, flipped), "label": self.labels[index], "seed": seed, "index": index}

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state["_handles"] = {}
        return state
