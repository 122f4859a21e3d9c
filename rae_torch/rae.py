"""The representation autoencoder: frozen encoder + trained pixel decoder + latent normalization."""

from __future__ import annotations

import math

import torch
from torch import nn

from rae_spec.configs import RAEConfig

from .decoder import ViTDecoder
from .encoders import build_encoder
from .vit import resize


def preprocess(images: torch.Tensor, size: int, mean, std) -> torch.Tensor:
    """Images in [0, 1] -> encoder input: bicubic resize (align_corners=False, no antialias, no clamp)
    to size x size unless already there, then per-channel (x - mean) / std."""
    x = resize(images, (size, size), "bicubic")
    mean = torch.as_tensor(mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    std = torch.as_tensor(std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
    return (x - mean) / std


def tokens_to_latent(tokens: torch.Tensor) -> torch.Tensor:
    """(B, N, C) row-major tokens -> (B, C, g, g)."""
    B, N, C = tokens.shape
    g = math.isqrt(N)
    return tokens.transpose(1, 2).reshape(B, C, g, g)


def latent_to_tokens(z: torch.Tensor) -> torch.Tensor:
    B, C = z.shape[:2]
    return z.reshape(B, C, -1).transpose(1, 2)


def _stats(z: torch.Tensor, mean, var, eps: float):
    """(mean, sqrt(var + eps)) with the reference's fallbacks: mean 0, var 1 when absent."""
    m = mean.to(z.device, z.dtype) if mean is not None else 0.0
    v = var.to(z.device) if var is not None else torch.ones((), device=z.device)
    return m, torch.sqrt(v.float() + eps).to(z.dtype)


def normalize(z: torch.Tensor, mean, var, eps: float) -> torch.Tensor:
    """(z - mean) / sqrt(var + eps); a no-op without statistics."""
    if mean is None and var is None:
        return z
    m, s = _stats(z, mean, var, eps)
    return (z - m) / s


def denormalize(z: torch.Tensor, mean, var, eps: float) -> torch.Tensor:
    if mean is None and var is None:
        return z
    m, s = _stats(z, mean, var, eps)
    return z * s + m


class RAE(nn.Module):
    """encode: images in [0, 1] (B, 3, H, W) -> normalized latents (B, C, g, g).
    decode: latents -> images (B, 3, S, S), de-normalized with the encoder's mean/std, not clamped.

    The statistics are buffers outside the state dict (they ship as separate stat files); set them
    with `set_stats`. Without them encode/decode skip the normalization, as the reference does.
    """

    def __init__(self, config: RAEConfig, mean: torch.Tensor | None = None, var: torch.Tensor | None = None):
        super().__init__()
        self.config = config
        self.encoder = build_encoder(config.encoder)
        self.decoder = ViTDecoder(config.decoder)
        self.encoder.requires_grad_(False)
        self.register_buffer("latent_mean", None, persistent=False)
        self.register_buffer("latent_var", None, persistent=False)
        self.set_stats(mean, var)

    def set_stats(self, mean: torch.Tensor | None, var: torch.Tensor | None) -> None:
        """Latent statistics of shape (C, g, g); either may be None (DINOv2-B ships no mean)."""
        shape = self.config.latent_shape
        for name, value in (("latent_mean", mean), ("latent_var", var)):
            if value is not None:
                value = torch.as_tensor(value, dtype=torch.float32)
                if value.numel() != math.prod(shape):
                    raise ValueError(f"stats '{name[7:]}' has {value.numel()} values, expected {shape}")
                value = value.reshape(shape)
            setattr(self, name, value)

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        enc = self.config.encoder
        return preprocess(images, self.config.encoder_input_size, enc.image_mean, enc.image_std)

    def noising(self, tokens: torch.Tensor, u: torch.Tensor | None = None, eps: torch.Tensor | None = None):
        """tokens + noise_tau * u * eps, u ~ U(0, 1) per sample: the decoder's training augmentation.
        Draw order (u, then eps) matches the reference so torch seeds reproduce it."""
        if u is None:
            u = torch.rand((tokens.shape[0], 1, 1), device=tokens.device)
        if eps is None:
            eps = torch.randn_like(tokens)
        return tokens + self.config.noise_tau * u.to(tokens.dtype) * eps

    def normalize(self, z: torch.Tensor) -> torch.Tensor:
        return normalize(z, self.latent_mean, self.latent_var, self.config.eps)

    def denormalize(self, z: torch.Tensor) -> torch.Tensor:
        return denormalize(z, self.latent_mean, self.latent_var, self.config.eps)

    @torch.no_grad()
    def encode(self, images: torch.Tensor, noise: tuple[torch.Tensor, torch.Tensor] | None = None) -> torch.Tensor:
        """Images -> normalized latents. In training mode with noise_tau > 0 the tokens are noised;
        `noise` = (u, eps) injects the draws."""
        tokens = self.encoder(self.preprocess(images))
        if self.training and self.config.noise_tau > 0:
            tokens = self.noising(tokens, *(noise or (None, None)))
        return self.normalize(tokens_to_latent(tokens))

    def decode(self, latents: torch.Tensor, batch_size: int | None = None) -> torch.Tensor:
        """Latents (B, C, g, g) -> images (B, 3, S, S). `batch_size` decodes in micro-batches, bounding
        the activation memory to one micro-batch."""
        enc = self.config.encoder
        return decode_latents(self.decoder, latents, self.latent_mean, self.latent_var, self.config.eps,
                              enc.image_mean, enc.image_std, batch_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(images))


def pixels(images: torch.Tensor, image_mean, image_std) -> torch.Tensor:
    """Undo the encoder's pixel normalization: images * std + mean, in the images' dtype."""
    std = torch.tensor(image_std, dtype=torch.float32, device=images.device).to(images.dtype).view(1, -1, 1, 1)
    mean = torch.tensor(image_mean, dtype=torch.float32, device=images.device).to(images.dtype).view(1, -1, 1, 1)
    return images * std + mean


def decode_latents(decoder: ViTDecoder, latents: torch.Tensor, mean, var, eps: float, image_mean, image_std,
                   batch_size: int | None = None) -> torch.Tensor:
    """The one decode path (RAE.decode without an encoder): de-normalize the latents, decode, unpatchify,
    de-normalize the pixels. Not clamped. `batch_size` decodes in micro-batches."""
    if batch_size is not None and latents.shape[0] > batch_size:
        return torch.cat([decode_latents(decoder, part, mean, var, eps, image_mean, image_std)
                          for part in latents.split(batch_size)])
    tokens = latent_to_tokens(denormalize(latents, mean, var, eps))
    return pixels(decoder.unpatchify(decoder(tokens)), image_mean, image_std)
