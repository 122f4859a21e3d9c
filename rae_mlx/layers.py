"""Building blocks of the diffusion transformers (LightningDiT / DiT^DH) in MLX, named as in the official
checkpoints so their state dicts load with only the conv-kernel layout changed (OIHW -> OHWI).

Tokens are (B, N, D) as in torch; latents enter and leave the models as NCHW (B, C, H, W).
"""

from __future__ import annotations

import math

import mlx.core as mx
import mlx.nn as nn

from rae_spec.tables import rope_2d


def linear_dtype(layer: nn.Module) -> mx.Dtype:
    """The floating dtype a (possibly quantized) linear layer computes in."""
    return layer.scales.dtype if isinstance(layer, nn.QuantizedLinear) else layer.weight.dtype


class RMSNorm(nn.Module):
    """x * rsqrt(mean(x^2) + eps), statistics in float32, cast back before the weight multiply
    (the reference's order; mx.fast.rms_norm without a weight computes exactly the normalization)."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = mx.ones((dim,))

    def __call__(self, x: mx.array) -> mx.array:
        out = mx.fast.rms_norm(x.astype(mx.float32), None, self.eps)
        return out.astype(x.dtype) * self.weight


class LayerNorm(nn.LayerNorm):
    """nn.LayerNorm computed in float32 for half-precision inputs (as torch does; fp16-safe with eps 1e-12),
    then cast back."""

    def __call__(self, x: mx.array) -> mx.array:
        weight = self.weight if "weight" in self else None
        bias = self.bias if "bias" in self else None
        if x.dtype == mx.float32:
            return mx.fast.layer_norm(x, weight, bias, self.eps)
        f32 = [None if a is None else a.astype(mx.float32) for a in (weight, bias)]
        return mx.fast.layer_norm(x.astype(mx.float32), *f32, self.eps).astype(x.dtype)


def make_norm(dim: int, use_rmsnorm: bool) -> nn.Module:
    """RMSNorm, or LayerNorm without affine (eps 1e-6): the two block norms the reference offers."""
    return RMSNorm(dim) if use_rmsnorm else LayerNorm(dim, eps=1e-6, affine=False)


def rotate_pairs(x: mx.array) -> mx.array:
    """(x0, x1, x2, x3, ...) -> (-x1, x0, -x3, x2, ...): RoPE on interleaved pairs (EVA style)."""
    pairs = x.reshape(*x.shape[:-1], -1, 2)
    return mx.stack([-pairs[..., 1], pairs[..., 0]], axis=-1).reshape(x.shape)


class RoPE2D(nn.Module):
    """2-D rotary embedding over a square token grid. The tables are parameters here (MLX has no
    buffers) because the official checkpoints store them; they stay float32 in half-precision models."""

    def __init__(self, head_dim: int, grid_size: int):
        super().__init__()
        cos, sin = rope_2d(head_dim, grid_size)
        self.freqs_cos = mx.array(cos)
        self.freqs_sin = mx.array(sin)

    def __call__(self, x: mx.array) -> mx.array:  # x: (B, heads, N, head_dim)
        return x * self.freqs_cos + rotate_pairs(x) * self.freqs_sin


class Attention(nn.Module):
    """Multi-head self-attention with a fused qkv projection, optional per-head q/k norm and RoPE."""

    def __init__(self, dim: int, num_heads: int, qk_norm: bool = False, use_rmsnorm: bool = True):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.scale = self.head_dim**-0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        if qk_norm:
            # RMSNorm when the model uses RMSNorm, else an affine LayerNorm with torch's default eps.
            self.q_norm = RMSNorm(self.head_dim) if use_rmsnorm else LayerNorm(self.head_dim, eps=1e-5)
            self.k_norm = RMSNorm(self.head_dim) if use_rmsnorm else LayerNorm(self.head_dim, eps=1e-5)
        self.use_qk_norm = qk_norm
        self.proj = nn.Linear(dim, dim)

    def __call__(self, x: mx.array, rope: RoPE2D | None = None) -> mx.array:
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).transpose(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        if self.use_qk_norm:
            q, k = self.q_norm(q), self.k_norm(k)
        if rope is not None:
            q, k = rope(q), rope(k)
        out = mx.fast.scaled_dot_product_attention(q.astype(v.dtype), k.astype(v.dtype), v, scale=self.scale)
        return self.proj(out.transpose(0, 2, 1, 3).reshape(B, N, C))


class SwiGLU(nn.Module):
    """w3(SiLU(a) * b) with (a, b) the two halves of the fused w12 projection (a first)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.w12 = nn.Linear(dim, 2 * hidden)
        self.w3 = nn.Linear(hidden, dim)

    def __call__(self, x: mx.array) -> mx.array:
        a, b = mx.split(self.w12(x), 2, axis=-1)
        return self.w3(nn.silu(a) * b)


