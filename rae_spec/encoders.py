"""One record per encoder kind: everything the code outside the model files knows about an encoder.

A record says which Hugging Face model a kind is (model_type, class, the key prefix of the vision tower
in its files and the key renames of newer transformers), how its config.json reads into an EncoderConfig,
how images are normalized for it, how its output tokens are laid out (CLS, registers), which keys of the
file RAE never uses, which tensor is a convolution (the MLX layout changes it), its state-dict manifest,
what the reference implementation calls it (`encoder_cls` and the `encoder_params` key naming the
weights), and where its model code lives (`rae_torch.encoders.<module>` / `rae_mlx.encoders.<module>`,
class `class_name`).

Configs, manifests, conversion, both backends' loaders and both reference-YAML readers read these
records. Adding an encoder kind is a record here plus its two model files (and tests).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .configs import IMAGENET_MEAN, IMAGENET_STD, SIGLIP_MEAN, SIGLIP_STD, ConfigError, EncoderConfig
from .parameters import linear, norm, vit_mae_layer

Shape = tuple[int, ...]

@dataclass(frozen=True)
class EncoderKind:
    kind: str                           # EncoderConfig.kind
    hf_model_types: tuple[str, ...]     # config.json model_type values; the first is what we write
    hf_class: str                       # the transformers class RAE runs (documentation, messages)
    weight_prefix: str                  # key prefix of the vision tower inside the HF file ('' = top level)
    patch_conv: str                     # the patch-embedding convolution's key (MLX changes its layout)
    manifest: Callable[[EncoderConfig], dict[str, Shape]]  # every key of the HF file, state-dict order
    unused: tuple[str, ...]             # keys (or prefixes ending in '.') of the file RAE never uses
    reference_class: str                # stage_1.params.encoder_cls in the reference's YAMLs
    reference_weights_param: str        # the encoder_params key naming the HF weights
    module: str                         # rae_torch.encoders.<module> / rae_mlx.encoders.<module>
    class_name: str                     # the encoder class in those modules
    cls_token: bool = True              # a CLS token leads the output (dropped by RAE)
    registers: bool = False             # num_register_tokens register tokens follow it (dropped by RAE)
    image_mean: tuple[float, float, float] = IMAGENET_MEAN  # when preprocessor_config.json has none
    image_std: tuple[float, float, float] = IMAGENET_STD
    hf_defaults: dict[str, Any] = field(default_factory=dict)  # config.json fields the HF class defaults
    diffusers_image_size: int = 224     # the position table's image size diffusers' AutoencoderRAE builds
    hf_vision_config: str | None = None  # the nested config.json block holding the tower, if any
    hf_extra: Callable[[dict[str, Any]], dict[str, Any]] | None = None  # kind-specific config.json reading
    check: Callable[[EncoderConfig], None] | None = None  # kind-specific validation
    key_aliases: tuple[tuple[str, str], ...] = ()  # (transformers>=5 spelling, reference spelling) substrings
    aliases: tuple[str, ...] = ()       # other names of the kind (diffusers' encoder_type, ...)

    def leading_tokens(self, config: EncoderConfig) -> int:
        """Tokens before the patches in the encoder output (dropped by RAE)."""
        return int(self.cls_token) + (config.num_register_tokens if self.registers else 0)

    def module_class(self, backend: str) -> type:
        """The model class in `backend` ('rae_torch' or 'rae_mlx')."""
        return getattr(importlib.import_module(f"{backend}.encoders.{self.module}"), self.class_name)


# ------------------------------------------------------------------------------------------ manifests


def _dinov2_manifest(c: EncoderConfig) -> dict[str, Shape]:
    D, p = c.hidden_size, c.patch_size
    out: dict[str, Shape] = {
        "embeddings.cls_token": (1, 1, D),
        "embeddings.mask_token": (1, D),
        "embeddings.register_tokens": (1, c.num_register_tokens, D),
        "embeddings.position_embeddings": (1, c.grid_size**2 + 1, D),
        "embeddings.patch_embeddings.projection.weight": (D, 3, p, p),
        "embeddings.patch_embeddings.projection.bias": (D,),
    }
    for i in range(c.num_layers):
        pre = f"encoder.layer.{i}"
        norm(out, f"{pre}.norm1", D)
        for n in ("query", "key", "value"):
            linear(out, f"{pre}.attention.attention.{n}", D, D, c.qkv_bias)
        linear(out, f"{pre}.attention.output.dense", D, D)
        out[f"{pre}.layer_scale1.lambda1"] = (D,)
        norm(out, f"{pre}.norm2", D)
        linear(out, f"{pre}.mlp.fc1", c.intermediate_size, D)
        linear(out, f"{pre}.mlp.fc2", D, c.intermediate_size)
        out[f"{pre}.layer_scale2.lambda1"] = (D,)
    norm(out, "layernorm", D)
    return out


def _siglip2_manifest(c: EncoderConfig) -> dict[str, Shape]:
    D, p, F = c.hidden_size, c.patch_size, c.intermediate_size
    out: dict[str, Shape] = {
        "vision_model.embeddings.patch_embedding.weight": (D, 3, p, p),
        "vision_model.embeddings.patch_embedding.bias": (D,),
        "vision_model.embeddings.position_embedding.weight": (c.grid_size**2, D),
    }
    for i in range(c.num_layers):
        pre = f"vision_model.encoder.layers.{i}"
        norm(out, f"{pre}.layer_norm1", D)
        for n in ("k_proj", "v_proj", "q_proj", "out_proj"):
            linear(out, f"{pre}.self_attn.{n}", D, D)
        norm(out, f"{pre}.layer_norm2", D)
        linear(out, f"{pre}.mlp.fc1", F, D)
        linear(out, f"{pre}.mlp.fc2", D, F)
    norm(out, "vision_model.post_layernorm", D)
    # Attention-pooling head: in the file and in the HF module, never used by RAE.
    out["vision_model.head.probe"] = (1, 1, D)
    out["vision_model.head.attention.in_proj_weight"] = (3 * D, D)
    out["vision_model.head.attention.in_proj_bias"] = (3 * D,)
    linear(out, "vision_model.head.attention.out_proj", D, D)
    norm(out, "vision_model.head.layernorm", D)
    linear(out, "vision_model.head.mlp.fc1", F, D)
    linear(out, "vision_model.head.mlp.fc2", D, F)
    return out


def _mae_manifest(c: EncoderConfig) -> dict[str, Shape]:
    D, p = c.hidden_size, c.patch_size
    out: dict[str, Shape] = {
        "vit.embeddings.cls_token": (1, 1, D),
        "vit.embeddings.position_embeddings": (1, c.grid_size**2 + 1, D),
        "vit.embeddings.patch_embeddings.projection.weight": (D, 3, p, p),
        "vit.embeddings.patch_embeddings.projection.bias": (D,),
    }
    for i in range(c.num_layers):
        vit_mae_layer(out, f"vit.encoder.layer.{i}", D, c.intermediate_size, c.qkv_bias)
    norm(out, "vit.layernorm", D)
    return out


# ------------------------------------------------------------------------------------------ kind specifics


def _dinov2_extra(c: dict[str, Any]) -> dict[str, Any]:
    if c.get("use_swiglu_ffn", False):
        raise ConfigError("DINOv2 checkpoints with a SwiGLU FFN (giant) are not supported")
    hidden = c.get("hidden_size", 768)
    return {"intermediate_size": c.get("intermediate_size") or int(hidden * c.get("mlp_ratio", 4)),
            "num_register_tokens": c.get("num_register_tokens", 4)}


def _dinov2_check(c: EncoderConfig) -> None:
    # The reference drops exactly 5 leading tokens (CLS + 4 registers).
    if c.num_register_tokens != 4:
        raise ConfigError("DINOv2 encoders must have 4 register tokens (RAE drops 5 tokens)")


# transformers >= 5 renamed some modules of these models (its conversion_mapping.py). Its own save_pretrained
# writes the reference names back, but raw state dicts of its modules (diffusers' AutoencoderRAE folders)
# use the new ones.
_ATTENTION_V5 = ((".attention.q_proj.", ".attention.attention.query."),
                 (".attention.k_proj.", ".attention.attention.key."),
                 (".attention.v_proj.", ".attention.attention.value."),
                 (".attention.o_proj.", ".attention.output.dense."))

KINDS: dict[str, EncoderKind] = {r.kind: r for r in (
    EncoderKind(
        kind="dinov2", hf_model_types=("dinov2_with_registers",), hf_class="Dinov2WithRegistersModel",
        weight_prefix="", patch_conv="embeddings.patch_embeddings.projection.weight", manifest=_dinov2_manifest,
        unused=("embeddings.mask_token", "layernorm.weight", "layernorm.bias"),
        reference_class="Dinov2withNorm", reference_weights_param="dinov2_path",
        module="dinov2", class_name="DINOv2Encoder", registers=True,
        hf_defaults={"patch_size": 14, "image_size": 518, "layer_norm_eps": 1e-6, "hidden_act": "gelu"},
        diffusers_image_size=518, hf_extra=_dinov2_extra, check=_dinov2_check, key_aliases=_ATTENTION_V5),
    EncoderKind(
        kind="siglip2", hf_model_types=("siglip", "siglip_vision_model"), hf_class="SiglipModel.vision_model",
        weight_prefix="vision_model.", patch_conv="vision_model.embeddings.patch_embedding.weight",
        manifest=_siglip2_manifest,
        unused=("vision_model.post_layernorm.weight", "vision_model.post_layernorm.bias", "vision_model.head."),
        reference_class="SigLIP2wNorm", reference_weights_param="model_name",
        module="siglip2", class_name="SigLIP2Encoder", cls_token=False, image_mean=SIGLIP_MEAN, image_std=SIGLIP_STD,
        hf_defaults={"patch_size": 16, "image_size": 224, "layer_norm_eps": 1e-6, "hidden_act": "gelu_pytorch_tanh"},
        diffusers_image_size=256, hf_vision_config="vision_config", aliases=("siglip",)),
    EncoderKind(
        kind="mae", hf_model_types=("vit_mae",), hf_class="ViTMAEForPreTraining.vit",
        weight_prefix="vit.", patch_conv="vit.embeddings.patch_embeddings.projection.weight", manifest=_mae_manifest,
        unused=("vit.layernorm.weight", "vit.layernorm.bias"),
        reference_class="MAEwNorm", reference_weights_param="model_name",
        module="mae", class_name="MAEEncoder",
        hf_defaults={"patch_size": 16, "image_size": 224, "layer_norm_eps": 1e-12, "hidden_act": "gelu"},
        key_aliases=_ATTENTION_V5 + ((".mlp.fc1.", ".intermediate.dense."), (".mlp.fc2.", ".output.dense.")),
        aliases=("vit_mae",)),
)}

REFERENCE_CLASSES: dict[str, EncoderKind] = {r.reference_class: r for r in KINDS.values()}


def encoder_kind(kind: str) -> EncoderKind:
    """The record of `kind` (or one of its aliases); ConfigError naming the known kinds otherwise."""
    if kind in KINDS:
        return KINDS[kind]
    for r in KINDS.values():
        if kind in r.aliases:
            return r
    names = list(KINDS)
    raise ConfigError(f"encoder kind must be {', '.join(names[:-1])} or {names[-1]}, got {kind!r}")


def kind_of_model_type(model_type: str | None) -> EncoderKind:
    for r in KINDS.values():
        if model_type in r.hf_model_types:
            return r
    known = sorted(t for r in KINDS.values() for t in r.hf_model_types)
    raise ConfigError(f"unsupported encoder model_type {model_type!r}; supported: {known}")


def canonical_key(key: str, kind: str) -> str:
    """The reference (transformers 4.x) spelling of an encoder key written by any transformers version."""
    for new, old in KINDS[kind].key_aliases:
        key = key.replace(new, old)
    return key
