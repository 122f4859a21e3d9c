"""Frozen dataclass configs for every model and procedure in the RAE / DiT^DH family.

A config is plain data: both backends build their modules from it, `expected_parameters` derives the
state-dict contract from it, and it serializes to JSON next to every converted or trained checkpoint.
Field names follow the reference implementation's constructor arguments where one exists.
"""

from __future__ import annotations

import dataclasses
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SIGLIP_MEAN = (0.5, 0.5, 0.5)
SIGLIP_STD = (0.5, 0.5, 0.5)


class ConfigError(ValueError):
    """A config value is out of range or inconsistent; the message says what is allowed."""


def _check(cond: bool, msg: str) -> None:
    if not cond:
        raise ConfigError(msg)


# Bounds on sizes, by field name, far above any model of this family: a config file (a config.json beside
# downloaded weights, a forged record) must not be able to ask for a model that takes hours to describe or
# terabytes to build. Integer fields elsewhere must be >= 0.
SIZE_LIMITS: dict[str, tuple[int, int]] = {
    "hidden_size": (1, 1 << 16), "intermediate_size": (1, 1 << 18), "latent_dim": (1, 1 << 16),
    "in_channels": (1, 1 << 16), "channels": (1, 1 << 16), "num_layers": (1, 1024), "depth": (1, 1024),
    "num_heads": (1, 1024), "patch_size": (1, 1024), "image_size": (1, 1 << 14), "input_size": (1, 4096),
    "encoder_input_size": (1, 1 << 14), "grid_size": (1, 4096), "num_patches": (1, 1 << 20),
    "num_channels": (1, 64), "num_classes": (1, 1 << 20), "num_register_tokens": (0, 64),
    "num_steps": (0, 100_000), "time_dist_shift_dim": (1, 1 << 40), "time_dist_shift_base": (1, 1 << 40),
}
_HINTS: dict[type, dict[str, Any]] = {}


def _describe(hint: Any) -> str:
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin is tuple:
        plural = {int: "integers", float: "finite numbers", bool: "booleans", str: "strings"}.get(args[0], "values")
        return f"a list of {plural}" if args[-1] is Ellipsis else f"a list of {len(args)} {plural}"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    return {int: "an integer", float: "a finite number", bool: "true or false", str: "a string",
            type(None): "null"}.get(hint, getattr(hint, "__name__", str(hint)))


