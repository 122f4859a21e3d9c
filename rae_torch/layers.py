"""Building blocks of the diffusion transformers (LightningDiT / DiT^DH), named as in the official
checkpoints so their state dicts load unchanged."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from rae_spec.tables import rope_2d


class RMSNorm(nn.Module):
    """x * rsqrt(mean(x^2) + eps), statistics in float32, cast back before the weight multiply."""

    def __init__(self, dim: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xf = x.float()
        out = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + self.eps)
        return out.type_as(x) * self.weight


def make_norm(dim: int, use_rmsnorm: bool) -> nn.Module:
    """RMSNorm, or LayerNorm without affine (eps 1e-6): the two block norms the reference offers."""
    return RMSNorm(dim) if use_rmsnorm else nn.LayerNorm(dim, elementwise_affine=False, eps=1e-6)


def rotate_pairs(x: torch.Tensor) -> torch.Tensor:
    """(x0, x1, x2, x3, ...) -> (-x1, x0, -x3, x2, ...): RoPE on interleaved pairs (EVA style)."""
    x = x.unflatten(-1, (-1, 2))
    x1, x2 = x.unbind(-1)
    return torch.stack((-x2, x1), dim=-1).flatten(-2)


class RoPE2D(nn.Module):
    """2-D rotary embedding over a square token grid. The tables are persistent buffers because the
    official checkpoints store them (and strict loading expects them)."""

    def __init__(self, head_dim: int, grid_size: int):
        super().__init__()
        cos, sin = rope_2d(head_dim, grid_size)
        self.register_buffer("freqs_cos", torch.from_numpy(cos))
        self.register_buffer("freqs_sin", torch.from_numpy(sin))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (B, heads, N, head_dim)
        return x * self.freqs_cos + rotate_pairs(x) * self.freqs_sin


class Attention(nn.Module):
    """Multi-head self-attention with a fused qkv projection, optional per-head q/k norm and RoPE."""

    def __init__(self, dim: int, num_heads: int, qk_norm: bool = False, use_rmsnorm: bool = True):
        super().__init__()
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=True)
        if qk_norm:
            # RMSNorm when the model uses RMSNorm, else an affine LayerNorm with torch's default eps.
            norm = (lambda: RMSNorm(self.head_dim)) if use_rmsnorm else (lambda: nn.LayerNorm(self.head_dim))
            self.q_norm, self.k_norm = norm(), norm()
        else:
            self.q_norm, self.k_norm = nn.Identity(), nn.Identity()
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, rope: RoPE2D | None = None) -> torch.Tensor:
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        q, k = self.q_norm(q), self.k_norm(k)
        if rope is not None:
            q, k = rope(q), rope(k)
        x = F.scaled_dot_product_attention(q.to(v.dtype), k.to(v.dtype), v)
        return self.proj(x.transpose(1, 2).reshape(B, N, C))


class SwiGLU(nn.Module):
    """w3(SiLU(a) * b) with (a, b) the two halves of the fused w12 projection (a first)."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.w12 = nn.Linear(dim, 2 * hidden)
        self.w3 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.w12(x).chunk(2, dim=-1)
        return self.w3(F.silu(a) * b)


class Mlp(nn.Module):
    """timm's Mlp: fc1 -> GELU (tanh approximation in the DiTs) -> fc2."""

    def __init__(self, dim: int, hidden: int, approximate: str = "tanh"):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU(approximate=approximate)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class TimestepEmbedder(nn.Module):
    """Gaussian Fourier features of the flow time t in [0, 1] (no x1000): [sin 2 pi t W | cos 2 pi t W]
    -> Linear -> SiLU -> Linear. W is random and fixed; it must come from the checkpoint."""

    def __init__(self, hidden: int, num_freqs: int = 256):
        super().__init__()
        self.W = nn.Parameter(torch.randn(num_freqs), requires_grad=False)
        self.mlp = nn.Sequential(nn.Linear(2 * num_freqs, hidden), nn.SiLU(), nn.Linear(hidden, hidden))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        phase = t[:, None].float() * self.W[None, :] * 2 * math.pi
        emb = torch.cat([torch.sin(phase), torch.cos(phase)], dim=-1)
        return self.mlp(emb.to(self.mlp[0].weight.dtype))


class LabelEmbedder(nn.Module):
    """Class embedding table with an extra null row (id = num_classes) when label dropout is on."""

    def __init__(self, num_classes: int, hidden: int, dropout_prob: float):
        super().__init__()
        self.num_classes = num_classes
        self.dropout_prob = dropout_prob
        self.embedding_table = nn.Embedding(num_classes + int(dropout_prob > 0), hidden)

    def forward(self, labels: torch.Tensor, train: bool, force_drop_ids: torch.Tensor | None = None) -> torch.Tensor:
        if (train and self.dropout_prob > 0) or force_drop_ids is not None:
            if force_drop_ids is None:
                drop = torch.rand(labels.shape[0], device=labels.device) < self.dropout_prob
            else:
                drop = force_drop_ids == 1
            labels = torch.where(drop, torch.full_like(labels, self.num_classes), labels)
        return self.embedding_table(labels)


class PatchEmbed(nn.Module):
    """Non-overlapping p x p patches of a (B, C, H, W) latent -> (B, N, D) row-major tokens."""

    def __init__(self, in_channels: int, dim: int, patch_size: int):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_channels, dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.patch_size == 1:  # a per-token linear map; cheaper than a 1x1 conv
            tokens = x.flatten(2).transpose(1, 2)
            return F.linear(tokens, self.proj.weight.flatten(1), self.proj.bias)
        return self.proj(x).flatten(2).transpose(1, 2)


def unpatchify(x: torch.Tensor, channels: int, patch_size: int) -> torch.Tensor:
    """(B, N, p*p*C) tokens laid out (p, q, c) -> (B, C, H, W)."""
    B, N, _ = x.shape
    h = math.isqrt(N)
    x = x.reshape(B, h, h, patch_size, patch_size, channels)
    return torch.einsum("nhwpqc->nchpwq", x).reshape(B, channels, h * patch_size, h * patch_size)


def modulate(x: torch.Tensor, shift: torch.Tensor | None, scale: torch.Tensor) -> torch.Tensor:
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
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, (4 if wo_shift else 6) * dim))

    def forward(self, x: torch.Tensor, c: torch.Tensor, rope: RoPE2D | None = None) -> torch.Tensor:
        if c.dim() < x.dim():
            c = c.unsqueeze(1)
        mods = self.adaLN_modulation(c)
        if self.wo_shift:
            scale1, gate1, scale2, gate2 = mods.chunk(4, dim=-1)
            shift1 = shift2 = None
        else:
            shift1, scale1, gate1, shift2, scale2, gate2 = mods.chunk(6, dim=-1)
        x = x + gate1 * self.attn(modulate(self.norm1(x), shift1, scale1), rope)
        x = x + gate2 * self.mlp(modulate(self.norm2(x), shift2, scale2))
        return x


class FinalLayer(nn.Module):
    """norm -> modulate (shift, scale; no gate) -> linear to p*p*C."""

    def __init__(self, dim: int, out_dim: int, use_rmsnorm: bool):
        super().__init__()
        self.norm_final = make_norm(dim, use_rmsnorm)
        self.linear = nn.Linear(dim, out_dim)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(dim, 2 * dim))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        if c.dim() < x.dim():
            c = c.unsqueeze(1)
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=-1)
        return self.linear(modulate(self.norm_final(x), shift, scale))

