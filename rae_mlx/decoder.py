"""The RAE pixel decoder (`GeneralDecoder`): a ViT-MAE-style transformer from encoder tokens to pixel
patches. Key names match the released decoder `model.pt` files (no conv, so no layout change)."""

from __future__ import annotations

import math

import mlx.core as mx
from mlx import nn

from rae_spec.configs import DecoderConfig
from rae_spec.tables import sincos_2d

from .layers import LayerNorm, unpatchify
from .vit import ViTMAELayer, resize


class ViTDecoder(nn.Module):
    def __init__(self, config: DecoderConfig):
        super().__init__()
        self.config = c = config
        D = c.hidden_size
        self.decoder_pos_embed = mx.array(sincos_2d(D, c.grid_size, cls_token=True))[None]
        self.trainable_cls_token = mx.zeros((1, 1, D))
        self.decoder_embed = nn.Linear(c.latent_dim, D)
        self.decoder_layers = [ViTMAELayer(D, c.num_heads, c.intermediate_size, c.layer_norm_eps, c.hidden_act)
                               for _ in range(c.num_layers)]
        self.decoder_norm = LayerNorm(D, eps=c.layer_norm_eps)
        self.decoder_pred = nn.Linear(D, c.patch_size**2 * c.num_channels)

    @property
    def dtype(self) -> mx.Dtype:
        return self.decoder_pos_embed.dtype

    def embed_tokens(self, tokens: mx.array) -> mx.array:
        """decoder_embed, then (only if the token grid differs from the decoder's) a bilinear resize of
        the embedded grid, as the reference's interpolate_latent does."""
        x = self.decoder_embed(tokens.astype(self.dtype))
        B, N, D = x.shape
        if N != self.config.num_patches:
            g_in, g = math.isqrt(N), self.config.grid_size
            grid = x.reshape(B, g_in, g_in, D).transpose(0, 3, 1, 2)
            x = resize(grid, (g, g), "bilinear").transpose(0, 2, 3, 1).reshape(B, g * g, D)
        return x

    def __call__(self, tokens: mx.array) -> mx.array:
        """Tokens (B, N, latent_dim) -> per-patch pixels (B, N, p*p*3), laid out (p, q, channel)."""
        x = self.embed_tokens(tokens)
        cls = mx.broadcast_to(self.trainable_cls_token.astype(x.dtype), (x.shape[0], 1, x.shape[-1]))
        x = mx.concatenate([cls, x], axis=1) + self.decoder_pos_embed.astype(x.dtype)
        for layer in self.decoder_layers:
            x = layer(x)
        return self.decoder_pred(self.decoder_norm(x))[:, 1:]

    def unpatchify(self, logits: mx.array) -> mx.array:
        return unpatchify(logits, self.config.num_channels, self.config.patch_size)