class Mlp(nn.Module):
    """timm's Mlp: fc1 -> GELU (tanh approximation in the DiTs) -> fc2."""

    def __init__(self, dim: int, hidden: int, approximate: str = "tanh"):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.approximate = approximate
        self.fc2 = nn.Linear(hidden, dim)

    def __call__(self, x: mx.array) -> mx.array:
        h = self.fc1(x)
        h = nn.gelu_approx(h) if self.approximate == "tanh" else nn.gelu(h)
        return self.fc2(h)


class TimestepEmbedder(nn.Module):
    """Gaussian Fourier features of the flow time t in [0, 1] (no x1000): [sin 2 pi t W | cos 2 pi t W]
    -> Linear -> SiLU -> Linear. W is random and fixed; it must come from the checkpoint. The phase is
    computed in float32 in any model dtype."""

    def __init__(self, hidden: int, num_freqs: int = 256):
        super().__init__()
        self.W = mx.random.normal((num_freqs,))
        self.mlp = [nn.Linear(2 * num_freqs, hidden), nn.SiLU(), nn.Linear(hidden, hidden)]

    def __call__(self, t: mx.array) -> mx.array:
        phase = t[:, None].astype(mx.float32) * self.W[None, :].astype(mx.float32) * 2 * math.pi
        h = mx.concatenate([mx.sin(phase), mx.cos(phase)], axis=-1).astype(linear_dtype(self.mlp[0]))
        for layer in self.mlp:
            h = layer(h)
        return h


class LabelEmbedder(nn.Module):
    """Class embedding table with an extra null row (id = num_classes) when label dropout is on."""

    def __init__(self, num_classes: int, hidden: int, dropout_prob: float):
        super().__init__()
        self.num_classes = num_classes
        self.dropout_prob = dropout_prob
        self.embedding_table = nn.Embedding(num_classes + int(dropout_prob > 0), hidden)

    def __call__(self, labels: mx.array, train: bool, force_drop_ids: mx.array | None = None) -> mx.array:
        if (train and self.dropout_prob > 0) or force_drop_ids is not None:
            if force_drop_ids is None:
                drop = mx.random.uniform(shape=labels.shape) < self.dropout_prob
            else:
                drop = force_drop_ids == 1
            labels = mx.where(drop, self.num_classes, labels)
        return self.embedding_table(labels)


def patch_tokens(x: mx.array, weight: mx.array, bias: mx.array | None, patch_size: int) -> mx.array:
    """A stride = kernel conv of NCHW input as one matmul: (B, C, H, W) -> (B, h*w, D) row-major tokens.
    `weight` is in MLX's conv layout (D, p, p, C), so patches are flattened (p, q, c) to match it."""
    B, C, H, W = x.shape
    p = patch_size
    D = weight.shape[0]
    if p == 1:
        tokens = x.reshape(B, C, H * W).transpose(0, 2, 1)
    else:
        h, w = H // p, W // p
        tokens = x.reshape(B, C, h, p, w, p).transpose(0, 2, 4, 3, 5, 1).reshape(B, h * w, p * p * C)
    out = tokens @ weight.reshape(D, -1).T
    return out if bias is None else out + bias


