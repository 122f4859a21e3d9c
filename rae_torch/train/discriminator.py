"""The stage-1 discriminator (reference `src/disc/dinodisc.py`, recipe S_8): a frozen DINO ViT whose token
features feed five small trainable 1-D conv heads.

Backbone: DINO ViT-S/8 (timm / DINO key names, so `dino_vit_small_patch8_224.pth` loads), inputs in
[-1, 1] resized (bilinear) to 224 and ImageNet-normalized; taps after blocks 2, 5, 8, 11 plus the last
block's output put first (so the final block feeds two heads, as in the reference). No final norm.
Heads: SpecConv1d(k=1) -> BN-local -> LeakyReLU, a residual SpecConv1d(k=ks, circular) block, and
SpecConv1d(D -> 1); BN-local normalizes each sample over its tokens. Logits are concatenated.

The backbone is a separate module: it has no trainable weights, and the discriminator's state dict
(the heads) stays what the reference saves.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from rae_spec.configs import IMAGENET_MEAN, IMAGENET_STD

RECIPES = {
    "S_8": dict(embed_dim=384, depth=12, num_heads=6, patch_size=8),
    "S_16": dict(embed_dim=384, depth=12, num_heads=6, patch_size=16),
    "B_16": dict(embed_dim=768, depth=12, num_heads=12, patch_size=16),
}


class _Attention(nn.Module):
    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        B, N, C = x.shape
        q, k, v = self.qkv(x).view(B, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4).unbind(0)
        return self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, N, C))


class _Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x), approximate="tanh"))


class _Block(nn.Module):
    def __init__(self, dim: int, num_heads: int, eps: float):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = _Attention(dim, num_heads)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp = _Mlp(dim, 4 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class _PatchEmbed(nn.Module):
    def __init__(self, dim: int, patch: int):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)


class DinoBackbone(nn.Module):
    """Frozen DINO ViT: images in [-1, 1] -> [last block, block k for k in key_depths] feature maps
    (B, D, N) without the CLS token."""

    def __init__(self, embed_dim: int = 384, depth: int = 12, num_heads: int = 6, patch_size: int = 8,
                 input_size: int = 224, key_depths: tuple[int, ...] = (2, 5, 8, 11), norm_eps: float = 1e-6):
        super().__init__()
        if input_size % patch_size:
            raise ValueError(f"disc input size {input_size} must be a multiple of its patch size {patch_size}")
        self.input_size, self.patch_size = input_size, patch_size
        self.key_depths = tuple(d for d in key_depths if d < depth)
        grid = input_size // patch_size
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid + 1, embed_dim))
        self.patch_embed = _PatchEmbed(embed_dim, patch_size)
        self.blocks = nn.ModuleList(_Block(embed_dim, num_heads, norm_eps) for _ in range(depth))
        self.norm = nn.LayerNorm(embed_dim, eps=norm_eps)  # in the checkpoint, unused (as in the reference)
        mean, std = torch.tensor(IMAGENET_MEAN), torch.tensor(IMAGENET_STD)
        self.register_buffer("x_scale", (0.5 / std).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("x_shift", ((0.5 - mean) / std).view(1, 3, 1, 1), persistent=False)
        self.requires_grad_(False)
        self.eval()

    @property
    def num_maps(self) -> int:
        return len(self.key_depths) + 1

    def train(self, mode: bool = True) -> DinoBackbone:
        return super().train(False)

    def load_weights(self, state: dict[str, torch.Tensor]) -> DinoBackbone:
        """Strict load of a DINO / timm ViT state dict; zeroes the key third of each qkv bias (the
        reference does; a key bias cannot change the softmax)."""
        state = {k: v.clone() for k, v in state.items() if not k.startswith("head.")}
        for k, v in state.items():
            if k.endswith(".attn.qkv.bias"):
                c = v.numel() // 3
                v[c:2 * c] = 0
        self.load_state_dict(state, strict=True)
        return self

    def init_random(self, generator: torch.Generator | None = None) -> DinoBackbone:
        """Random weights (tests): small normal tokens and positions; Linear/Conv keep torch's init."""
        for p in (self.cls_token, self.pos_embed):
            p.data.normal_(0.0, 0.02, generator=generator)
        return self

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        if x.shape[-1] != self.input_size or x.shape[-2] != self.input_size:
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)
        x = x * self.x_scale + self.x_shift
        w = self.patch_embed.proj
        x = F.conv2d(x.to(w.weight.dtype), w.weight, w.bias, stride=self.patch_size).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1).to(x.dtype), x], dim=1) + self.pos_embed
        maps = []
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in self.key_depths:
                maps.append(x[:, 1:].transpose(1, 2))
        return [x[:, 1:].transpose(1, 2)] + maps


