"""The RAE pixel decoder (`GeneralDecoder`): a ViT-MAE-style transformer from encoder tokens to pixel
patches. Key names match the released decoder `model.pt` files."""

from __future__ import annotations

import math

import torch
from torch import nn

from rae_spec.configs import DecoderConfig
from rae_spec.tables import sincos_2d

from .layers import unpatchify
from .vit import ViTMAELayer, resize


class ViTDecoder(nn.Module):
    def __init__(self, config: DecoderConfig):
        super().__init__()
        self.config = c = config
        D = c.hidden_size
        self.decoder_pos_embed = nn.Parameter(torch.from_numpy(sincos_2d(D, c.grid_size, cls_token=True))[None],
                                              requires_grad=False)
        self.trainable_cls_token = nn.Parameter(torch.zeros(1, 1, D))
        self.decoder_embed = nn.Linear(c.latent_dim, D)
        self.decoder_layers = nn.ModuleList(
            ViTMAELayer(D, c.num_heads, c.intermediate_size, c.layer_norm_eps, c.hidden_act)
            for _ in range(c.num_layers)
        )
        self.decoder_norm = nn.LayerNorm(D, eps=c.layer_norm_eps)
        self.decoder_pred = nn.Linear(D, c.patch_size**2 * c.num_channels)

    def embed_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        """decoder_embed, then (only if the token grid differs from the decoder's) a bilinear resize of
        the embedded grid, as the reference's interpolate_latent does."""
        x = self.decoder_embed(tokens.to(self.decoder_embed.weight.dtype))
        B, N, D = x.shape
        if N != self.config.num_patches:
            g_in, g = math.isqrt(N), self.config.grid_size
            grid = x.reshape(B, g_in, g_in, D).permute(0, 3, 1, 2)
            x = resize(grid, (g, g), "bilinear").permute(0, 2, 3, 1).reshape(B, g * g, D)
        return x

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        """Tokens (B, N, latent_dim) -> per-patch pixels (B, N, p*p*3), laid out (p, q, channel)."""
        x = self.embed_tokens(tokens)
        cls = self.trainable_cls_token.expand(x.shape[0], -1, -1).to(x.dtype)
        x = torch.cat([cls, x], dim=1) + self.decoder_pos_embed.to(x.dtype)
        for layer in self.decoder_layers:
            x = layer(x)
        return self.decoder_pred(self.decoder_norm(x))[:, 1:]

    def unpatchify(self, logits: torch.Tensor) -> torch.Tensor:
        return unpatchify(logits, self.config.num_channels, self.config.patch_size)