class PatchEmbed(nn.Module):
    """Non-overlapping p x p patches of a (B, C, H, W) latent -> (B, N, D) row-major tokens.
    `proj` is an nn.Conv2d for its parameters (OHWI layout); the forward is `patch_tokens`."""

    def __init__(self, in_channels: int, dim: int, patch_size: int):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_channels, dim, kernel_size=patch_size, stride=patch_size)

    def __call__(self, x: mx.array) -> mx.array:
        return patch_tokens(x.astype(self.proj.weight.dtype), self.proj.weight, self.proj.bias, self.patch_size)


def unpatchify(x: mx.array, channels: int, patch_size: int) -> mx.array:
    """(B, N, p*p*C) tokens laid out (p, q, c) -> (B, C, H, W)."""
    B, N, _ = x.shape
    h = math.isqrt(N)
    p = patch_size
    x = x.reshape(B, h, h, p, p, channels).transpose(0, 5, 1, 3, 2, 4)
    return x.reshape(B, channels, h * p, h * p)


def modulate(x: mx.array, shift: mx.array | None, scale: mx.array) -> mx.array:
    x = x * (1 + scale)
    return x if shift is None else x + shift


class DiTBlock(nn.Module):
    """adaLN transformer block: x += g1 * Attn(mod(norm1 x)); x += g2 * MLP(mod(norm2 x)).

    The condition c is (B, D) (one vector per sample) or (B, N, D) (per token, as in the DDT head).
    Modulation order: shift, scale, gate for attention then MLP; without shift: scale, gate, scale, gate.
    """

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, use_qknorm: bool, use_swiglu: bool,
                 use_rmsnorm: bool, wo_shift: bool):
        super().__init__()
        self.norm1 = make_norm(dim, use_rmsnorm)
        self.attn = Attention(dim, num_heads, qk_norm=use_qknorm, use_rmsnorm=use_rmsnorm)
        self.norm2 = make_norm(dim, use_rmsnorm)
        hidden = int(dim * mlp_ratio)
        self.mlp = SwiGLU(dim, int(2 / 3 * hidden)) if use_swiglu else Mlp(dim, hidden)
        self.wo_shift = wo_shift
        self.adaLN_modulation = [nn.SiLU(), nn.Linear(dim, (4 if wo_shift else 6) * dim)]

    def __call__(self, x: mx.array, c: mx.array, rope: RoPE2D | None = None) -> mx.array:
        if c.ndim < x.ndim:
            c = c[:, None]
        mods = self.adaLN_modulation[1](self.adaLN_modulation[0](c))
        if self.wo_shift:
            scale1, gate1, scale2, gate2 = mx.split(mods, 4, axis=-1)
            shift1 = shift2 = None
        else:
            shift1, scale1, gate1, shift2, scale2, gate2 = mx.split(mods, 6, axis=-1)
        x = x + gate1 * self.attn(modulate(self.norm1(x), shift1, scale1), rope)
        x = x + gate2 * self.mlp(modulate(self.norm2(x), shift2, scale2))
        return x


class FinalLayer(nn.Module):
    """norm -> modulate (shift, scale; no gate) -> linear to p*p*C."""

    def __init__(self, dim: int, out_dim: int, use_rmsnorm: bool):
        super().__init__()
        self.norm_final = make_norm(dim, use_rmsnorm)
        self.linear = nn.Linear(dim, out_dim)
        self.adaLN_modulation = [nn.SiLU(), nn.Linear(dim, 2 * dim)]

    def __call__(self, x: mx.array, c: mx.array) -> mx.array:
        if c.ndim < x.ndim:
            c = c[:, None]
        shift, scale = mx.split(self.adaLN_modulation[1](self.adaLN_modulation[0](c)), 2, axis=-1)
        return self.linear(modulate(self.norm_final(x), shift, scale))


def as_array(x, dtype=None) -> mx.array:
    """numpy / lists / mx arrays -> mx.array (NCHW stays NCHW)."""
    a = x if isinstance(x, mx.array) else mx.array(x)
    return a if dtype is None else a.astype(dtype)
