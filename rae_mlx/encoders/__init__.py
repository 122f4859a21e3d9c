"""Frozen representation encoders: DINOv2 with registers, SigLIP2, MAE."""

from __future__ import annotations

from mlx import nn

from rae_spec.configs import EncoderConfig

from .dinov2 import DINOv2Encoder
from .mae import MAEEncoder
from .siglip2 import SigLIP2Encoder

ENCODERS = {"dinov2": DINOv2Encoder, "siglip2": SigLIP2Encoder, "mae": MAEEncoder}


def build_encoder(config: EncoderConfig) -> nn.Module:
    return ENCODERS[config.kind](config)


__all__ = ["DINOv2Encoder", "ENCODERS", "MAEEncoder", "SigLIP2Encoder", "build_encoder"]
