"""Writing diffusers AutoencoderRAE folders for tests: the inverse of rae_convert.diffusers, checked against the
layouts diffusers 0.42.1 itself writes at full size (tests/fixtures/diffusers_presets, test_diffusers_presets.py),
so tiny folders made here are laid out exactly as the released repos are.

Variants a real folder may have: encoder attention keys as transformers < 5.x (`attention.attention.query`) or
some 5.x versions (`attention.q_proj`) write them; SigLIP with or without its `vision_model.` level; latent
statistics in the buffers or only in config.json.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np

from rae_spec.configs import RAEConfig
from rae_spec.encoders import encoder_kind
from rae_spec.parameters import expected_parameters, unused_parameters

LAYOUTS = Path(__file__).resolve().parent / "fixtures" / "diffusers_presets" / "layouts.json.gz"
DECODER_ATTENTION = {".attention.attention.query.": ".attention.to_q.", ".attention.attention.key.": ".attention.to_k.",
                     ".attention.attention.value.": ".attention.to_v.",
                     ".attention.output.dense.": ".attention.to_out.0."}
# Final-LayerNorm affine: diffusers' encoders have none, so the file lacks it.
NOT_STORED = {"dinov2": ("layernorm.weight", "layernorm.bias"),
              "siglip2": ("vision_model.post_layernorm.weight", "vision_model.post_layernorm.bias"),
              "mae": ("vit.layernorm.weight", "vit.layernorm.bias")}


def layouts() -> dict:
    """{repo: {"config": config.json, "tensors": {key: [dtype, shape]}}} as diffusers 0.42.1 writes them."""
    return json.loads(gzip.decompress(LAYOUTS.read_bytes()))


def encoder_key(key: str, kind: str, *, v5_names: bool = False, siglip_wrapper: bool = True) -> str | None:
    """The diffusers file's key of an official encoder key (None: not stored)."""
    if key in NOT_STORED[kind]:
        return None
    if v5_names:
        for new, old in encoder_kind(kind).key_aliases:
            key = key.replace(old, new)
    if kind == "mae":
        key = key[len("vit."):]
    if kind == "siglip2" and not siglip_wrapper:
        key = key[len("vision_model."):]
    return "encoder." + key


def decoder_key(key: str) -> str | None:
    if key == "decoder_pos_embed":
        return None
    for full, short in DECODER_ATTENTION.items():
        key = key.replace(full, short)
    return "decoder." + key


def shapes(rae: RAEConfig, has_mean: bool, **variant) -> dict[str, tuple[int, ...]]:
    """{key: shape} of the file diffusers writes for `rae` (every tensor, buffers included)."""
    out = {"encoder_mean": (1, 3, 1, 1), "encoder_std": (1, 3, 1, 1),
           "_latents_mean": rae.latent_shape if has_mean else (1,), "_latents_std": rae.latent_shape}
    for k, s in expected_parameters(rae.encoder).items():
        if (new := encoder_key(k, rae.encoder.kind, **variant)) is not None:
            out[new] = tuple(s)
    for k, s in expected_parameters(rae.decoder).items():
        if (new := decoder_key(k)) is not None:
            out[new] = tuple(s)
    return out


def config_json(rae: RAEConfig, *, mean=None, std=None, **extra) -> dict:
    """config.json as AutoencoderRAE.save_pretrained writes it (the fields of diffusers 0.42.1)."""
    e, d = rae.encoder, rae.decoder
    return {"_class_name": "AutoencoderRAE", "_diffusers_version": "0.42.1",
            "decoder_hidden_size": d.hidden_size, "decoder_intermediate_size": d.intermediate_size,
            "decoder_num_attention_heads": d.num_heads, "decoder_num_hidden_layers": d.num_layers,
            "encoder_hidden_size": e.hidden_size, "encoder_input_size": rae.encoder_input_size,
            "encoder_norm_mean": list(e.image_mean), "encoder_norm_std": list(e.image_std),
            "encoder_num_hidden_layers": e.num_layers, "encoder_patch_size": e.patch_size, "encoder_type": e.kind,
            "image_size": None, "latents_mean": mean, "latents_std": std, "noise_tau": 0.0,
            "num_channels": d.num_channels, "patch_size": d.patch_size, "reshape_to_2d": True, "scaling_factor": 1.0,
            "use_encoder_loss": False, **extra}


def write(folder: Path, rae: RAEConfig, seed: int, *, has_mean: bool, stats_in_config: bool = False,
          config_overrides: dict | None = None, **variant) -> dict[str, np.ndarray]:
    """A diffusers AutoencoderRAE folder for `rae` with random weights; returns the official tensors and the
    statistics ({'encoder.…', 'decoder.…', 'mean'?, 'var'}) it holds, for comparisons."""
    from safetensors.numpy import save_file

    from tests.apps.tiny import random_weights

    rng = np.random.default_rng(seed)
    official = {f"encoder.{k}": v for k, v in random_weights(rae.encoder, seed).items()}
    official.update({f"decoder.{k}": v for k, v in random_weights(rae.decoder, seed + 1).items()})
    var = rng.uniform(0.5, 2.0, rae.latent_shape).astype(np.float32)
    std = np.sqrt(var.astype(np.float64) + 1e-5).astype(np.float32)
    mean = rng.standard_normal(rae.latent_shape).astype(np.float32) if has_mean else None
    tensors = {"encoder_mean": np.asarray(rae.encoder.image_mean, np.float32).reshape(1, 3, 1, 1),
               "encoder_std": np.asarray(rae.encoder.image_std, np.float32).reshape(1, 3, 1, 1)}
    if not stats_in_config:
        tensors["_latents_mean"] = mean if has_mean else np.zeros(1, np.float32)
        tensors["_latents_std"] = std
    unused = {f"encoder.{k}" for k in unused_parameters(rae.encoder)}
    for k, v in official.items():
        new = (encoder_key(k[len("encoder."):], rae.encoder.kind, **variant) if k.startswith("encoder.")
               else decoder_key(k[len("decoder."):]))
        if new is not None:
            tensors[new] = v
    folder.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(folder / "diffusion_pytorch_model.safetensors"), metadata={"format": "pt"})
    in_config = {"mean": mean.tolist() if has_mean else None, "std": std.tolist()} if stats_in_config else {}
    cfg = {**config_json(rae, **in_config), **(config_overrides or {})}
    (folder / "config.json").write_text(json.dumps(cfg, indent=2))
    out = {k: v for k, v in official.items() if k not in unused and not k.endswith("decoder_pos_embed")}
    out["var"] = var
    if has_mean:
        out["mean"] = mean
    return out
