"""The cross-backend seed convention: every random number a sampler needs comes from one numpy Generator.

`initial_noise` draws the starting latents in NCHW order and the SDE sampler draws its per-step noise
from the same generator afterwards (`step_noise`, one draw of the state's shape per noisy step). Both
backends follow it, so `np.random.default_rng(seed)` gives the same samples on torch and MLX up to
float error, whatever the device: the numbers never come from torch's or MLX's own generators.

A job's logical batch for one seed holds B rows (classes x images per class). Work batches split it into
chunks of rows, and `rows_noise` gives a chunk exactly the rows of the full draw, for the start and for
every SDE step, so the split never changes an image: `initial_noise(seed, n, shape)` is
`rows_noise(seed, n, range(n), shape)`.
"""

from __future__ import annotations

from collections.abc import Sequence

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


class RowsOfBatch:
    """A numpy generator that draws every sample for the whole logical batch and returns some rows.

    The initial noise and the SDE's per-step noise are then the same for a row whatever the chunking.
    """

    def __init__(self, seed: int, batch: int, rows: Sequence[int]):
        self.rng = np.random.default_rng(seed)
        self.batch = batch
        self.rows = np.asarray(rows, dtype=np.int64)

    def standard_normal(self, shape, dtype=np.float32) -> np.ndarray:
        full = self.rng.standard_normal((self.batch, *tuple(shape)[1:]), dtype=dtype)
        return np.ascontiguousarray(full[self.rows])


def rows_noise(seed: int, batch: int, rows: Sequence[int], latent_shape: Sequence[int]) -> tuple[np.ndarray,
                                                                                                 RowsOfBatch]:
    """(start noise for `rows` of the seed's logical batch of `batch` rows, the generator the SDE continues from)."""
    rng = RowsOfBatch(seed, batch, rows)
    return rng.standard_normal((len(rows), *latent_shape), dtype=np.float32), rng


class PerSample:
    """One numpy generator per sample, `default_rng([0, seed, i])` for sample i: its start noise is the first
    draw, the SDE's per-step noise the next ones. The noise of a sample is then a function of (seed, i)
    alone, whatever the batch, shard or process it is made in (`rae sample-fid`)."""

    def __init__(self, seed: int, indices: Sequence[int]):
        self.generators = [np.random.default_rng([0, seed, int(i)]) for i in indices]

    def standard_normal(self, shape, dtype=np.float32) -> np.ndarray:
        shape = tuple(shape)
        if shape[0] != len(self.generators):
            raise ValueError(f"{len(self.generators)} samples, asked for {shape[0]} rows")
        return np.stack([g.standard_normal(shape[1:], dtype=dtype) for g in self.generators])


def per_sample_noise(seed: int, indices: Sequence[int], latent_shape: Sequence[int]) -> tuple[np.ndarray, PerSample]:
    """(start noise of samples `indices`, the generator the SDE continues from): sample i draws from
    `np.random.default_rng([0, seed, i])`."""
    rng = PerSample(seed, indices)
    return rng.standard_normal((len(indices), *latent_shape), dtype=np.float32), rng
