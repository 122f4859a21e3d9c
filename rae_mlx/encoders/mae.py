"""MAE ViT-B encoder (HF `ViTMAEForPreTraining.vit`, keys under `vit.`) without masking, as RAE's
MAEwNorm runs it: patch rows of the position table resampled with plain bicubic, CLS = cls_token +
pos[0] prepended, exact GELU, a final LayerNorm without affine, CLS dropped. Pixels are NCHW."""

from __future__ import annotations

import mlx.core as mx
from mlx import nn

from rae_spec.configs import EncoderConfig

from ..layers import patch_tokens
from ..vit import ViTMAELayer, layer_norm, resize


class _PatchEmbeddings(nn.Module):
    def __init__(self, dim: int, patch: int):
        super().__init__()
        self.projection = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)


class MAEEmbeddings(nn.Module):
    def __init__(self, c: EncoderConfig):
        super().__init__()
        self.cls_token = mx.zeros((1, 1, c.hidden_size))
        self.position_embeddings = mx.zeros((1, c.grid_size**2 + 1, c.hidden_size))
        self.patch_embeddings = _PatchEmbeddings(c.hidden_size, c.patch_size)


class _Layers(nn.Module):
    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.layer = layers


class MAEViT(nn.Module):
    def __init__(self, c: EncoderConfig):
        super().__init__()
        self.embeddings = MAEEmbeddings(c)
        self.encoder = _Layers([ViTMAELayer(c.hidden_size, c.num_heads, c.intermediate_size, c.layer_norm_eps,
                                            c.hidden_act) for _ in range(c.num_layers)])


class MAEEncoder(nn.Module):
    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        self.patch_size = config.patch_size
        self.hidden_size = config.hidden_size
        self.vit = MAEViT(config)

    def position_table(self, grid_hw: tuple[int, int]) -> mx.array:
        """(1, 1 + h*w, D): the CLS row as stored, patch rows resampled (bicubic, no antialias)."""
        pos = self.vit.embeddings.position_embeddings
        g = self.config.grid_size
        grid = pos[:, 1:].reshape(1, g, g, -1).transpose(0, 3, 1, 2)
        grid = resize(grid, grid_hw, "bicubic")
        return mx.concatenate([pos[:, :1], grid.transpose(0, 2, 3, 1).reshape(1, -1, pos.shape[-1])], axis=1)

    def embed(self, pixels: mx.array) -> mx.array:
        emb = self.vit.embeddings
        conv = emb.patch_embeddings.projection
        B, _, H, W = pixels.shape
        x = patch_tokens(pixels.astype(conv.weight.dtype), conv.weight, conv.bias, self.patch_size)
        pos = self.position_table((H // self.patch_size, W // self.patch_size))
        x = x + pos[:, 1:]
        cls = mx.broadcast_to(emb.cls_token + pos[:, :1], (B, 1, x.shape[-1]))
        return mx.concatenate([cls, x], axis=1)

    def hidden_states(self, pixels: mx.array) -> mx.array:
        x = self.embed(pixels)
        for layer in self.vit.encoder.layer:
            x = layer(x)
        return x

    def forward_all(self, pixels: mx.array) -> mx.array:
        return layer_norm(self.hidden_states(pixels), self.config.layer_norm_eps)

    def __call__(self, pixels: mx.array) -> mx.array:
        """Normalized pixels -> patch tokens (CLS dropped)."""
        return self.forward_all(pixels)[:, 1:]
