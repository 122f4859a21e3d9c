"""Configs from the JSON files that ship with the weights: Hugging Face encoder folders
(config.json + preprocessor_config.json) and the reference's decoder configs (configs/decoder/*)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .configs import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    SIGLIP_MEAN,
    SIGLIP_STD,
    ConfigError,
    DecoderConfig,
    EncoderConfig,
)

_ACTS = {"gelu": "gelu", "gelu_pytorch_tanh": "gelu_tanh", "gelu_new": "gelu_tanh", "gelu_fast": "gelu_tanh"}
_KINDS = {"dinov2_with_registers": "dinov2", "siglip": "siglip2", "siglip_vision_model": "siglip2", "vit_mae": "mae"}

# The weights file of a diffusers model folder; beside it, config.json. For an `AutoencoderRAE` (the
# nyu-visionx/RAE-* repos) it holds the whole RAE: encoder, decoder and latent statistics (rae_convert.diffusers).
DIFFUSERS_WEIGHTS = "diffusion_pytorch_model.safetensors"

# Key prefix of the vision tower inside each HF checkpoint (other keys: text tower, MAE decoder).
WEIGHT_PREFIX = {"dinov2": "", "siglip2": "vision_model.", "mae": "vit."}

# transformers >= 5 renamed some modules of these models (its conversion_mapping.py). Its own save_pretrained
# writes the reference names back, but raw state dicts of its modules (diffusers' AutoencoderRAE folders)
# use the new ones: (new, reference) substrings.
_ATTENTION_V5 = ((".attention.q_proj.", ".attention.attention.query."),
                 (".attention.k_proj.", ".attention.attention.key."),
                 (".attention.v_proj.", ".attention.attention.value."),
                 (".attention.o_proj.", ".attention.output.dense."))
KEY_ALIASES = {"dinov2": _ATTENTION_V5, "siglip2": (),
               "mae": _ATTENTION_V5 + ((".mlp.fc1.", ".intermediate.dense."), (".mlp.fc2.", ".output.dense."))}


def canonical_encoder_key(key: str, kind: str) -> str:
    """The reference (transformers 4.x) spelling of an encoder key written by any transformers version."""
    for new, old in KEY_ALIASES[kind]:
        key = key.replace(new, old)
    return key


def _act(name: str) -> str:
    if name not in _ACTS:
        raise ConfigError(f"unsupported encoder activation {name!r}; supported: {sorted(_ACTS)}")
    return _ACTS[name]


def encoder_config_from_hf(config: dict[str, Any], preprocessor: dict[str, Any] | None = None,
                           hf_repo: str | None = None) -> EncoderConfig:
    """EncoderConfig from an HF config.json (dinov2_with_registers, siglip or vit_mae)."""
    model_type = config.get("model_type")
    if model_type not in _KINDS:
        raise ConfigError(f"unsupported encoder model_type {model_type!r}; supported: {sorted(_KINDS)}")
    kind = _KINDS[model_type]
    c = config.get("vision_config", config) if kind == "siglip2" else config
    pre = preprocessor or {}
    if kind == "dinov2":
        if c.get("use_swiglu_ffn", False):
            raise ConfigError("DINOv2 checkpoints with a SwiGLU FFN (giant) are not supported")
        hidden = c.get("hidden_size", 768)
        return EncoderConfig(
            kind="dinov2", hidden_size=hidden, num_layers=c.get("num_hidden_layers", 12),
            num_heads=c.get("num_attention_heads", 12), intermediate_size=int(hidden * c.get("mlp_ratio", 4)),
            patch_size=c.get("patch_size", 14), image_size=c.get("image_size", 518),
            num_register_tokens=c.get("num_register_tokens", 4), layer_norm_eps=c.get("layer_norm_eps", 1e-6),
            hidden_act=_act(c.get("hidden_act", "gelu")), qkv_bias=c.get("qkv_bias", True),
            image_mean=tuple(pre.get("image_mean", IMAGENET_MEAN)), image_std=tuple(pre.get("image_std", IMAGENET_STD)),
            hf_repo=hf_repo)
    if kind == "siglip2":
        return EncoderConfig(
            kind="siglip2", hidden_size=c.get("hidden_size", 768), num_layers=c.get("num_hidden_layers", 12),
            num_heads=c.get("num_attention_heads", 12), intermediate_size=c.get("intermediate_size", 3072),
            patch_size=c.get("patch_size", 16), image_size=c.get("image_size", 224), num_register_tokens=0,
            layer_norm_eps=c.get("layer_norm_eps", 1e-6), hidden_act=_act(c.get("hidden_act", "gelu_pytorch_tanh")),
            image_mean=tuple(pre.get("image_mean", SIGLIP_MEAN)), image_std=tuple(pre.get("image_std", SIGLIP_STD)),
            hf_repo=hf_repo)
    return EncoderConfig(
        kind="mae", hidden_size=c.get("hidden_size", 768), num_layers=c.get("num_hidden_layers", 12),
        num_heads=c.get("num_attention_heads", 12), intermediate_size=c.get("intermediate_size", 3072),
        patch_size=c.get("patch_size", 16), image_size=c.get("image_size", 224), num_register_tokens=0,
        layer_norm_eps=c.get("layer_norm_eps", 1e-12), hidden_act=_act(c.get("hidden_act", "gelu")),
        qkv_bias=c.get("qkv_bias", True),
        image_mean=tuple(pre.get("image_mean", IMAGENET_MEAN)), image_std=tuple(pre.get("image_std", IMAGENET_STD)),
        hf_repo=hf_repo)


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
        hidden_act=_act(config.get("hidden_act", "gelu")))