class BatchNormLocal(nn.Module):
    """Per-sample normalization over the token axis (virtual batch 1), per channel, in float32."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.float()
        mean = x.mean(dim=2, keepdim=True)
        var = x.var(dim=2, keepdim=True, unbiased=False)
        x = (x - mean) / torch.sqrt(var + self.eps)
        return x * self.weight[None, :, None] + self.bias[None, :, None]


class Residual(nn.Module):
    """(fn(x) + x) / sqrt(2)."""

    def __init__(self, fn: nn.Module):
        super().__init__()
        self.fn = fn

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.fn(x) + x) / math.sqrt(2)


def _conv(c_in: int, c_out: int, k: int, use_sn: bool) -> nn.Conv1d:
    conv = nn.Conv1d(c_in, c_out, kernel_size=k, padding=k // 2, padding_mode="circular" if k > 1 else "zeros")
    return spectral_norm(conv, n_power_iterations=1, dim=0, eps=1e-12) if use_sn else conv


def _block(c: int, k: int, norm_type: str, eps: float, use_sn: bool) -> nn.Sequential:
    norm = BatchNormLocal(c, eps) if norm_type == "bn" else nn.GroupNorm(32, c, eps=eps)
    return nn.Sequential(_conv(c, c, k, use_sn), norm, nn.LeakyReLU(0.2))


class DiscHeads(nn.Module):
    """One head per backbone feature map; logits (B, num_maps * N)."""

    def __init__(self, channels: int, num_maps: int, ks: int = 9, norm_type: str = "bn", norm_eps: float = 1e-6,
                 spectral: bool = True):
        super().__init__()
        self.heads = nn.ModuleList(
            nn.Sequential(_block(channels, 1, norm_type, norm_eps, spectral),
                          Residual(_block(channels, ks, norm_type, norm_eps, spectral)),
                          _conv(channels, 1, 1, spectral))
            for _ in range(num_maps)
        )

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        B = features[0].shape[0]
        return torch.cat([head(f).reshape(B, -1) for head, f in zip(self.heads, features, strict=True)], dim=1)


def build_discriminator(cfg) -> tuple[DinoBackbone, DiscHeads]:
    """(frozen backbone, trainable heads) from a DiscConfig; pretrained backbone unless random_init."""
    if cfg.recipe not in RECIPES:
        raise ValueError(f"unknown discriminator recipe {cfg.recipe!r}; one of {sorted(RECIPES)}")
    sizes = dict(RECIPES[cfg.recipe])
    for key in ("embed_dim", "depth", "num_heads", "patch_size"):
        if getattr(cfg, key) is not None:
            sizes[key] = getattr(cfg, key)
    backbone = DinoBackbone(**sizes, input_size=cfg.input_size, key_depths=tuple(cfg.key_depths),
                            norm_eps=cfg.norm_eps)
    if cfg.random_init:
        backbone.init_random()
    else:
        from .pretrained import dino_backbone_weights

        backbone.load_weights(dino_backbone_weights(cfg.backbone))
    heads = DiscHeads(sizes["embed_dim"], backbone.num_maps, cfg.ks, cfg.norm_type, cfg.norm_eps, cfg.spectral_norm)
    return backbone, heads
