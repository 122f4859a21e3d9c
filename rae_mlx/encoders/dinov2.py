"""DINOv2 with registers (HF `Dinov2WithRegistersModel` key names), used the way RAE uses it: the
position table resampled with antialiased bicubic, registers inserted after the position embedding,
a final LayerNorm without affine, and CLS + registers dropped. Pixels are NCHW (B, 3, H, W)."""

from __future__ import annotations

import mlx.core as mx
from mlx import nn

from rae_spec.configs import EncoderConfig

from ..layers import LayerNorm, patch_tokens
from ..vit import ViTAttention, gelu, layer_norm, resize


class _PatchEmbeddings(nn.Module):
    def __init__(self, dim: int, patch: int):
        super().__init__()
        self.projection = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)


class DINOv2Embeddings(nn.Module):
    def __init__(self, c: EncoderConfig):
        super().__init__()
        D = c.hidden_size
        self.cls_token = mx.zeros((1, 1, D))
        self.register_tokens = mx.zeros((1, c.num_register_tokens, D))
        self.position_embeddings = mx.zeros((1, c.grid_size**2 + 1, D))
        self.patch_embeddings = _PatchEmbeddings(D, c.patch_size)


class _LayerScale(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.lambda1 = mx.ones((dim,))


class _Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)


class DINOv2Layer(nn.Module):
    def __init__(self, c: EncoderConfig):
        super().__init__()
        D = c.hidden_size
        self.act = c.hidden_act
        self.norm1 = LayerNorm(D, eps=c.layer_norm_eps)
        self.attention = ViTAttention(D, c.num_heads, c.qkv_bias)
        self.layer_scale1 = _LayerScale(D)
        self.norm2 = LayerNorm(D, eps=c.layer_norm_eps)
        self.mlp = _Mlp(D, c.intermediate_size)
        self.layer_scale2 = _LayerScale(D)

    def __call__(self, x: mx.array) -> mx.array:
        x = x + self.layer_scale1.lambda1 * self.attention(self.norm1(x))
        h = self.mlp.fc2(gelu(self.mlp.fc1(self.norm2(x)), self.act))
        return x + self.layer_scale2.lambda1 * h


class _Layers(nn.Module):
    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.layer = layers


class DINOv2Encoder(nn.Module):
    def __init__(self, config: EncoderConfig):
        super().__init__()
        self.config = config
        self.patch_size = config.patch_size
        self.hidden_size = config.hidden_size
        self.embeddings = DINOv2Embeddings(config)
        self.encoder = _Layers([DINOv2Layer(config) for _ in range(config.num_layers)])

    def position_table(self, grid_hw: tuple[int, int]) -> mx.array:
        """(1, 1 + h*w, D): the CLS row, then the patch table resampled to the input grid
        (bicubic, antialias=True, explicit size, float32)."""
        pos = self.embeddings.position_embeddings
        g = self.config.grid_size
        grid = pos[:, 1:].reshape(1, g, g, -1).transpose(0, 3, 1, 2).astype(mx.float32)
        grid = resize(grid, grid_hw, "bicubic_aa").astype(pos.dtype)
        return mx.concatenate([pos[:, :1], grid.transpose(0, 2, 3, 1).reshape(1, -1, pos.shape[-1])], axis=1)

    def embed(self, pixels: mx.array) -> mx.array:
        """Input of the first block: [CLS, registers, patches]; registers carry no position."""
        emb = self.embeddings
        conv = emb.patch_embeddings.projection
        B, _, H, W = pixels.shape
        x = patch_tokens(pixels.astype(conv.weight.dtype), conv.weight, conv.bias, self.patch_size)
        gh, gw = H // self.patch_size, W // self.patch_size
        cls = mx.broadcast_to(emb.cls_token, (B, 1, x.shape[-1]))
        x = mx.concatenate([cls, x], axis=1) + self.position_table((gh, gw))
        regs = mx.broadcast_to(emb.register_tokens, (B, *emb.register_tokens.shape[1:]))
        return mx.concatenate([x[:, :1], regs, x[:, 1:]], axis=1)

    def hidden_states(self, pixels: mx.array) -> mx.array:
        """Output of the last block, before the final norm."""
        x = self.embed(pixels)
        for layer in self.encoder.layer:
            x = layer(x)
        return x

    def forward_all(self, pixels: mx.array) -> mx.array:
        """Every output token (CLS, registers, patches) after the affine-free final LayerNorm."""
        return layer_norm(self.hidden_states(pixels), self.config.layer_norm_eps)

    def __call__(self, pixels: mx.array) -> mx.array:
        """Normalized pixels (B, 3, H, W) -> patch tokens (B, N, D)."""
        return self.forward_all(pixels)[:, self.config.num_leading_tokens:]