def _coerce(value: Any, hint: Any, name: str) -> Any:
    """`value` as the type `hint` names (ints from integral floats, tuples from lists), or a ConfigError."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    bad = ConfigError(f"{name} must be {_describe(hint)}, got {value!r:.80}")
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        for a in args:
            if a is not type(None):
                try:
                    return _coerce(value, a, name)
                except ConfigError:
                    pass
        raise bad
    if origin is Literal:  # the value itself is checked by each config, with its own message
        if isinstance(value, str):
            return value
        raise bad
    if origin is tuple:
        if not isinstance(value, (list, tuple)) or (args[-1] is not Ellipsis and len(value) != len(args)):
            raise bad
        kinds = [args[0]] * len(value) if args[-1] is Ellipsis else args
        return tuple(_coerce(v, a, name) for v, a in zip(value, kinds, strict=True))
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise bad
    if hint in (int, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise bad
        if hint is float:
            return float(value)
        if isinstance(value, float) and not value.is_integer():
            raise bad
        value = int(value)
        lo, hi = SIZE_LIMITS.get(name.rsplit(".", 1)[-1], (0, 1 << 62))
        _check(lo <= value <= hi, f"{name} must be in [{lo}, {hi}], got {value}")
        return value
    if hint is str:
        if isinstance(value, str):
            return value
        raise bad
    if isinstance(hint, type) and dataclasses.is_dataclass(hint) and not isinstance(value, hint):
        raise bad
    return value


def _validate(config: Any) -> None:
    """Check (and normalize) every field against its type hint: numbers finite and within SIZE_LIMITS,
    literals among their choices. Runs first in every config's __post_init__, so configs built from files,
    records, YAML or the command line are all held to it."""
    cls = type(config)
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        new = _coerce(value, _HINTS[cls][f.name], f"{cls.__name__}.{f.name}")
        if new is not value:
            object.__setattr__(config, f.name, new)


# --------------------------------------------------------------------------------------------------------
# Stage 1: encoders, decoder, RAE
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EncoderConfig:
    """A frozen pretrained ViT encoder, described in its Hugging Face config's terms.

    kind: one of rae_spec.encoders.KINDS (dinov2: Dinov2WithRegistersModel, siglip2:
    SiglipModel.vision_model, mae: ViTMAEForPreTraining.vit); the kind's record holds everything else
    known about it. `image_size` is the checkpoint's native resolution: its position table covers
    (image_size / patch_size)^2 patches and is resampled to the input grid at run time.
    """

    kind: str = "dinov2"
    hidden_size: int = 768
    num_layers: int = 12
    num_heads: int = 12
    intermediate_size: int = 3072
    patch_size: int = 14
    image_size: int = 518
    num_register_tokens: int = 4
    layer_norm_eps: float = 1e-6
    hidden_act: Literal["gelu", "gelu_tanh"] = "gelu"
    qkv_bias: bool = True
    image_mean: tuple[float, float, float] = IMAGENET_MEAN
    image_std: tuple[float, float, float] = IMAGENET_STD
    hf_repo: str | None = None

    def __post_init__(self) -> None:
        _validate(self)
        record = self.record
        object.__setattr__(self, "kind", record.kind)  # an alias is stored under the kind's own name
        _check(self.hidden_size % self.num_heads == 0, "encoder hidden_size must be divisible by num_heads")
        _check(self.image_size % self.patch_size == 0, "encoder image_size must be a multiple of patch_size")
        _check(self.hidden_act in ("gelu", "gelu_tanh"), "encoder hidden_act must be 'gelu' or 'gelu_tanh'")
        if record.check is not None:
            record.check(self)

    @property
    def record(self):
        """This kind's rae_spec.encoders.EncoderKind."""
        from .encoders import encoder_kind

        return encoder_kind(self.kind)

    @property
    def grid_size(self) -> int:
        """Side of the checkpoint's own position grid."""
        return self.image_size // self.patch_size

    @property
    def num_leading_tokens(self) -> int:
        """Tokens before the patches in the encoder output (dropped by RAE)."""
        return self.record.leading_tokens(self)


@dataclass(frozen=True)
class DecoderConfig:
    """The ViT-MAE-style pixel decoder (`GeneralDecoder`) after RAE's overrides.

    `latent_dim` is the encoder width the decoder reads; `num_patches` its token count (a square);
    each token becomes a `patch_size` x `patch_size` x 3 pixel patch.
    """

    hidden_size: int = 1152
    num_layers: int = 28
    num_heads: int = 16
    intermediate_size: int = 4096
    latent_dim: int = 768
    num_patches: int = 256
    patch_size: int = 16
    num_channels: int = 3
    layer_norm_eps: float = 1e-12
    hidden_act: Literal["gelu", "gelu_tanh"] = "gelu"

    def __post_init__(self) -> None:
        _validate(self)
        _check(self.hidden_size % self.num_heads == 0, "decoder hidden_size must be divisible by num_heads")
        _check(self.hidden_act in ("gelu", "gelu_tanh"), "decoder hidden_act must be 'gelu' or 'gelu_tanh'")
        side = math.isqrt(self.num_patches)
        _check(side * side == self.num_patches, f"decoder num_patches must be a square, got {self.num_patches}")

    @property
    def grid_size(self) -> int:
        return math.isqrt(self.num_patches)

    @property
    def image_size(self) -> int:
        return self.patch_size * self.grid_size


# Transformer sizes of the decoder configs shipped with the reference (configs/decoder/ViT*/config.json).
DECODER_SIZES = {
    "B": dict(hidden_size=768, num_layers=12, num_heads=12, intermediate_size=3072),
    "L": dict(hidden_size=1024, num_layers=24, num_heads=16, intermediate_size=4096),
    "XL": dict(hidden_size=1152, num_layers=28, num_heads=16, intermediate_size=4096),
}


