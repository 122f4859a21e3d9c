"""The frozen halves of the RAE as training needs them: images -> latents (encoder + normalization)
and latents -> images (decoder), built from rae_torch's own pieces, so training encodes and decodes
exactly as sampling does. Unlike `rae_torch.RAE` these hold only the half a stage uses (stage 2 never
builds the 400M-parameter decoder it does not train)."""

from __future__ import annotations

import torch
from torch import nn

from rae_spec.configs import EncoderConfig

from ..rae import decode_latents, normalize, pixels, preprocess, tokens_to_latent


class LatentEncoder(nn.Module):
    """images in [0, 1] -> latents (B, C, g, g): resize + normalize pixels, frozen encoder, reshape,
    then (z - mean) / sqrt(var + eps) when statistics are set."""

    def __init__(self, encoder: nn.Module, config: EncoderConfig, input_size: int,
                 mean: torch.Tensor | None = None, var: torch.Tensor | None = None, eps: float = 1e-5):
        super().__init__()
        self.encoder = encoder.eval().requires_grad_(False)
        self.config = config
        self.input_size = input_size
        self.eps = eps
        self.register_buffer("latent_mean", None if mean is None else mean.float(), persistent=False)
        self.register_buffer("latent_var", None if var is None else var.float(), persistent=False)

    def train(self, mode: bool = True) -> LatentEncoder:
        return super().train(False)  # frozen: always the inference path

    @property
    def grid(self) -> int:
        return self.input_size // self.config.patch_size

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        return (self.config.hidden_size, self.grid, self.grid)

    def tokens(self, images: torch.Tensor) -> torch.Tensor:
        """(B, N, C) encoder tokens, before any noise or normalization."""
        c = self.config
        return self.encoder(preprocess(images, self.input_size, c.image_mean, c.image_std))

    @torch.no_grad()
    def raw(self, images: torch.Tensor) -> torch.Tensor:
        """Un-normalized latents (what stats and the latent cache store), float32."""
        return tokens_to_latent(self.tokens(images)).float()

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        return normalize(z, self.latent_mean, self.latent_var, self.eps)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.normalize(self.raw(images))


class LatentDecoder(nn.Module):
    """latents (B, C, g, g) -> images (B, 3, S, S): rae_torch.rae.decode_latents around a decoder that
    training may wrap (DDP / FSDP). Not clamped."""

    def __init__(self, decoder: nn.Module, encoder_config: EncoderConfig, mean: torch.Tensor | None = None,
                 var: torch.Tensor | None = None, eps: float = 1e-5):
        super().__init__()
        self.decoder = decoder
        self.eps = eps
        self.image_mean, self.image_std = encoder_config.image_mean, encoder_config.image_std
        self.register_buffer("latent_mean", None if mean is None else mean.float(), persistent=False)
        self.register_buffer("latent_var", None if var is None else var.float(), persistent=False)

    def from_tokens(self, tokens: torch.Tensor, decoder: nn.Module | None = None) -> torch.Tensor:
        """Images from un-normalized tokens (B, N, C); `decoder` may be a DDP/FSDP wrapper of ours."""
        logits = (self.decoder if decoder is None else decoder)(tokens)
        return pixels(self.decoder.unpatchify(logits), self.image_mean, self.image_std)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return decode_latents(self.decoder, z, self.latent_mean, self.latent_var, self.eps, self.image_mean,
                              self.image_std)
