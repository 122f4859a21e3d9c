"""The representation autoencoder: frozen encoder + trained pixel decoder + latent normalization.
Images and latents are NCHW mx.arrays (numpy arrays are accepted), as in rae_torch."""

from __future__ import annotations

import math

import mlx.core as mx
import numpy as np
from mlx import nn

from rae_spec.configs import RAEConfig

from .decoder import ViTDecoder
from .encoders import build_encoder
from .layers import as_array
from .vit import resize


def _channels(values, dtype) -> mx.array:
    return mx.array(np.asarray(values, dtype=np.float32)).astype(dtype).reshape(1, -1, 1, 1)


def preprocess(images: mx.array, size: int, mean, std) -> mx.array:
    """Images in [0, 1] -> encoder input: bicubic resize (align_corners=False, no antialias, no clamp)
    to size x size unless already there, then per-channel (x - mean) / std."""
    x = resize(as_array(images), (size, size), "bicubic")
    return (x - _channels(mean, x.dtype)) / _channels(std, x.dtype)


def tokens_to_latent(tokens: mx.array) -> mx.array:
    """(B, N, C) row-major tokens -> (B, C, g, g)."""
    B, N, C = tokens.shape
    g = math.isqrt(N)
    return tokens.transpose(0, 2, 1).reshape(B, C, g, g)


def latent_to_tokens(z: mx.array) -> mx.array:
    B, C = z.shape[:2]
    return z.reshape(B, C, -1).transpose(0, 2, 1)


def _stats(z: mx.array, mean, var, eps: float):
    """(mean, sqrt(var + eps)) with the reference's fallbacks: mean 0, var 1 when absent."""
    m = mean.astype(z.dtype) if mean is not None else 0.0
    v = var.astype(mx.float32) if var is not None else mx.array(1.0)
    return m, mx.sqrt(v + eps).astype(z.dtype)


def normalize(z: mx.array, mean, var, eps: float) -> mx.array:
    """(z - mean) / sqrt(var + eps); a no-op without statistics."""
    if mean is None and var is None:
        return z
    m, s = _stats(z, mean, var, eps)
    return (z - m) / s


def denormalize(z: mx.array, mean, var, eps: float) -> mx.array:
    if mean is None and var is None:
        return z
    m, s = _stats(z, mean, var, eps)
    return z * s + m


class RAE(nn.Module):
    """encode: images in [0, 1] (B, 3, H, W) -> normalized latents (B, C, g, g).
    decode: latents -> images (B, 3, S, S), de-normalized with the encoder's mean/std, not clamped.

    The statistics live outside the parameters (they ship as separate stat files); set them with
    `set_stats`. Without them encode/decode skip the normalization, as the reference does. Sampling only
    needs `decoder`: build it alone with `ViTDecoder` (or `load_model` on a decoder file) and use
    `decode_latents`, so the encoder is never loaded.
    """

    def __init__(self, config: RAEConfig, mean=None, var=None):
        super().__init__()
        self.config = config
        self.encoder = build_encoder(config.encoder)
        self.decoder = ViTDecoder(config.decoder)
        self.set_stats(mean, var)
        self.eval()

    def set_stats(self, mean, var) -> None:
        """Latent statistics of shape (C, g, g); either may be None (DINOv2-B ships no mean). Kept in a
        plain tuple attribute so they stay out of the parameters (and out of saved weights)."""
        object.__setattr__(self, "_stats", check_stats(mean, var, self.config.latent_shape))

    @property
    def latent_mean(self) -> mx.array | None:
        return self._stats[0]

    @property
    def latent_var(self) -> mx.array | None:
        return self._stats[1]

    def preprocess(self, images: mx.array) -> mx.array:
        enc = self.config.encoder
        return preprocess(images, self.config.encoder_input_size, enc.image_mean, enc.image_std)

    def noising(self, tokens: mx.array, u: mx.array | None = None, eps: mx.array | None = None) -> mx.array:
        """tokens + noise_tau * u * eps, u ~ U(0, 1) per sample: the decoder's training augmentation.
        Pass (u, eps) to inject draws (MLX cannot replay torch's generator)."""
        if u is None:
            u = mx.random.uniform(shape=(tokens.shape[0], 1, 1))
        if eps is None:
            eps = mx.random.normal(tokens.shape)
        return tokens + self.config.noise_tau * as_array(u).astype(tokens.dtype) * as_array(eps).astype(tokens.dtype)

    def normalize(self, z: mx.array) -> mx.array:
        return normalize(z, self.latent_mean, self.latent_var, self.config.eps)

    def denormalize(self, z: mx.array) -> mx.array:
        return denormalize(z, self.latent_mean, self.latent_var, self.config.eps)

    def encode(self, images, noise: tuple | None = None) -> mx.array:
        """Images -> normalized latents. In training mode with noise_tau > 0 the tokens are noised;
        `noise` = (u, eps) injects the draws."""
        tokens = self.encoder(self.preprocess(images))
        if self.training and self.config.noise_tau > 0:
            tokens = self.noising(tokens, *(noise or (None, None)))
        return self.normalize(tokens_to_latent(tokens))

    def decode(self, latents, batch_size: int | None = None) -> mx.array:
        """Latents (B, C, g, g) -> images (B, 3, S, S). `batch_size` decodes in evaluated micro-batches,
        bounding peak memory to one micro-batch of activations."""
        return decode_latents(self.decoder, as_array(latents), self.latent_mean, self.latent_var, self.config.eps,
                              self.config.encoder.image_mean, self.config.encoder.image_std, batch_size)

    def __call__(self, images) -> mx.array:
        return self.decode(self.encode(images))


def check_stats(mean, var, shape: tuple[int, int, int]):
    out = []
    for name, value in (("mean", mean), ("var", var)):
        if value is not None:
            value = as_array(value, mx.float32)
            if value.size != math.prod(shape):
                raise ValueError(f"stats '{name}' has {value.size} values, expected {shape}")
            value = value.reshape(shape)
        out.append(value)
    return out[0], out[1]


def decode_latents(decoder: ViTDecoder, latents: mx.array, mean, var, eps: float, image_mean, image_std,
                   batch_size: int | None = None) -> mx.array:
    """RAE.decode without an encoder: de-normalize, decode, unpatchify, de-normalize pixels (float32 out)."""
    if batch_size is not None and latents.shape[0] > batch_size:
        parts = []
        for i in range(0, latents.shape[0], batch_size):
            part = decode_latents(decoder, latents[i:i + batch_size], mean, var, eps, image_mean, image_std)
            mx.eval(part)
            parts.append(part)
        return mx.concatenate(parts, axis=0)
    tokens = latent_to_tokens(denormalize(latents, mean, var, eps))
    images = decoder.unpatchify(decoder(tokens)).astype(mx.float32)
    return images * _channels(image_std, mx.float32) + _channels(image_mean, mx.float32)