def vit_decoder(size: str, latent_dim: int = 768, num_patches: int = 256, patch_size: int = 16) -> DecoderConfig:
    """DecoderConfig for the reference's ViT-B/L/XL decoder configs."""
    _check(size in DECODER_SIZES, f"decoder size must be one of {sorted(DECODER_SIZES)}, got {size!r}")
    return DecoderConfig(**DECODER_SIZES[size], latent_dim=latent_dim, num_patches=num_patches, patch_size=patch_size)


@dataclass(frozen=True)
class RAEConfig:
    """Encoder + decoder + latent normalization: the representation autoencoder.

    Images in [0, 1] are resized to `encoder_input_size`, encoded to (latent_dim, g, g) latents with
    g = encoder_input_size / encoder patch, normalized with (z - mean) / sqrt(var + eps), and decoded
    to images of `decoder.image_size`. `noise_tau` adds training-time noise to the tokens.
    """

    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    encoder_input_size: int = 224
    noise_tau: float = 0.0
    eps: float = 1e-5
    reshape_to_2d: bool = True

    def __post_init__(self) -> None:
        _validate(self)
        _check(self.encoder_input_size % self.encoder.patch_size == 0,
               f"encoder_input_size {self.encoder_input_size} must be a multiple of the encoder patch "
               f"size {self.encoder.patch_size}")
        _check(self.decoder.latent_dim == self.encoder.hidden_size,
               f"decoder latent_dim {self.decoder.latent_dim} must equal the encoder width {self.encoder.hidden_size}")
        _check(self.decoder.num_patches == self.num_tokens,
               f"decoder num_patches {self.decoder.num_patches} must equal the encoder token count {self.num_tokens}")
        _check(self.noise_tau >= 0, "noise_tau must be >= 0")

    @property
    def latent_grid(self) -> int:
        return self.encoder_input_size // self.encoder.patch_size

    @property
    def num_tokens(self) -> int:
        return self.latent_grid**2

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        return (self.encoder.hidden_size, self.latent_grid, self.latent_grid)

    @property
    def image_size(self) -> int:
        return self.decoder.image_size


# --------------------------------------------------------------------------------------------------------
# Stage 2: diffusion transformers
# --------------------------------------------------------------------------------------------------------


def _pair(v: Any) -> Any:
    """A pair [encoder, head] given as one number means the same for both (checked by _validate)."""
    return v if isinstance(v, (list, tuple)) else (v, v)


