"""The cross-backend seed convention: every random number a sampler needs comes from one numpy Generator.

`initial_noise` draws the starting latents in NCHW order and the SDE sampler draws its per-step noise
from the same generator afterwards (`step_noise`, one draw of the state's shape per noisy step). Both
backends follow it, so `np.random.default_rng(seed)` gives the same samples on torch and MLX up to
float error, whatever the device: the numbers never come from torch's or MLX's own generators.
"""

from __future__ import annotations

import numpy as np


def as_generator(seed: int | np.random.Generator | None) -> np.random.Generator:
    """A Generator from a seed (or a Generator, returned as is; None: fresh OS entropy)."""
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def initial_noise(seed: int | np.random.Generator | None, n: int, latent_shape: tuple[int, ...]) -> np.ndarray:
    """(n, C, H, W) float32 standard normal: `default_rng(seed).standard_normal((n, C, H, W), float32)`."""
    return as_generator(seed).standard_normal((n, *latent_shape), dtype=np.float32)


def step_noise(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """The SDE's per-step noise: float32 standard normal of the state's shape, drawn after the start."""
    return rng.standard_normal(tuple(shape), dtype=np.float32)
