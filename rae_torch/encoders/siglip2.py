"""SigLIP2 (fixed-resolution checkpoints load as HF `SiglipModel`): the vision tower under
`vision_model.`, learned position table resampled with plain bicubic, tanh GELU, a final LayerNorm
without affine, every token kept (no CLS)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from rae_spec.configs import EncoderConfig

from ..vit import attention, gelu, layer_norm, resize


class SigLIPEmbeddings(nn.Module):
    def __init__(self, c: EncoderConfig):
        super().__init__()
        self.patch_embedding = nn.Conv2d(3, c.hidden_size, kernel_size=c.patch_size, stride=c.patch_size)
        self.position_embedding = nn.Embedding(c.grid_size**2, c.hidden_size)


class SigLIPAttention(nn.Module):
    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        self.num_heads = num_heads
        self.k_proj = nn.Linear(dim, dim)
        self.v_proj = nn.Linear(dim, dim)
        self.q_proj = nn.Linear(dim, dim)
        self.out_proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out_proj(attention(x, self.q_proj, self.k_proj, self.v_proj, self.num_heads))


class SigLIPMlp(nn.Module):
    def __init__(self, dim: int, hidden: int, act: str):
        super().__init__()
        self.act = act
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(gelu(self.fc1(x), self.act))


class SigLIPLayer(nn.Module):
    def __init__(self, c: EncoderConfig):
        super().__init__()
        D = c.hidden_size
        self.layer_norm1 = nn.LayerNorm(D, eps=c.layer_norm_eps)
        self.self_attn = SigLIPAttention(D, c.num_heads)
        self.layer_norm2 = nn.LayerNorm(D, eps=c.layer_norm_eps)
        self.mlp = SigLIPMlp(D, c.intermediate_size, c.hidden_act)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class _Layers(nn.Module):
    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.layers = nn.ModuleList(layers)


class SigLIPVisionTower(nn.Module):
    def __init__(self, c: EncoderConfig):
        super().__init__()
        self.embeddings = SigLIPEmbeddings(c)
        self.encoder = _Layers([SigLIPLayer(c) for _ in range(c.num_layers)])


class SigLIP2Encoder(nn.Module):
    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        self.patch_size = config.patch_size
        self.hidden_size = config.hidden_size
        self.vision_model = SigLIPVisionTower(config)

    def position_table(self, grid_hw: tuple[int, int]) -> torch.Tensor:
        """(1, h*w, D): the learned table, bicubically resampled (no antialias) to the input grid."""
        table = self.vision_model.embeddings.position_embedding.weight
        g = math.isqrt(table.shape[0])
        grid = table.reshape(1, g, g, -1).permute(0, 3, 1, 2)
        grid = resize(grid, grid_hw, "bicubic")
        return grid.permute(0, 2, 3, 1).flatten(1, 2)

    def embed(self, pixels: torch.Tensor) -> torch.Tensor:
        conv = self.vision_model.embeddings.patch_embedding
        x = F.conv2d(pixels.to(conv.weight.dtype), conv.weight, conv.bias, stride=self.patch_size)
        gh, gw = x.shape[-2:]
        return x.flatten(2).transpose(1, 2) + self.position_table((gh, gw))

    def hidden_states(self, pixels: torch.Tensor) -> torch.Tensor:
        x = self.embed(pixels)
        for layer in self.vision_model.encoder.layers:
            x = layer(x)
        return x

    def forward_all(self, pixels: torch.Tensor) -> torch.Tensor:
        return layer_norm(self.hidden_states(pixels), self.config.layer_norm_eps)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Normalized pixels -> all patch tokens (SigLIP has no CLS)."""
        return self.forward_all(pixels)
