"""Per-sample randomness: every random draw of a training step is a function of the sample's seed.

The sampler gives each sample of each epoch a 63-bit seed derived from (run seed, epoch, position in the
global sample order). Flips, crops, flow times, class dropout, noise-augmentation strengths and DiffAug
parameters are counter-based uniforms of that seed (splitmix64, vectorized in numpy); Gaussian noise
comes from a torch generator seeded per sample on the training device.

Why: a sample's draws then do not depend on which rank or micro-batch it lands in, nor on where a run
was stopped. So one process equals N DDP processes at the same global batch, k micro-batches of b
equal one batch of k*b, a resumed run equals an uninterrupted one bit for bit, and a latent-cache run
sees the same flips as online encoding. Per-rank seeding (`seed_everything`) still covers the rest.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from enum import IntEnum

import numpy as np
import torch

MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_M1, _M2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


class Stream(IntEnum):
    """Independent draw streams of one sample."""

    FLIP = 1
    CROP_Y = 2
    CROP_X = 3
    TIME = 4
    LABEL_DROP = 5
    NOISE = 6
    NOISING_SCALE = 7
    NOISING = 8
    AUG_G = 9
    AUG_D_FAKE = 10
    AUG_D_REAL = 11


def _splitmix64(x: int) -> int:
    z = (x + _GOLDEN) & MASK64
    z = ((z ^ (z >> 30)) * _M1) & MASK64
    z = ((z ^ (z >> 27)) * _M2) & MASK64
    return z ^ (z >> 31)


def mix_seed(*values: int) -> int:
    """A 63-bit seed from any integers (order matters); usable by torch generators and as an int64."""
    h = 0x243F6A8885A308D3
    for v in values:
        h = _splitmix64(h ^ (int(v) & MASK64))
    return h >> 1


def _splitmix64_np(x: np.ndarray) -> np.ndarray:
    z = x + np.uint64(_GOLDEN)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(_M1)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(_M2)
    return z ^ (z >> np.uint64(31))


def _as_uint64(seeds) -> np.ndarray:
    if isinstance(seeds, torch.Tensor):
        seeds = seeds.detach().cpu().numpy()
    return np.asarray(seeds, dtype=np.int64).astype(np.uint64).reshape(-1)


def uniforms(seeds, stream: int, count: int = 1) -> np.ndarray:
    """(B, count) float64 uniforms in [0, 1): the `count` first draws of `stream` for each seed."""
    s = _as_uint64(seeds)
    with np.errstate(over="ignore"):
        base = _splitmix64_np(s ^ _splitmix64_np(np.full_like(s, int(stream))))
        k = np.arange(count, dtype=np.uint64)
        z = _splitmix64_np(base[:, None] + k[None, :] * np.uint64(_GOLDEN))
    return (z >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def uniform(seed: int, stream: int) -> float:
    """One uniform in [0, 1) for one sample (the scalar form of `uniforms`)."""
    return float(uniforms([seed], stream)[0, 0])


def normals(seeds: Sequence[int] | torch.Tensor, stream: int, shape: Sequence[int], device: torch.device | str,
            dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """(B, *shape) standard normals, row i drawn on `device` by a generator seeded from seed i.

    One small kernel per sample; the rows do not depend on the batch they are drawn in."""
    seeds = seeds.tolist() if isinstance(seeds, torch.Tensor) else list(seeds)
    device = torch.device(device)
    out = torch.empty((len(seeds), *shape), device=device, dtype=torch.float32)
    gen = torch.Generator(device=device)
    for i, s in enumerate(seeds):
        gen.manual_seed(mix_seed(int(s), int(stream)))
        torch.randn(tuple(shape), generator=gen, device=device, out=out[i])
    return out.to(dtype)


def to_device(values: np.ndarray, device: torch.device | str, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(values)).to(device=device, dtype=dtype)


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and every CUDA device) with one value."""
    random.seed(seed)
    np.random.seed(seed % (1 << 32))
    torch.manual_seed(seed)


def rng_state() -> dict:
    """Every global RNG state, in a form torch.load(weights_only=True) reads back."""
    py_version, py_state, py_gauss = random.getstate()
    np_kind, np_keys, np_pos, np_has_gauss, np_gauss = np.random.get_state()
    state = {
        "python": [py_version, list(py_state), py_gauss],
        "numpy": [np_kind, torch.from_numpy(np_keys.astype(np.int64)), int(np_pos), int(np_has_gauss),
                  float(np_gauss)],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    version, py_state, gauss = state["python"]
    random.setstate((version, tuple(py_state), gauss))
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        cuda = state["cuda"]
        if len(cuda) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda)
