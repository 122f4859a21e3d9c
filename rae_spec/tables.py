"""Fixed tables the models build at construction time, computed once in numpy.

Released checkpoints store these tables (EMA-averaged, so they drift ~1e-4 from the analytic values),
and loading always takes the stored copy. These functions only initialize fresh models.
"""

from __future__ import annotations

import numpy as np


def sincos_1d(dim: int, pos: np.ndarray) -> np.ndarray:
    """[sin(pos w_k) | cos(pos w_k)], w_k = 10000^(-k / (dim/2)), in float64."""
    if dim % 2:
        raise ValueError("sin-cos embedding dim must be even")
    omega = np.arange(dim // 2, dtype=np.float64) / (dim / 2.0)
    omega = 1.0 / 10000**omega
    out = np.einsum("m,d->md", pos.reshape(-1).astype(np.float64), omega)
    return np.concatenate([np.sin(out), np.cos(out)], axis=1)


def sincos_2d(dim: int, grid_size: int, cls_token: bool = False) -> np.ndarray:
    """(N, dim) float32 table for a square grid, row-major tokens. The first half of the channels
    encodes the column index, the second half the row index (reference convention)."""
    coords = np.arange(grid_size, dtype=np.float32)
    col, row = np.meshgrid(coords, coords)  # col varies along each row
    emb = np.concatenate([sincos_1d(dim // 2, col), sincos_1d(dim // 2, row)], axis=1)
    if cls_token:
        emb = np.concatenate([np.zeros((1, dim)), emb], axis=0)
    return emb.astype(np.float32)


def rope_2d(head_dim: int, grid_size: int, theta: float = 10000.0) -> tuple[np.ndarray, np.ndarray]:
    """(cos, sin) tables of shape (grid_size^2, head_dim) for EVA-style 2-D RoPE.

    Per axis, dim = head_dim / 2 channels with frequencies theta^(-2k/dim), k < dim/2, each repeated
    twice (interleaved pairs). The first half of the head dim rotates with the row index, the second
    with the column index. float32 arithmetic as in the reference.
    """
    dim = head_dim // 2
    exps = np.arange(0, dim, 2, dtype=np.float32)[: dim // 2] / np.float32(dim)
    freqs = (np.float32(1.0) / np.power(np.float32(theta), exps)).astype(np.float32)
    g = np.float32(grid_size)
    pos = (np.arange(grid_size, dtype=np.float32) / g * g).astype(np.float32)  # as the reference computes it
    ang = np.repeat(np.outer(pos, freqs).astype(np.float32), 2, axis=-1)  # (g, dim)
    rows = np.broadcast_to(ang[:, None, :], (grid_size, grid_size, dim))
    cols = np.broadcast_to(ang[None, :, :], (grid_size, grid_size, dim))
    table = np.concatenate([rows, cols], axis=-1).reshape(grid_size * grid_size, head_dim)
    return np.cos(table).astype(np.float32), np.sin(table).astype(np.float32)
