"""Frozen representation encoders, one module per kind (rae_spec.encoders.KINDS names the module and class)."""

from __future__ import annotations

from torch import nn

from rae_spec.configs import EncoderConfig


def build_encoder(config: EncoderConfig) -> nn.Module:
    return config.record.module_class("rae_torch")(config)


__all__ = ["build_encoder"]