class _DiTLatents:
    """What both DiTs derive from input_size, patch_size, in_channels, num_classes and class_dropout_prob."""

    @property
    def grid_size(self) -> int:
        return self.input_size // self.patch_size

    @property
    def num_tokens(self) -> int:
        return self.grid_size**2

    @property
    def null_label(self) -> int | None:
        """The unconditional class id, or None when the model was built without one."""
        return self.num_classes if self.class_dropout_prob > 0 else None

    @property
    def latent_shape(self) -> tuple[int, int, int]:
        return (self.in_channels, self.input_size, self.input_size)

    def _check_stacks(self, stacks: list[tuple[int, int]]) -> None:
        """The checks both DiTs share, for their (width, heads) stacks: MLP ratio, patching, head dims, classes."""
        _validate(self)
        _check(0 < self.mlp_ratio <= 64, f"mlp_ratio must be in (0, 64], got {self.mlp_ratio}")
        _check(self.input_size % self.patch_size == 0, "input_size must be a multiple of patch_size")
        for width, heads in stacks:
            _check(width % heads == 0, f"width {width} is not divisible by {heads} heads")
            if self.use_rope:
                _check((width // heads) % 4 == 0, f"RoPE needs a head dim divisible by 4, got {width // heads}")
        _check(self.num_classes >= 1, "num_classes must be >= 1")
        _check(0.0 <= self.class_dropout_prob < 1.0, "class_dropout_prob must be in [0, 1)")


@dataclass(frozen=True)
class DiTDHConfig(_DiTLatents):
    """DiT^DH (`DiTwDDTHead`): a DiT body of width hidden_size[0] and a wide, shallow DDT head of width
    hidden_size[1]. Every constructor flag of the reference is here, with its default."""

    input_size: int = 16
    patch_size: int = 1
    in_channels: int = 768
    hidden_size: tuple[int, int] = (1152, 2048)
    depth: tuple[int, int] = (28, 2)
    num_heads: tuple[int, int] = (16, 16)
    mlp_ratio: float = 4.0
    class_dropout_prob: float = 0.1
    num_classes: int = 1000
    use_qknorm: bool = False
    use_swiglu: bool = True
    use_rope: bool = True
    use_rmsnorm: bool = True
    wo_shift: bool = False
    use_pos_embed: bool = True

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden_size", _pair(self.hidden_size))
        object.__setattr__(self, "depth", _pair(self.depth))
        object.__setattr__(self, "num_heads", _pair(self.num_heads))
        self._check_stacks(list(zip(self.hidden_size, self.num_heads, strict=True)))


@dataclass(frozen=True)
class LightningDiTConfig(_DiTLatents):
    """The plain LightningDiT baseline (one stack, conditioning c = t + y)."""

    input_size: int = 16
    patch_size: int = 1
    in_channels: int = 768
    hidden_size: int = 1152
    depth: int = 28
    num_heads: int = 16
    mlp_ratio: float = 4.0
    class_dropout_prob: float = 0.1
    num_classes: int = 1000
    learn_sigma: bool = False
    use_qknorm: bool = False
    use_swiglu: bool = True
    use_rope: bool = True
    use_rmsnorm: bool = True
    wo_shift: bool = False

    def __post_init__(self) -> None:
        self._check_stacks([(self.hidden_size, self.num_heads)])

    @property
    def out_channels(self) -> int:
        return self.in_channels * (2 if self.learn_sigma else 1)


# The diffusion transformers: what stage 2 trains and sampling runs.
DIT_CONFIGS = (DiTDHConfig, LightningDiTConfig)


@dataclass(frozen=True)
class StatsConfig:
    """Latent normalization statistics (the reference's stat.pt): per-element mean and var of shape
    (C, H, W). `has_mean` is False for DINOv2-B, whose released stats hold only the variance."""

    channels: int = 768
    grid_size: int = 16
    has_mean: bool = False

    def __post_init__(self) -> None:
        _validate(self)

    @property
    def shape(self) -> tuple[int, int, int]:
        return (self.channels, self.grid_size, self.grid_size)


# --------------------------------------------------------------------------------------------------------
# Transport, sampler, guidance
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TransportConfig:
    """Flow matching on the linear path x_t = (1 - t) x + t eps (t = 0 data, t = 1 noise), velocity
    target eps - x, with the time shift alpha = sqrt(shift_dim / shift_base) in training and sampling."""

    path_type: Literal["Linear"] = "Linear"
    prediction: Literal["velocity"] = "velocity"
    time_dist_type: str = "logit-normal_0_1"
    time_dist_shift_dim: int = 768 * 16 * 16
    time_dist_shift_base: int = 4096
    train_eps: float = 0.0
    sample_eps: float = 0.0

    def __post_init__(self) -> None:
        _validate(self)
        _check(self.path_type == "Linear", f"only the Linear path is supported, got {self.path_type!r}")
        _check(self.prediction == "velocity", f"only velocity prediction is supported, got {self.prediction!r}")
        parse_time_dist(self.time_dist_type)
        _check(self.time_dist_shift >= 1.0, "the time shift sqrt(shift_dim / shift_base) must be >= 1")

    @property
    def time_dist_shift(self) -> float:
        return math.sqrt(self.time_dist_shift_dim / self.time_dist_shift_base)


def parse_time_dist(name: str) -> tuple[str, float, float]:
    """'uniform' -> ('uniform', 0, 0); 'logit-normal_<mu>_<sigma>' -> ('logit-normal', mu, sigma)."""
    parts = name.split("_")
    if parts[0] == "uniform" and len(parts) == 1:
        return ("uniform", 0.0, 0.0)
    if parts[0] == "logit-normal" and len(parts) == 3:
        mu, sigma = float(parts[1]), float(parts[2])
        _check(sigma > 0, "logit-normal sigma must be > 0")
        return ("logit-normal", mu, sigma)
    raise ConfigError(f"time_dist_type must be 'uniform' or 'logit-normal_<mu>_<sigma>', got {name!r}")


@dataclass(frozen=True)
class SamplerConfig:
    """How to integrate from noise (t = 1) to data (t ~ 0).

    `num_steps` counts grid points, as the reference does: 50 points = 49 steps. `method` is a name of
    rae_spec.samplers.METHODS for `mode` (ODE: torchdiffeq's fixed-grid solvers the reference can call;
    SDE: Euler-Maruyama); any alias there (heun2, ...) is accepted and stored as the method's name.
    The SDE uses diffusion D(t) = diffusion_norm * f(t) with f from `diffusion_form` (sigma: f = t,
    constant: f = 1); its final step adds no noise.
    """

    mode: Literal["ode", "sde"] = "ode"
    method: str = "euler"  # a name (or alias) of rae_spec.samplers.METHODS for `mode`
    num_steps: int = 50
    diffusion_form: Literal["sigma", "constant"] = "sigma"
    diffusion_norm: float = 1.0

    def __post_init__(self) -> None:
        _validate(self)
        from .samplers import MODES, method

        _check(self.mode in MODES, f"sampler mode must be 'ode' or 'sde', got {self.mode!r}")
        try:
            object.__setattr__(self, "method", method(self.method, self.mode).name)
        except ValueError as e:
            raise ConfigError(str(e)) from None
        _check(self.num_steps >= 2, "num_steps counts grid points and must be >= 2")
        _check(self.diffusion_form in ("sigma", "constant"),
               f"diffusion_form must be 'sigma' or 'constant', got {self.diffusion_form!r}")
        _check(self.diffusion_norm >= 0, "diffusion_norm must be >= 0")


@dataclass(frozen=True)
class GuidanceConfig:
    """Classifier-free guidance or autoguidance, active where t_min <= t <= t_max (inclusive).

    cfg: v = v_uncond + scale (v_cond - v_uncond). autoguidance: v = v_guide + scale (v_main - v_guide),
    both models given the class label. scale 1 (or method 'none') is the plain conditional model.
    """

    method: Literal["none", "cfg", "autoguidance"] = "none"
    scale: float = 1.0
    t_min: float = 0.0
    t_max: float = 1.0

    def __post_init__(self) -> None:
        _validate(self)
        _check(self.method in ("none", "cfg", "autoguidance"),
               f"guidance method must be none, cfg or autoguidance, got {self.method!r}")
        _check(self.t_min < self.t_max, f"guidance interval needs t_min < t_max, got ({self.t_min}, {self.t_max})")

    @property
    def active(self) -> bool:
        return self.method != "none" and self.scale != 1.0

    @property
    def interval(self) -> tuple[float, float]:
        return (self.t_min, self.t_max)


# --------------------------------------------------------------------------------------------------------
# A sampling pipeline on disk
# --------------------------------------------------------------------------------------------------------

PIPELINE_FILE = "pipeline.json"


@dataclass(frozen=True)
class PipelineConfig:
    """`pipeline.json`: a folder that samples images on its own (what training exports).

    Paths are relative to the folder holding pipeline.json. `dit` and `decoder` (and `encoder`, `guide`)
    are model folders (config.json + model.safetensors); `stats` is a safetensors file with `var` and
    optionally `mean` of shape latent_shape. `encoder` may also name an encoder preset (only
    reconstruction needs it). `class_names` label the DiT's classes when known.
    """

    dit: str = "dit"
    decoder: str = "decoder"
    stats: str | None = "stats.safetensors"
    encoder: str | None = None
    guide: str | None = None
    encoder_input_size: int | None = None
    sampler: SamplerConfig = field(default_factory=SamplerConfig)
    guidance: GuidanceConfig = field(default_factory=GuidanceConfig)
    transport: TransportConfig = field(default_factory=TransportConfig)
    class_names: tuple[str, ...] | None = None
    description: str = ""
    provenance: str = ""

    def __post_init__(self) -> None:
        _validate(self)
        _check(bool(self.dit) and bool(self.decoder), "a pipeline needs a dit and a decoder folder")
        _check(self.guidance.method != "autoguidance" or self.guide is not None,
               "autoguidance needs a guide model folder ('guide')")

    @classmethod
    def load(cls, folder: str | Path) -> PipelineConfig:
        """The `pipeline.json` of `folder` (the one reader of that file). Unknown fields are errors."""
        path = Path(folder) / PIPELINE_FILE
        data = read_json_object(path)
        try:
            return from_dict(data, cls)
        except ConfigError as e:
            raise ConfigError(f"{path}: {e}") from e
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{path} is not a valid pipeline: {' '.join(str(e).split())}") from e


# --------------------------------------------------------------------------------------------------------
# JSON round trip
# --------------------------------------------------------------------------------------------------------

CONFIG_TYPES: dict[str, type] = {
    cls.__name__: cls
    for cls in (EncoderConfig, DecoderConfig, RAEConfig, DiTDHConfig, LightningDiTConfig, StatsConfig,
                TransportConfig, SamplerConfig, GuidanceConfig, PipelineConfig)
}


def to_dict(config: Any) -> dict[str, Any]:
    """Plain-JSON dict of a config, tagged with its type so `from_dict` needs no hint."""
    out: dict[str, Any] = {"type": type(config).__name__}
    for f in dataclasses.fields(config):
        out[f.name] = _to_plain(getattr(config, f.name))
    return out


def _to_plain(v: Any) -> Any:
    if dataclasses.is_dataclass(v):
        return to_dict(v)
    if isinstance(v, tuple):
        return [_to_plain(x) for x in v]
    return v


def from_dict(d: dict[str, Any], cls: type | None = None) -> Any:
    """Inverse of `to_dict`. Unknown keys are an error (they usually mean a typo or a newer format)."""
    if not isinstance(d, dict):
        raise ConfigError(f"a config must be a JSON object, got {type(d).__name__}")
    d = dict(d)
    tag = d.pop("type", None)
    if cls is None:
        if not isinstance(tag, str) or tag not in CONFIG_TYPES:
            raise ConfigError(f"unknown config type {tag!r:.60}; known: {sorted(CONFIG_TYPES)}")
        cls = CONFIG_TYPES[tag]
    elif tag is not None and tag != cls.__name__:
        raise ConfigError(f"expected a {cls.__name__} config, got {tag}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ConfigError(f"unknown {cls.__name__} fields {unknown}; allowed: {sorted(names)}")
    kwargs = {}
    for name, value in d.items():
        hint = hints[name]
        if isinstance(value, dict) and isinstance(hint, type) and dataclasses.is_dataclass(hint):
            value = from_dict(value, hint)
        elif isinstance(value, list):
            value = tuple(value)
        kwargs[name] = value
    return cls(**kwargs)


def to_json(config: Any, indent: int = 2) -> str:
    return json.dumps(to_dict(config), indent=indent)


def read_json_object(path: str | Path, what: str = "") -> dict[str, Any]:
    """The JSON object in file `path` (pipeline.json, presets, an HF config.json); a missing, unreadable or
    non-object file is a ConfigError naming it (`what` says what it was meant to be)."""
    path = Path(path)
    name = f"{what} {path}" if what else str(path)
    if not path.is_file():
        raise ConfigError(f"{name} does not exist")
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ConfigError(f"{name} is not valid JSON: {' '.join(str(e).split())[:200]}") from e
    if not isinstance(data, dict):
        raise ConfigError(f"{name} must hold a JSON object")
    return data


def from_json(text: str, cls: type | None = None) -> Any:
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as e:  # JSONDecodeError, or nesting deeper than Python's stack
        raise ConfigError(f"not valid JSON: {' '.join(str(e).split())[:200]}") from e
    return from_dict(data, cls)
