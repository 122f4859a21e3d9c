"""Hugging Face-named ViT pieces shared by the encoders and the pixel decoder, and the float32
resampling (`resize`) that reproduces torch's interpolate recipes through rae_spec's matrices."""

from __future__ import annotations

import functools

import mlx.core as mx
import mlx.nn as nn

from rae_spec.resample import resize_matrices

from .layers import LayerNorm


def gelu(x: mx.array, act: str) -> mx.array:
    return nn.gelu_approx(x) if act == "gelu_tanh" else nn.gelu(x)


def attention(x: mx.array, q: nn.Module, k: nn.Module, v: nn.Module, num_heads: int) -> mx.array:
    """Plain softmax(q k^T / sqrt(d)) v over (B, N, D) tokens, heads split on the channel axis."""
    B, N, D = x.shape
    d = D // num_heads

    def heads(t: mx.array) -> mx.array:
        return t.reshape(B, N, num_heads, d).transpose(0, 2, 1, 3)

    out = mx.fast.scaled_dot_product_attention(heads(q(x)), heads(k(x)), heads(v(x)), scale=d**-0.5)
    return out.transpose(0, 2, 1, 3).reshape(B, N, D)


class _Attention(nn.Module):
    def __init__(self, dim: int, bias: bool):
        super().__init__()
        self.query = nn.Linear(dim, dim, bias=bias)
        self.key = nn.Linear(dim, dim, bias=bias)
        self.value = nn.Linear(dim, dim, bias=bias)


class _Dense(nn.Module):
    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.dense = nn.Linear(n_in, n_out)


class ViTAttention(nn.Module):
    """HF `ViTAttention` layout: attention.{query,key,value} + output.dense."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True):
        super().__init__()
        self.num_heads = num_heads
        self.attention = _Attention(dim, qkv_bias)
        self.output = _Dense(dim, dim)

    def __call__(self, x: mx.array) -> mx.array:
        a = self.attention
        return self.output.dense(attention(x, a.query, a.key, a.value, self.num_heads))


class ViTMAELayer(nn.Module):
    """Pre-norm block of HF ViT / ViT-MAE (the MAE encoder and the RAE pixel decoder)."""

    def __init__(self, dim: int, num_heads: int, mlp_dim: int, eps: float, act: str = "gelu"):
        super().__init__()
        self.act = act
        self.attention = ViTAttention(dim, num_heads)
        self.intermediate = _Dense(dim, mlp_dim)
        self.output = _Dense(mlp_dim, dim)
        self.layernorm_before = LayerNorm(dim, eps=eps)
        self.layernorm_after = LayerNorm(dim, eps=eps)

    def __call__(self, x: mx.array) -> mx.array:
        x = x + self.attention(self.layernorm_before(x))
        return x + self.output.dense(gelu(self.intermediate.dense(self.layernorm_after(x)), self.act))


@functools.lru_cache(maxsize=64)
def _matrices(kind: str, in_hw: tuple[int, int], out_hw: tuple[int, int]) -> tuple[mx.array, mx.array]:
    wh, ww = resize_matrices(kind, in_hw, out_hw)
    return mx.array(wh), mx.array(ww.T.copy())


def resize(x: mx.array, out_hw: tuple[int, int], kind: str) -> mx.array:
    """Resize (..., H, W) with torch's interpolate recipe `kind` (bicubic | bicubic_aa | bilinear),
    computed as W_h @ x @ W_w^T in float32. Identity when the size already matches."""
    in_hw = tuple(x.shape[-2:])
    if in_hw == tuple(out_hw):
        return x
    wh, wwt = _matrices(kind, in_hw, tuple(out_hw))
    out = (wh @ x.astype(mx.float32)) @ wwt
    return out.astype(x.dtype)


def layer_norm(x: mx.array, eps: float) -> mx.array:
    """LayerNorm without affine parameters (RAE strips the encoders' final-norm affine), in float32."""
    return mx.fast.layer_norm(x.astype(mx.float32), None, None, eps).astype(x.dtype)
