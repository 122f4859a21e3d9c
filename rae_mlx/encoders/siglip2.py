"""SigLIP2 (fixed-resolution checkpoints load as HF `SiglipModel`): the vision tower under
`vision_model.`, learned position table resampled with plain bicubic, tanh GELU, a final LayerNorm
without affine, every token kept (no CLS). Pixels are NCHW."""

from __future__ import annotations

import math

import mlx.core as mx
from mlx import nn

from rae_spec.configs import EncoderConfig

from ..layers import LayerNorm, patch_tokens
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

    def __call__(self, x: mx.array) -> mx.array:
        return self.out_proj(attention(x, self.q_proj, self.k_proj, self.v_proj, self.num_heads))


class SigLIPMlp(nn.Module):
    def __init__(self, dim: int, hidden: int, act: str):
        super().__init__()
        self.act = act
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def __call__(self, x: mx.array) -> mx.array:
        return self.fc2(gelu(self.fc1(x), self.act))


class SigLIPLayer(nn.Module):
    def __init__(self, c: EncoderConfig):
        super().__init__()
        D = c.hidden_size
        self.layer_norm1 = LayerNorm(D, eps=c.layer_norm_eps)
        self.self_attn = SigLIPAttention(D, c.num_heads)
        self.layer_norm2 = LayerNorm(D, eps=c.layer_norm_eps)
        self.mlp = SigLIPMlp(D, c.intermediate_size, c.hidden_act)

    def __call__(self, x: mx.array) -> mx.array:
        x = x + self.self_attn(self.layer_norm1(x))
        return x + self.mlp(self.layer_norm2(x))


class _Layers(nn.Module):
    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.layers = layers


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

    def position_table(self, grid_hw: tuple[int, int]) -> mx.array:
        """(1, h*w, D): the learned table, bicubically resampled (no antialias) to the input grid."""
        table = self.vision_model.embeddings.position_embedding.weight
        g = math.isqrt(table.shape[0])
        grid = table.reshape(1, g, g, -1).transpose(0, 3, 1, 2)
        grid = resize(grid, grid_hw, "bicubic")
        return grid.transpose(0, 2, 3, 1).reshape(1, -1, table.shape[-1])

    def embed(self, pixels: mx.array) -> mx.array:
        conv = self.vision_model.embeddings.patch_embedding
        _, _, H, W = pixels.shape
        x = patch_tokens(pixels.astype(conv.weight.dtype), conv.weight, conv.bias, self.patch_size)
        return x + self.position_table((H // self.patch_size, W // self.patch_size))

    def hidden_states(self, pixels: mx.array) -> mx.array:
        x = self.embed(pixels)
        for layer in self.vision_model.encoder.layers:
            x = layer(x)
        return x

    def forward_all(self, pixels: mx.array) -> mx.array:
        return layer_norm(self.hidden_states(pixels), self.config.layer_norm_eps)

    def __call__(self, pixels: mx.array) -> mx.array:
        """Normalized pixels -> all patch tokens (SigLIP has no CLS)."""
        return self.forward_all(pixels)
