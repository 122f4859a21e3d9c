"""MAE ViT-B encoder (HF `ViTMAEForPreTraining.vit`, keys under `vit.`) without masking, as RAE's
MAEwNorm runs it: patch rows of the position table resampled with plain bicubic, CLS = cls_token +
pos[0] prepended, exact GELU, a final LayerNorm without affine, CLS dropped."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from rae_spec.configs import EncoderConfig

from ..vit import ViTMAELayer, layer_norm, resize


class _PatchEmbeddings(nn.Module):
    def __init__(self, dim: int, patch: int):
        super().__init__()
        self.projection = nn.Conv2d(3, dim, kernel_size=patch, stride=patch)


class MAEEmbeddings(nn.Module):
    def __init__(self, c: EncoderConfig):
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, c.hidden_size))
        self.position_embeddings = nn.Parameter(torch.zeros(1, c.grid_size**2 + 1, c.hidden_size), requires_grad=False)
        self.patch_embeddings = _PatchEmbeddings(c.hidden_size, c.patch_size)


class _Layers(nn.Module):
    def __init__(self, layers: list[nn.Module]):
        super().__init__()
        self.layer = nn.ModuleList(layers)


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

    def position_table(self, grid_hw: tuple[int, int]) -> torch.Tensor:
        """(1, 1 + h*w, D): the CLS row as stored, patch rows resampled (bicubic, no antialias)."""
        pos = self.vit.embeddings.position_embeddings
        g = self.config.grid_size
        grid = pos[:, 1:].reshape(1, g, g, -1).permute(0, 3, 1, 2)
        grid = resize(grid, grid_hw, "bicubic")
        return torch.cat([pos[:, :1], grid.permute(0, 2, 3, 1).flatten(1, 2)], dim=1)

    def embed(self, pixels: torch.Tensor) -> torch.Tensor:
        emb = self.vit.embeddings
        conv = emb.patch_embeddings.projection
        x = F.conv2d(pixels.to(conv.weight.dtype), conv.weight, conv.bias, stride=self.patch_size)
        gh, gw = x.shape[-2:]
        pos = self.position_table((gh, gw))
        x = x.flatten(2).transpose(1, 2) + pos[:, 1:]
        cls = (emb.cls_token + pos[:, :1]).expand(x.shape[0], -1, -1)
        return torch.cat([cls, x], dim=1)

    def hidden_states(self, pixels: torch.Tensor) -> torch.Tensor:
        x = self.embed(pixels)
        for layer in self.vit.encoder.layer:
            x = layer(x)
        return x

    def forward_all(self, pixels: torch.Tensor) -> torch.Tensor:
        return layer_norm(self.hidden_states(pixels), self.config.layer_norm_eps)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        """Normalized pixels -> patch tokens (CLS dropped)."""
        return self.forward_all(pixels)[:, 1:]
