"""Hugging Face-named ViT pieces shared by the encoders and the pixel decoder, and the float32
resampling (`resize`) that reproduces torch's interpolate recipes through rae_spec's matrices."""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import nn

from rae_spec.resample import resize_matrices


def gelu(x: torch.Tensor, act: str) -> torch.Tensor:
    return F.gelu(x, approximate="tanh" if act == "gelu_tanh" else "none")


def attention(x: torch.Tensor, q: nn.Linear, k: nn.Linear, v: nn.Linear, num_heads: int) -> torch.Tensor:
    """Plain softmax(q k^T / sqrt(d)) v over (B, N, D) tokens, heads split on the channel axis."""
    B, N, D = x.shape

    def heads(t: torch.Tensor) -> torch.Tensor:
        return t.view(B, N, num_heads, D // num_heads).transpose(1, 2)

    out = F.scaled_dot_product_attention(heads(q(x)), heads(k(x)), heads(v(x)))
    return out.transpose(1, 2).reshape(B, N, D)


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

    def forward(self, x: torch.Tensor) -> torch.Tensor:
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
        self.layernorm_before = nn.LayerNorm(dim, eps=eps)
        self.layernorm_after = nn.LayerNorm(dim, eps=eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.layernorm_before(x))
        return x + self.output.dense(gelu(self.intermediate.dense(self.layernorm_after(x)), self.act))


@functools.lru_cache(maxsize=64)
def _matrices(kind: str, in_hw: tuple[int, int], out_hw: tuple[int, int]):
    wh, ww = resize_matrices(kind, in_hw, out_hw)
    return torch.from_numpy(wh), torch.from_numpy(ww)


def resize(x: torch.Tensor, out_hw: tuple[int, int], kind: str) -> torch.Tensor:
    """Resize (..., H, W) with torch's interpolate recipe `kind` (bicubic | bicubic_aa | bilinear),
    computed as W_h @ x @ W_w^T in float32. Identity when the size already matches."""
    in_hw = tuple(x.shape[-2:])
    if in_hw == tuple(out_hw):
        return x
    wh, ww = _matrices(kind, in_hw, tuple(out_hw))
    wh, ww = wh.to(x.device), ww.to(x.device)
    out = torch.matmul(torch.matmul(wh, x.float()), ww.T)
    return out.to(x.dtype)


def layer_norm(x: torch.Tensor, eps: float) -> torch.Tensor:
    """LayerNorm without affine parameters (RAE strips the encoders' final-norm affine)."""
    return F.layer_norm(x, x.shape[-1:], eps=eps)
