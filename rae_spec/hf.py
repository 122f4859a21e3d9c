"""Configs from the JSON files that ship with the weights: Hugging Face encoder folders
(config.json + preprocessor_config.json) and the reference's decoder configs (configs/decoder/*)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .configs import ConfigError, DecoderConfig, EncoderConfig
from .encoders import kind_of_model_type

# The weights file of a diffusers model folder; beside it, config.json. For an `AutoencoderRAE` (the
# nyu-visionx/RAE-* repos) it holds the whole RAE: encoder, decoder and latent statistics (rae_convert.diffusers).
DIFFUSERS_WEIGHTS = "diffusion_pytorch_model.safetensors"

# HF activation names -> EncoderConfig.hidden_act
HF_ACTIVATIONS = {"gelu": "gelu", "gelu_pytorch_tanh": "gelu_tanh", "gelu_new": "gelu_tanh", "gelu_fast": "gelu_tanh"}


def hf_activation(name: str) -> str:
    if name not in HF_ACTIVATIONS:
        raise ConfigError(f"unsupported encoder activation {name!r}; supported: {sorted(HF_ACTIVATIONS)}")
    return HF_ACTIVATIONS[name]


def encoder_config_from_hf(config: dict[str, Any], preprocessor: dict[str, Any] | None = None,
                           hf_repo: str | None = None) -> EncoderConfig:
    """EncoderConfig from an HF config.json (any kind of rae_spec.encoders, by model_type) and its
    preprocessor_config.json; fields the file leaves out take the HF class's defaults (the kind's record)."""
    r = kind_of_model_type(config.get("model_type"))
    c = config.get(r.hf_vision_config, config) if r.hf_vision_config else config
    d = r.hf_defaults
    pre = preprocessor or {}
    fields: dict[str, Any] = dict(
        kind=r.kind, hidden_size=c.get("hidden_size", 768), num_layers=c.get("num_hidden_layers", 12),
        num_heads=c.get("num_attention_heads", 12), intermediate_size=c.get("intermediate_size", 3072),
        patch_size=c.get("patch_size", d["patch_size"]), image_size=c.get("image_size", d["image_size"]),
        num_register_tokens=0, layer_norm_eps=c.get("layer_norm_eps", d["layer_norm_eps"]),
        hidden_act=hf_activation(c.get("hidden_act", d["hidden_act"])), qkv_bias=c.get("qkv_bias", True),
        image_mean=tuple(pre.get("image_mean", r.image_mean)), image_std=tuple(pre.get("image_std", r.image_std)),
        hf_repo=hf_repo)
    if r.hf_extra is not None:
        fields.update(r.hf_extra(c))
    return EncoderConfig(**fields)


def load_encoder_config(folder: str | Path, hf_repo: str | None = None) -> EncoderConfig:
    """EncoderConfig of an HF model folder (config.json, optional preprocessor_config.json)."""
    folder = Path(folder)
    cfg_path = folder / "config.json"
    if not cfg_path.is_file():
        raise FileNotFoundError(f"{folder} has no config.json; an encoder folder holds config.json and "
                                "model.safetensors")
    pre_path = folder / "preprocessor_config.json"
    pre = json.loads(pre_path.read_text()) if pre_path.is_file() else None
    return encoder_config_from_hf(json.loads(cfg_path.read_text()), pre, hf_repo)


def decoder_config_from_json(config: dict[str, Any], latent_dim: int, num_patches: int,
                             patch_size: int = 16) -> DecoderConfig:
    """DecoderConfig from a reference decoder config (ViTMAEConfig JSON) plus RAE's overrides:
    hidden_size := latent_dim, patch_size := decoder_patch_size, image_size := patch * sqrt(tokens)."""
    return DecoderConfig(
        hidden_size=config.get("decoder_hidden_size", 512),
        num_layers=config.get("decoder_num_hidden_layers", 8),
        num_heads=config.get("decoder_num_attention_heads", 16),
        intermediate_size=config.get("decoder_intermediate_size", 2048),
        latent_dim=latent_dim, num_patches=num_patches, patch_size=patch_size,
        num_channels=config.get("num_channels", 3), layer_norm_eps=config.get("layer_norm_eps", 1e-12),
        hidden_act=hf_activation(config.get("hidden_act", "gelu")))
