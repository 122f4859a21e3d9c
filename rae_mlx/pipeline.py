"""Class-conditional generation with bounded memory: noise -> DiT^DH sampling -> RAE decoding.

Sampling needs the DiT (and the autoguidance guide), the decoder and the latent statistics, never the
encoder. Pass models or zero-argument loaders: with loaders and `free_dit=True` the DiT and guide are
dropped (and MLX's buffer cache cleared) before the decoder is loaded, so the peak is the larger of the
two phases rather than their sum. Decoding runs in micro-batches of `decode_batch_size`. The
`MemoryMonitor` records the peak memory and time of each phase (load, sample, decode).

Noise follows the cross-backend convention (rae_spec.noise): `default_rng(seed)` draws the (n, C, H, W)
start and, for the SDE, the per-step noise, so rae_torch gives the same images for the same seed.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mlx.core as mx
import numpy as np

from rae_spec.configs import IMAGENET_MEAN, IMAGENET_STD, GuidanceConfig, SamplerConfig
from rae_spec.noise import as_generator, initial_noise
from rae_spec.step_state import CancelCheck, StepCallback, StepState

from .memory import MemoryMonitor, release
from .rae import decode_latents
from .sampling import Sampler, guided_velocity

ModelOrLoader = Any  # an nn.Module, or a zero-argument callable returning one


@dataclass
class Generation:
    latents: mx.array            # (n, C, H, W) float32, normalized latent space
    images: mx.array | None      # (n, 3, S, S) float32, de-normalized pixels (not clamped), None if not decoded
    memory: MemoryMonitor


def _materialize(model: ModelOrLoader):
    return model() if callable(model) and not hasattr(model, "parameters") else model


def sample_latents(dit, labels, noise, sampler: SamplerConfig, shift: float, *, guidance: GuidanceConfig | None = None,
                   guide=None, rng: np.random.Generator | None = None, on_step: StepCallback | None = None,
                   cancel: CancelCheck | None = None, compile: bool | None = None) -> mx.array:
    """The one MLX way to sample (the CLI, the app and `generate` all call it): integrate `noise` (B, C, H, W)
    to latents for the class `labels`, the SDE drawing from `rng`. `on_step(StepState)` runs after every
    step, then `cancel()`; True raises rae_spec.step_state.Cancelled before the next step."""
    x = noise if isinstance(noise, mx.array) else mx.array(np.ascontiguousarray(noise, dtype=np.float32))
    labels = labels if isinstance(labels, mx.array) else mx.array(np.asarray(labels, dtype=np.int64))
    velocity = guided_velocity(dit, labels, guidance, guide)
    return Sampler(sampler, shift, compile=compile).run(x, velocity, rng, on_step=on_step, cancel=cancel)


def generate(dit: ModelOrLoader, decoder: ModelOrLoader | None, labels: Iterable[int], *, seed: int | None,
             sampler: SamplerConfig, shift: float, guidance: GuidanceConfig | None = None,
             guide: ModelOrLoader | None = None, stats: tuple[Any, Any] = (None, None), eps: float = 1e-5,
             image_mean=IMAGENET_MEAN, image_std=IMAGENET_STD, free_dit: bool = True,
             decode_batch_size: int | None = None, compile: bool | None = None,
             progress: Callable[[int, int], None] | None = None, on_step: StepCallback | None = None,
             cancel: CancelCheck | None = None, monitor: MemoryMonitor | None = None) -> Generation:
    """Sample len(labels) images. `shift` is the transport's time shift (TransportConfig.time_dist_shift).
    `progress(i, total)` and `on_step(StepState)` run after every step; `cancel()` stops between steps."""
    monitor = monitor or MemoryMonitor()
    labels = mx.array(np.asarray(list(labels)))
    rng = as_generator(seed)
    with monitor.phase("load"):
        model = _materialize(dit)
        weak = _materialize(guide) if guide is not None else None
    x = initial_noise(rng, labels.shape[0], model.config.latent_shape)

    def report(state: StepState) -> None:
        if progress is not None:
            progress(state.step, state.total)
        if on_step is not None:
            on_step(state)

    with monitor.phase("sample"):
        latents = sample_latents(model, labels, x, sampler, shift, guidance=guidance, guide=weak, rng=rng,
                                 on_step=report, cancel=cancel, compile=compile)
    if free_dit:
        refs = [weakref.ref(m) for m in (model, weak) if m is not None]
        del model, weak
        release()
        freed = all(r() is None for r in refs)
        monitor.phases["sample"]["dit_freed"] = float(freed)
    if decoder is None:
        return Generation(latents, None, monitor)
    with monitor.phase("decode"):
        dec = _materialize(decoder)
        images = decode_latents(dec, latents, _stat(stats[0]), _stat(stats[1]), eps, image_mean, image_std,
                                decode_batch_size)
        mx.eval(images)
    return Generation(latents, images, monitor)


def generate_from_folder(folder: str | Path, labels: Iterable[int], *, seed: int | None, dtype: Any = None,
                         **overrides) -> Generation:
    """`generate` for a pipeline folder (pipeline.json + dit/ decoder/ [guide/] stats.safetensors, as training
    exports it). The encoder is never touched. `overrides` replace generate's arguments (sampler, guidance,
    free_dit, decode_batch_size, ...)."""
    from rae_spec.configs import PipelineConfig

    from .checkpoint import load_model, load_stats

    folder = Path(folder)
    spec = PipelineConfig.load(folder)
    stats = load_stats(folder / spec.stats) if spec.stats else (None, None)
    kwargs = dict(sampler=spec.sampler, shift=spec.transport.time_dist_shift, guidance=spec.guidance,
                  guide=(lambda: load_model(folder / spec.guide, dtype=dtype)) if spec.guide else None,
                  stats=stats)
    mean, std = _encoder_normalization(folder, spec.encoder)
    kwargs.update(image_mean=mean, image_std=std)
    kwargs.update(overrides)
    return generate(lambda: load_model(folder / spec.dit, dtype=dtype), lambda: load_model(folder / spec.decoder,
                                                                                          dtype=dtype),
                    labels, seed=seed, **kwargs)


def _encoder_normalization(folder: Path, encoder: str | None):
    """The encoder's pixel mean / std (decoding de-normalizes with them), read from its config only."""
    from rae_spec.configs import EncoderConfig
    from rae_spec.presets import MODELS
    from rae_spec.state_dict import folder_config

    if encoder is None:
        return IMAGENET_MEAN, IMAGENET_STD
    path = folder / encoder
    if (path / "config.json").is_file():
        config = folder_config(path)
    elif encoder in MODELS:
        config = MODELS[encoder].config
    else:
        return IMAGENET_MEAN, IMAGENET_STD
    config = config.encoder if not isinstance(config, EncoderConfig) and hasattr(config, "encoder") else config
    return config.image_mean, config.image_std


def _stat(value):
    if value is None:
        return None
    return value if isinstance(value, mx.array) else mx.array(np.asarray(value, dtype=np.float32))
