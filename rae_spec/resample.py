"""Resampling matrices that reproduce PyTorch's `F.interpolate` in float32, in numpy.

Every resize RAE does is separable: out = W_h @ X @ W_w^T, so a backend only needs these matrices and a
matmul. Computing the source coordinates and weights in float32, exactly as PyTorch's CPU kernels do,
is what makes the results agree to ~1e-6 (in float64 the image resize would differ by ~3e-5).

- `bicubic_matrix`: mode='bicubic', align_corners=False, antialias=False (Keys cubic, A = -0.75,
  taps clamped at the borders). Used for the 256 -> 224 image resize and the SigLIP / MAE position
  tables.
- `bicubic_aa_matrix`: antialias=True (Keys cubic, A = -0.5, support widened by the downscale factor,
  rows renormalized). Used for the DINOv2 position table (37 x 37 -> 16 x 16).
- `bilinear_matrix`: mode='bilinear', align_corners=False. Used when the decoder meets a token grid
  of another size.
- `tf1_bilinear_taps`: TensorFlow 1's ResizeBilinear (the FID Inception graph's resize to 299), as
  gather indices and lerps rather than a matrix, to round as TensorFlow does.
"""

from __future__ import annotations

import numpy as np

f32 = np.float32


def _scale(in_size: int, out_size: int) -> np.float32:
    return f32(in_size) / f32(out_size)


def _source_coords(in_size: int, out_size: int) -> np.ndarray:
    """scale * (i + 0.5) - 0.5 with one float32 rounding: torch's compiled kernels fuse the
    multiply-add (FMA), and two roundings would move coordinates by up to an ulp (~8e-6 at 80)."""
    dst = np.arange(out_size, dtype=np.float64)
    return (np.float64(_scale(in_size, out_size)) * (dst + 0.5) - 0.5).astype(f32)


def _cubic_weights(t: np.ndarray, a: float) -> np.ndarray:
    """Keys cubic weights for taps at offsets -1, 0, 1, 2 given fractional position t (float32)."""
    a = f32(a)
    one = f32(1.0)

    def conv1(x):  # |x| <= 1
        return ((a + f32(2)) * x - (a + f32(3))) * x * x + one

    def conv2(x):  # 1 < |x| < 2
        return ((a * x - f32(5) * a) * x + f32(8) * a) * x - f32(4) * a

    return np.stack([conv2(t + one), conv1(t), conv1(one - t), conv2((one - t) + one)], axis=-1).astype(f32)


def bicubic_matrix(in_size: int, out_size: int, a: float = -0.75) -> np.ndarray:
    """(out, in) float32 matrix of torch's bicubic interpolation without antialiasing."""
    src = _source_coords(in_size, out_size)
    idx = np.floor(src).astype(np.int64)
    t = (src - idx.astype(f32)).astype(f32)
    w = _cubic_weights(t, a)
    mat = np.zeros((out_size, in_size), dtype=f32)
    for k in range(4):
        cols = np.clip(idx - 1 + k, 0, in_size - 1)
        np.add.at(mat, (np.arange(out_size), cols), w[:, k])
    return mat


def _aa_cubic(x: np.ndarray) -> np.ndarray:
    a = f32(-0.5)
    x = np.abs(x).astype(f32)
    inner = ((a + f32(2)) * x - (a + f32(3))) * x * x + f32(1)
    outer = (((x - f32(5)) * x + f32(8)) * x - f32(4)) * a
    return np.where(x < 1, inner, np.where(x < 2, outer, f32(0))).astype(f32)


def bicubic_aa_matrix(in_size: int, out_size: int) -> np.ndarray:
    """(out, in) float32 matrix of torch's bicubic interpolation with antialias=True."""
    scale = _scale(in_size, out_size)
    support = f32(2.0) * scale if scale >= 1.0 else f32(2.0)
    invscale = f32(1.0) / scale if scale >= 1.0 else f32(1.0)
    mat = np.zeros((out_size, in_size), dtype=f32)
    for i in range(out_size):
        center = scale * (f32(i) + f32(0.5))
        xmin = max(int(center - support + f32(0.5)), 0)
        xmax = min(int(center + support + f32(0.5)), in_size)
        j = np.arange(xmin, xmax)
        w = _aa_cubic((j.astype(f32) - center + f32(0.5)) * invscale)
        total = w.sum(dtype=f32)
        if total != 0:
            w = (w / total).astype(f32)
        mat[i, xmin:xmax] = w
    return mat


def bilinear_matrix(in_size: int, out_size: int) -> np.ndarray:
    """(out, in) float32 matrix of torch's bilinear interpolation, align_corners=False."""
    src = np.maximum(_source_coords(in_size, out_size), f32(0))
    i0 = np.floor(src).astype(np.int64)
    i0 = np.minimum(i0, in_size - 1)
    i1 = np.where(i0 < in_size - 1, i0 + 1, i0)
    l1 = (src - i0.astype(f32)).astype(f32)
    l0 = (f32(1) - l1).astype(f32)
    mat = np.zeros((out_size, in_size), dtype=f32)
    np.add.at(mat, (np.arange(out_size), i0), l0)
    np.add.at(mat, (np.arange(out_size), i1), l1)
    return mat


def resize_matrices(kind: str, in_hw: tuple[int, int], out_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """(W_h, W_w) for `kind` in {'bicubic', 'bicubic_aa', 'bilinear'}: out = W_h @ X @ W_w^T."""
    fn = {"bicubic": bicubic_matrix, "bicubic_aa": bicubic_aa_matrix, "bilinear": bilinear_matrix}[kind]
    return fn(in_hw[0], out_hw[0]), fn(in_hw[1], out_hw[1])


def resize_grid_np(table: np.ndarray, out_hw: tuple[int, int], kind: str) -> np.ndarray:
    """Resize a (..., H, W) float array with the given rule (numpy reference implementation)."""
    wh, ww = resize_matrices(kind, table.shape[-2:], out_hw)
    return np.matmul(np.matmul(wh, table.astype(f32)), ww.T).astype(f32)


def tf1_bilinear_taps(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(lower, upper, lerp) of TensorFlow 1's ResizeBilinear (align_corners=False, no half-pixel centres),
    the resize inside the FID Inception graph: source = i * (in / out) in float32, lower = floor, upper =
    min(lower + 1, in - 1), lerp = source - lower. A backend then computes, as TensorFlow does,
    top = a + (b - a) * lerp_x per row and top + (bottom - top) * lerp_y (not a matmul: that rounds differently).
    """
    scale = f32(in_size) / f32(out_size)
    src = (np.arange(out_size, dtype=f32) * scale).astype(f32)
    lower = np.floor(src).astype(np.int64)
    upper = np.minimum(lower + 1, in_size - 1)
    return lower, upper, (src - lower.astype(f32)).astype(f32)
