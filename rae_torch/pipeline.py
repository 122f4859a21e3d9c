"""Class-conditional generation: noise -> DiT^DH sampling -> RAE decoding (the twin of rae_mlx.pipeline).

`sample_latents` is the one torch way to sample: the CLI's and the app's engine, `generate` and the
trainer's sample grids all call it; it runs rae_spec's sampling loop (SamplerBase.run) with a per-step
callback (rae_spec.step_state) and a cancel check between steps. Decoding is rae_torch.rae.decode_latents.
Sampling never needs the encoder.

Noise follows the cross-backend convention (rae_spec.noise): `default_rng(seed)` draws the (n, C, H, W)
start and, for the SDE, the per-step noise, so rae_mlx gives the same images for the same seed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from rae_spec.configs import IMAGENET_MEAN, IMAGENET_STD, GuidanceConfig, SamplerConfig
from rae_spec.noise import as_generator, initial_noise
from rae_spec.step_state import CancelCheck, StepCallback

from .rae import decode_latents
from .sampling import Sampler, guided_velocity


@dataclass
class Generation:
    latents: torch.Tensor                # (n, C, H, W), normalized latent space
    images: torch.Tensor | None          # (n, 3, S, S), de-normalized pixels (not clamped), None if not decoded


@torch.inference_mode()
def sample_latents(dit: torch.nn.Module, labels, noise, sampler: SamplerConfig, shift: float, *,
                   guidance: GuidanceConfig | None = None, guide: torch.nn.Module | None = None,
                   rng: np.random.Generator | None = None, on_step: StepCallback | None = None,
                   cancel: CancelCheck | None = None) -> torch.Tensor:
    """Integrate `noise` (B, C, H, W; numpy or a tensor) to latents for the class `labels`, on the DiT's
    device; the SDE draws from `rng`. `on_step(StepState)` runs after every step, then `cancel()`; True
    raises rae_spec.step_state.Cancelled before the next step. Autocast, if wanted, is the caller's."""
    device = next(dit.parameters()).device
    x = noise if isinstance(noise, torch.Tensor) else torch.from_numpy(np.ascontiguousarray(noise, dtype=np.float32))
    y = labels if isinstance(labels, torch.Tensor) else torch.from_numpy(np.asarray(labels, dtype=np.int64))
    x, y = x.to(device), y.to(device)
    velocity = guided_velocity(dit, y, guidance, guide)
    return Sampler(sampler, shift).run(x, velocity, rng, on_step=on_step, cancel=cancel)


@torch.inference_mode()
def generate(dit: torch.nn.Module, decoder: torch.nn.Module | None, labels: Iterable[int], *,
             seed: int | np.random.Generator | None, sampler: SamplerConfig, shift: float,
             guidance: GuidanceConfig | None = None, guide: torch.nn.Module | None = None,
             stats: tuple[Any, Any] = (None, None), eps: float = 1e-5, image_mean=IMAGENET_MEAN,
             image_std=IMAGENET_STD, decode_batch_size: int | None = None, on_step: StepCallback | None = None,
             cancel: CancelCheck | None = None) -> Generation:
    """Sample len(labels) images. `shift` is the transport's time shift (TransportConfig.time_dist_shift)."""
    labels = torch.as_tensor(np.asarray(list(labels), dtype=np.int64))
    rng = as_generator(seed)
    x = initial_noise(rng, labels.shape[0], dit.config.latent_shape)
    latents = sample_latents(dit, labels, x, sampler, shift, guidance=guidance, guide=guide, rng=rng,
                             on_step=on_step, cancel=cancel)
    if decoder is None:
        return Generation(latents, None)
    mean, var = (None if s is None else torch.as_tensor(s).to(latents.device) for s in stats)
    images = decode_latents(decoder, latents, mean, var, eps, image_mean, image_std, decode_batch_size)
    return Generation(latents, images)
