"""Stage 2: DiT^DH (or LightningDiT) trained by flow matching on normalized RAE latents
(reference-spec 3.3, 6.2).

Per sample: latent z (online: frozen encoder on the ADM-cropped, maybe flipped image; or read from the
latent cache), noise eps, u from the truncated logit-normal (or uniform), t = s_alpha(u) with alpha =
sqrt(C H W / 4096), x_t = (1 - t) z + t eps, target eps - z, loss = mean (v(x_t, t, y) - target)^2.
Labels are replaced by the null class with probability class_dropout_prob inside the model's label
embedder. AdamW (0.9, 0.95), linear/cosine schedule, global-norm clipping, EMA of all parameters.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from pathlib import Path
from typing import Any

import torch

from rae_spec.configs import (
    DIT_CONFIGS,
    ConfigError,
    DecoderConfig,
    DiTDHConfig,
    EncoderConfig,
    GuidanceConfig,
    LightningDiTConfig,
    PipelineConfig,
    TransportConfig,
    from_dict,
)
from rae_spec.presets import MODELS

from .. import pipeline
from ..dit import build_dit
from ..transport import Transport
from . import checkpoints as ckpt
from . import distributed, precision
from .codec import LatentEncoder
from .config import Stage2Config, load_config
from .data import ImageDataset, ImageFolder
from .ema import EMA
from .export import export_pipeline, provenance, save_model_folder, save_stats
from .latent_cache import LatentCache
from .loop import Trainer
from .optim import LRSchedule, build_adamw
from .pretrained import decoder_config as resolve_decoder_config
from .pretrained import load_decoder, load_encoder, load_latent_stats
from .randomness import Stream, normals, to_device, uniforms
from .tracking import Tracker, image_grid, save_png

log = logging.getLogger("rae.train")


def dit_config(spec: Any) -> DiTDHConfig | LightningDiTConfig:
    """A DiT config from a preset name, a type-tagged mapping (DiTDHConfig / LightningDiTConfig) or a config."""
    if isinstance(spec, DIT_CONFIGS):
        return spec
    if isinstance(spec, str):
        preset = MODELS.get(spec)
        if preset is None or preset.kind != "dit":
            known = ", ".join(n for n, p in MODELS.items() if p.kind == "dit")
            raise ConfigError(f"model {spec!r} is not a DiT preset ({known}); or give a mapping with "
                              "type: DiTDHConfig | LightningDiTConfig")
        return preset.config
    if isinstance(spec, dict):
        spec = dict(spec)
        kind = spec.pop("type", "DiTDHConfig")
        classes = {cls.__name__: cls for cls in DIT_CONFIGS}
        if kind not in classes:
            raise ConfigError(f"model.type must be DiTDHConfig or LightningDiTConfig, got {kind!r}")
        return from_dict(spec, classes[kind])
    raise ConfigError(f"model must be a preset name or a mapping, got {spec!r}")


def stage2_decoder(spec: str | None, config: Any, encoder: EncoderConfig, encoder_input_size: int,
                   image_size: int) -> torch.nn.Module | None:
    """The decoder for sample grids and export (None when not configured)."""
    if not spec:
        return None
    resolved = resolve_decoder_config(config, encoder, encoder_input_size, image_size) if config is not None else None
    return load_decoder(spec, resolved)


def transport_config(cfg: Stage2Config, latent_shape: tuple[int, int, int]) -> TransportConfig:
    """The configured transport, or the reference's: shift sqrt(C H W / 4096), clamped to >= 1 (the
    reference asserts it) for latents smaller than 4096 values."""
    if cfg.transport is not None:
        return cfg.transport
    dim = math.prod(latent_shape)
    return TransportConfig(time_dist_shift_dim=dim, time_dist_shift_base=min(4096, dim))


class Stage2Trainer(Trainer):
    stage = "stage2"
    cfg: Stage2Config

    def build(self) -> None:
        cfg, dev = self.cfg, self.rt.device
        self.model_config = dit_config(cfg.model)
        self.encoder_module = None
        if cfg.data.cache:
            self.dataset = LatentCache(cfg.data.cache, flip=cfg.data.flip)
            self.encoder_config = self.dataset.encoder_config
            self.encoder_spec = self.dataset.meta["encoder"]
            self.encoder_input_size = self.dataset.meta["encoder_input_size"]
            latent_shape = self.dataset.latent_shape
            self.classes = self.dataset.classes
        else:
            if cfg.encoder is None:
                raise ConfigError("stage 2 needs an encoder (or data.cache, a latent cache)")
            folder = ImageFolder(cfg.data.path)
            self.dataset = ImageDataset(folder, cfg.data.image_size, mode="adm", flip=cfg.data.flip)
            self.encoder_module, self.encoder_config = load_encoder(cfg.encoder)
            self.encoder_spec, self.encoder_input_size = cfg.encoder, cfg.encoder_input_size
            grid = self.encoder_input_size // self.encoder_config.patch_size
            latent_shape = (self.encoder_config.hidden_size, grid, grid)
            self.classes = folder.classes
        mc = self.model_config
        if tuple(latent_shape) != mc.latent_shape:
            raise ConfigError(f"the encoder gives latents {tuple(latent_shape)} but the DiT expects {mc.latent_shape} "
                              "(in_channels, input_size, input_size)")
        if len(self.classes) > mc.num_classes:
            raise ConfigError(f"the data has {len(self.classes)} classes, the DiT only {mc.num_classes}")
        self.latent_shape = tuple(latent_shape)
        self.stats = load_latent_stats(cfg.stats, self.latent_shape)
        encoder = self.encoder_module if self.encoder_module is not None else torch.nn.Identity()
        self.codec = LatentEncoder(encoder, self.encoder_config,
                                   self.encoder_input_size, *self.stats, eps=cfg.stats_eps).to(dev)
        self.transport_config = transport_config(cfg, self.latent_shape)
        self.transport = Transport(self.transport_config)

        self.seed_model_init()
        model = build_dit(mc).to(dev)
        self.wrapped = distributed.wrap(model, self.rt, self.run_cfg.parallel)
        precision.maybe_compile(model, self.run_cfg.compile, self.run_cfg.compile_mode, self.run_cfg.compile_backend)
        self.model = model
        self.ema = EMA(model, self.run_cfg.ema_decay)
        self.optimizer = build_adamw(model.parameters(), cfg.optim, dev)
        self.schedule = LRSchedule(self.optimizer, cfg.schedule, self.steps_per_epoch, cfg.optim.lr)
        self.decoder = stage2_decoder(cfg.decoder, cfg.decoder_config, self.encoder_config, self.encoder_input_size,
                                      cfg.data.image_size)
        self._sample_model = None
        self.seed_per_rank()
        n_params = sum(p.numel() for p in model.parameters() if p.requires_grad)
        log.info("stage 2: %s, %.2fM trainable parameters, latents %s, time shift %.4f, %s",
                 type(model).__name__, n_params / 1e6, self.latent_shape, self.transport.shift,
                 "latent cache" if cfg.data.cache else "online encoding")

    def latents(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        dev = self.rt.device
        if "latent" in batch:
            return self.codec.normalize(batch["latent"].to(dev, non_blocking=True).float())
        return self.codec(batch["image"].to(dev, non_blocking=True))

    def _forward(self, xt: torch.Tensor, t: torch.Tensor, labels: torch.Tensor, **kwargs) -> torch.Tensor:
        """The trained model (DDP / FSDP wrapped) under the run's autocast: what Transport.loss calls."""
        with self.autocast():
            return self.wrapped(xt, t, labels, **kwargs)

    def train_step(self, batches: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
        """Flow matching (Transport.loss) with every draw a function of the sample's seed: noise, the
        uniform behind t, and label dropout (rae_torch.train.randomness)."""
        dev, k = self.rt.device, len(batches)
        null = self.model_config.null_label
        total = torch.zeros((), device=dev)
        for i, batch in enumerate(batches):
            z = self.latents(batch)
            seeds = batch["seed"]
            labels = batch["label"].to(dev, non_blocking=True)
            noise = normals(seeds, Stream.NOISE, z.shape[1:], dev)
            drop = None
            if null is not None:
                p = self.model_config.class_dropout_prob
                drop = to_device(uniforms(seeds, Stream.LABEL_DROP)[:, 0] < p, dev, torch.long)
            with distributed.gradient_sync(self.wrapped, i == k - 1):
                terms = self.transport.loss(self._forward, z, labels, noise=noise,
                                            uniforms=uniforms(seeds, Stream.TIME)[:, 0], force_drop_ids=drop)
                loss = terms["loss"].mean()
                self.backward(loss / k)
            total += loss.detach() / k
        norm = self.optimizer_step(self.optimizer, list(self.model.parameters()), self.run_cfg.clip_grad)
        self.schedule.step()
        self.ema.update()
        metrics = {"loss": total}
        if norm is not None:
            metrics["grad_norm"] = norm.detach()
        return metrics

    # ------------------------------------------------------------------------------- sampling, export

    def ema_model(self, state: dict[str, torch.Tensor]) -> torch.nn.Module:
        if self._sample_model is None:
            self._sample_model = build_dit(self.model_config).to(self.rt.device).eval()
        self._sample_model.load_state_dict(state)
        return self._sample_model

    @torch.no_grad()
    def sample(self, tracker: Tracker) -> None:
        state = self.ema.state_dict()  # a collective under FSDP2: every rank takes part
        if not self.rt.is_main:
            return
        if self.decoder is None:
            log.info("no decoder configured: skipping the sample grid (set `decoder:`)")
            return
        images = generate(self.ema_model(state), self.decoder.to(self.rt.device), self.encoder_config, self.stats,
                          self.cfg.sampler, self.cfg.guidance, self.transport.shift, self.run_cfg.sample_count,
                          self.run_cfg.seed, self.stats_eps)
        grid = image_grid(images)
        save_png(grid, self.out / "samples" / f"step-{self.step:07d}.png")
        tracker.image(self.step, "samples/ema", grid)

    @property
    def stats_eps(self) -> float:
        return self.cfg.stats_eps

    def export(self) -> Path | None:
        state = self.ema.state_dict()
        if not self.rt.is_main:
            return None
        return write_export(self.out / "export", state, self, step=self.step)


@torch.no_grad()
def generate(model: torch.nn.Module, decoder: torch.nn.Module, encoder_config, stats, sampler_cfg,
             guidance: GuidanceConfig, shift: float, count: int, seed: int, eps: float = 1e-5,
             labels: torch.Tensor | None = None) -> torch.Tensor:
    """Images (count, 3, S, S) in [0, 1] from a DiT through rae_torch.pipeline.generate (the sampling path
    every front end uses: numpy-seeded noise, identical on every backend). Labels default to classes spread
    evenly; autoguidance has no guide during training, so it samples unguided."""
    if labels is None:
        labels = torch.arange(count) * model.config.num_classes // count
    if guidance.method == "autoguidance":
        guidance = GuidanceConfig()
    mean, var = (None if s is None else s.float() for s in stats)
    out = pipeline.generate(model, decoder, labels.tolist(), seed=seed, sampler=sampler_cfg, shift=shift,
                            guidance=guidance, stats=(mean, var), eps=eps, image_mean=encoder_config.image_mean,
                            image_std=encoder_config.image_std)
    return out.images.clamp(0, 1)


def _pipeline(trainer_like, step: int) -> PipelineConfig:
    cfg = trainer_like.cfg
    encoder = trainer_like.encoder_spec if trainer_like.encoder_spec in MODELS else "encoder"
    guidance = cfg.guidance if cfg.guidance.method != "autoguidance" else GuidanceConfig()
    return PipelineConfig(
        dit="dit", decoder="decoder", stats="stats.safetensors" if trainer_like.stats[1] is not None else None,
        encoder=encoder, encoder_input_size=trainer_like.encoder_input_size, sampler=cfg.sampler, guidance=guidance,
        transport=trainer_like.transport_config, class_names=tuple(trainer_like.classes),
        description=f"trained with rae_torch.train stage2 ({type(trainer_like.model_config).__name__})",
        provenance=provenance(stage="stage2", step=step, output_dir=str(cfg.output_dir)))


def write_export(folder: Path, ema_state: dict[str, torch.Tensor], trainer_like, step: int) -> Path:
    """dit/ (EMA weights) + stats + (with a decoder) decoder/ and pipeline.json; the encoder is named by
    its preset or copied into encoder/."""
    pipe = _pipeline(trainer_like, step)
    if trainer_like.decoder is None:
        save_model_folder(ema_state, trainer_like.model_config, folder / "dit", pipe.provenance)
        if trainer_like.stats[1] is not None:
            save_stats(trainer_like.stats[0], trainer_like.stats[1], folder / "stats.safetensors", pipe.provenance)
        log.info("exported dit/ and stats only: a sampling pipeline also needs a decoder (set `decoder:`)")
        return folder
    encoder = None
    if pipe.encoder == "encoder":
        encoder = trainer_like.encoder_module
        if encoder is None:
            spec = Path(str(trainer_like.encoder_spec))
            encoder = load_encoder(str(spec))[0] if spec.is_dir() else None
        if encoder is None:
            pipe = dataclasses.replace(pipe, encoder=None)
    return export_pipeline(folder, ema_state, trainer_like.model_config, trainer_like.decoder.cpu(),
                           trainer_like.stats, pipe, encoder=encoder)


class _Checkpointed:
    """What `write_export` reads, rebuilt from a training checkpoint (no data, no optimizer)."""

    def __init__(self, cfg: Stage2Config, decoder, decoder_config):
        self.cfg = cfg
        self.model_config = dit_config(cfg.model)
        if cfg.data.cache:
            cache = LatentCache(cfg.data.cache, flip=cfg.data.flip)
            self.encoder_spec, self.encoder_input_size = cache.meta["encoder"], cache.meta["encoder_input_size"]
            self.classes = cache.classes
            self.encoder_config = cache.encoder_config
        else:
            self.encoder_spec, self.encoder_input_size = cfg.encoder, cfg.encoder_input_size
            self.classes = ImageFolder(cfg.data.path).classes if Path(cfg.data.path).is_dir() else []
            self.encoder_config = None
        self.encoder_module = None
        self.stats = load_latent_stats(cfg.stats, self.model_config.latent_shape)
        self.transport_config = transport_config(cfg, self.model_config.latent_shape)
        config = decoder_config if decoder_config is not None else cfg.decoder_config
        if config is not None and not isinstance(config, DecoderConfig):
            if self.encoder_config is None:
                self.encoder_config = load_encoder(self.encoder_spec)[1]
            config = resolve_decoder_config(config, self.encoder_config, self.encoder_input_size, cfg.data.image_size)
        self.decoder = load_decoder(decoder or cfg.decoder, config) if (decoder or cfg.decoder) else None


def export_checkpoint(checkpoint: str | Path, folder: str | Path, decoder: str | None = None,
                      decoder_config: Any = None) -> Path:
    """A pipeline folder from a stage-2 training checkpoint (its EMA weights and the config it holds)."""
    state = ckpt.load(checkpoint)
    if state.get("stage") != "stage2":
        raise ConfigError(f"{checkpoint} is a {state.get('stage')} checkpoint, not stage2")
    import yaml

    cfg = load_config("stage2", data=yaml.safe_load(state["config"]))
    return write_export(Path(folder), state["ema"], _Checkpointed(cfg, decoder, decoder_config), int(state["step"]))


def train_stage2(config: Stage2Config, runtime=None, callbacks=None) -> dict[str, float]:
    return Stage2Trainer(config, runtime, callbacks).fit()
