"""The reference implementation's YAML configs (bytetriper/RAE), read once for what they mean
(reference-spec §3-§6, §9). Sampling and reconstruction (`rae sample / reconstruct / convert --config`,
which find the files it names through rae_apps' store) and training (`rae train ... --config`, which maps
the training blocks onto its run configs) all read the blocks through `ReferenceConfig`.

Blocks: stage_1 (the RAE), stage_2 (the DiT), transport, sampler, guidance, misc (training adds training,
gan, eval). The meaning follows the reference's scripts; where its two sampling scripts differ, sample_ddp.py:
- guidance is on only when `scale > 1.0`; any method other than `autoguidance` is classifier-free guidance.
  The interval is `t_min` / `t-min` (and `t_max` / `t-max`; the underscore wins), inclusive at both ends.
- `sampler.params.num_steps` counts grid points (50 points = 49 model steps); `sampling_method` defaults
  to dopri5 as in the reference, an adaptive solver rae does not provide; the fixed-grid methods of
  rae_spec.samplers are supported, with torchdiffeq's stage times.
- the time shift is sqrt(time_dist_shift_dim / time_dist_shift_base), the dim defaulting to
  prod(misc.latent_size) (768*16*16 without one), the base to 4096.
- the encoder class is one of rae_spec.encoders' `reference_class`es; its weights come from
  `encoder_params.<the kind's weights param>` (else `encoder_config_path`), its pixel mean/std from
  `encoder_config_path`'s processor config; the decoder config is a ViTMAE JSON whose hidden_size,
  patch_size and image_size the RAE overrides (the reference repo's configs/decoder/ViT{B,L,XL} are built in).

Paths stay strings here: a local path, `hf://org/repo/path` or `org/repo/path` for a hub file, `org/repo`
for an HF model folder, and `models/<path>` for a file of nyu-visionx/RAE-collections (`hub_file`).
YAML is read with yaml.SafeLoader only (plus OmegaConf's float spellings and `${a.b}` interpolation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import samplers, yaml_files
from .configs import (
    DECODER_SIZES,
    ConfigError,
    DecoderConfig,
    DiTDHConfig,
    GuidanceConfig,
    LightningDiTConfig,
    SamplerConfig,
    TransportConfig,
    from_dict,
)
from .encoders import REFERENCE_CLASSES, EncoderKind
from .presets import RAE_REPO

RAE_PARAMS = {"encoder_cls", "encoder_config_path", "encoder_input_size", "encoder_params", "decoder_config_path",
              "decoder_patch_size", "pretrained_decoder_path", "noise_tau", "reshape_to_2d",
              "normalization_stat_path", "eps"}
DIT_TARGETS = {"DiTwDDTHead": DiTDHConfig, "LightningDiT": LightningDiTConfig}
DEFAULT_SHIFT_DIM = 768 * 16 * 16  # the reference's default when misc has neither dim nor latent_size


# ------------------------------------------------------------------------------------------------ YAML


def load_yaml(path: str | Path) -> dict[str, Any]:
    """The YAML as plain dicts (yaml.SafeLoader), floats such as `1e-6` read as floats (as OmegaConf
    does) and `${a.b}` interpolations resolved, within rae_spec.yaml_files' bounds (size, aliases, nesting,
    interpolation cycles)."""
    return yaml_files.load_yaml(path, what="config")


def is_reference_config(data: dict[str, Any]) -> bool:
    return any(k in data for k in ("stage_1", "stage_2", "gan", "misc"))


def hub_file(value: str) -> tuple[str, str] | None:
    """(repo, path in repo) of a hub file reference: hf://org/repo/path, models/<path> (the reference's
    download of nyu-visionx/RAE-collections) or org/repo/path; None for anything else."""
    if value.startswith("hf://"):
        parts = value[5:].split("/")
        if len(parts) < 3:
            raise ConfigError(f"hub file {value!r} must look like hf://org/repo/path/to/file")
        return "/".join(parts[:2]), "/".join(parts[2:])
    if value.startswith("models/"):
        return RAE_REPO, value[len("models/"):]
    parts = value.split("/")
    if len(parts) >= 3 and not value.startswith((".", "/", "~")):
        return "/".join(parts[:2]), "/".join(parts[2:])
    return None


def builtin_decoder_size(path: Any) -> str | None:
    """'configs/decoder/ViTXL' -> 'XL': the reference repo's decoder configs, whose numbers are built in."""
    size = Path(str(path)).name.removeprefix("ViT")
    return size if size in DECODER_SIZES else None


def decoder_config_json(size: str) -> dict[str, Any]:
    """The ViTMAE config.json fields of a built-in decoder size (B, L, XL)."""
    s = DECODER_SIZES[size]
    return {"decoder_hidden_size": s["hidden_size"], "decoder_num_hidden_layers": s["num_layers"],
            "decoder_num_attention_heads": s["num_heads"], "decoder_intermediate_size": s["intermediate_size"]}


# ------------------------------------------------------------------------------------------------ blocks


@dataclass(frozen=True)
class Stage1:
    """What stage_1 names: the encoder kind and where its weights and pixel statistics come from, the
    decoder, the latent statistics, and the RAE's own settings. Paths are unresolved strings."""

    encoder: EncoderKind
    encoder_weights: str          # HF id or folder of the encoder's weights (and architecture)
    encoder_config_path: str      # HF id or folder whose processor config gives the pixel mean / std
    encoder_input_size: int
    decoder_config_path: str
    decoder_patch_size: int
    decoder_weights: str | None   # pretrained_decoder_path
    stats: str | None             # normalization_stat_path
    noise_tau: float
    eps: float

    @property
    def encoder_weights_param(self) -> str:
        return f"stage_1 encoder_params.{self.encoder.reference_weights_param}"

    def tokens(self, patch_size: int) -> int:
        if self.encoder_input_size % patch_size:
            raise ConfigError(f"encoder_input_size {self.encoder_input_size} is not a multiple of the encoder "
                              f"patch {patch_size}")
        return (self.encoder_input_size // patch_size) ** 2


@dataclass(frozen=True)
class DiT:
    """A stage_2 (or guidance_model) block: the model's config and its checkpoint path (None: none given)."""

    config: DiTDHConfig | LightningDiTConfig
    ckpt: str | None
    what: str  # where it was written ('stage_2', 'guidance.guidance_model')


@dataclass(frozen=True)
class Guidance:
    """The guidance block as written: method (anything but autoguidance means cfg), scale, interval and
    the autoguidance guide's block."""

    method: str  # "cfg" | "autoguidance"
    scale: float
    t_min: float
    t_max: float
    guide: DiT | None

    @property
    def guided(self) -> bool:
        """Whether the reference guides at all: scale > 1 and a non-empty interval."""
        return self.scale > 1.0 and self.t_min < self.t_max

    def config(self) -> GuidanceConfig:
        """What the reference's samplers do with it."""
        return GuidanceConfig(self.method, self.scale, self.t_min, self.t_max) if self.guided else GuidanceConfig()


class ReferenceConfig:
    """A reference YAML's blocks, read for what they mean. `notes` collects what a user should know
    about how it was read (defaults taken, spellings interpreted)."""

    def __init__(self, data: dict[str, Any], path: str | Path | None = None):
        self.data = data
        self.path = Path(path) if path is not None else None
        self.notes: list[str] = []

    @classmethod
    def load(cls, path: str | Path) -> ReferenceConfig:
        return cls(load_yaml(path), path)

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def block(self, name: str, required: bool = True) -> dict[str, Any]:
        value = self.data.get(name)
        if value is None:
            if required:
                raise ConfigError(f"the config has no {name} block")
            return {}
        if not isinstance(value, dict):
            raise ConfigError(f"the config's {name} block must be a mapping")
        return value

    # -------------------------------------------------------------------------------------- stage 1

    def stage1(self) -> Stage1:
        block = self.block("stage_1")
        target = str(block.get("target", ""))
        if target.split(".")[-1] != "RAE":
            raise ConfigError(f"stage_1.target must be stage1.RAE, got {target!r}")
        p = dict(block.get("params") or {})
        unknown = sorted(set(p) - RAE_PARAMS)
        if unknown:
            raise ConfigError(f"stage_1.params has unknown keys {unknown}; the reference's RAE takes "
                              f"{sorted(RAE_PARAMS)}")
        cls = p.get("encoder_cls", "Dinov2withNorm")
        if cls not in REFERENCE_CLASSES:
            raise ConfigError(f"stage_1.params.encoder_cls {cls!r} is not one of {sorted(REFERENCE_CLASSES)}")
        kind = REFERENCE_CLASSES[cls]
        enc_params = dict(p.get("encoder_params") or {})
        if kind.registers and not enc_params.get("normalize", True):
            raise ConfigError("encoder_params.normalize: False (an affine final LayerNorm) is not supported; "
                              "every released RAE uses normalize: True")
        if not p.get("reshape_to_2d", True):
            raise ConfigError("stage_1.params.reshape_to_2d: False is not supported (DiTs read 2-D latents)")
        config_path = str(p.get("encoder_config_path", "facebook/dinov2-base"))
        weights = enc_params.get(kind.reference_weights_param) or config_path
        return Stage1(encoder=kind, encoder_weights=str(weights), encoder_config_path=config_path,
                      encoder_input_size=int(p.get("encoder_input_size", 224)),
                      decoder_config_path=str(p.get("decoder_config_path", "vit_mae-base")),
                      decoder_patch_size=int(p.get("decoder_patch_size", 16)),
                      decoder_weights=_optional_str(p.get("pretrained_decoder_path")),
                      stats=_optional_str(p.get("normalization_stat_path")),
                      noise_tau=float(p.get("noise_tau", 0.8)), eps=float(p.get("eps", 1e-5)))

    # -------------------------------------------------------------------------------------- stage 2

    def dit(self, block: dict[str, Any], what: str) -> DiT:
        """A DiTwDDTHead / LightningDiT block (target, params, ckpt)."""
        target = str(block.get("target", ""))
        name = target.split(".")[-1]
        if name not in DIT_TARGETS:
            raise ConfigError(f"{what}.target must be a DiTwDDTHead or LightningDiT, got {target!r}")
        params = dict(block.get("params") or {})
        if name == "DiTwDDTHead":
            ps = params.get("patch_size", 1)
            if isinstance(ps, (list, tuple)):
                if len(set(ps)) != 1:
                    raise ConfigError(f"{what}.params.patch_size {ps}: different s / x patch sizes are not supported")
                params["patch_size"] = int(ps[0])
        else:
            params.pop("use_gembed", None)  # accepted and unused by the reference
        try:
            config = from_dict(params, DIT_TARGETS[name])
        except (ValueError, TypeError) as e:
            raise ConfigError(f"{what}.params: {' '.join(str(e).split())}") from e
        return DiT(config, _optional_str(block.get("ckpt")), what)

    def stage2(self) -> DiT:
        return self.dit(self.block("stage_2"), "stage_2")

    def guidance(self, scale: float | None = None) -> Guidance:
        """The guidance block (`scale` overrides it, as training's `cfg_scale` does)."""
        g = self.block("guidance", required=False)
        scale = float(g.get("scale", 1.0)) if scale is None else float(scale)
        written = str(g.get("method", "cfg"))
        t_min, t_max = _dashed(g, "t_min", 0.0), _dashed(g, "t_max", 1.0)
        method = written if written in ("cfg", "autoguidance") else "cfg"
        out = Guidance(method, scale, t_min, t_max, None)
        if scale <= 1.0:
            if scale < 1.0:
                self.note(f"guidance scale {scale} <= 1: unguided, as in the reference")
            return out
        if written != method:
            self.note(f"guidance method {written!r} is not autoguidance, so the reference runs classifier-free "
                      "guidance: so does rae")
        if t_min > t_max:
            self.note(f"guidance interval [{t_min}, {t_max}] is empty: unguided")
            return out
        if t_min == t_max:
            raise ConfigError(f"a guidance interval of one point ({t_min}) is not supported")
        if method == "autoguidance":
            if not isinstance(g.get("guidance_model"), dict):
                raise ConfigError("guidance method autoguidance needs a guidance.guidance_model block "
                                  "(target, params, ckpt)")
            out = Guidance(method, scale, t_min, t_max, self.dit(g["guidance_model"], "guidance.guidance_model"))
        return out

    def sampler(self) -> SamplerConfig:
        """The sampler block as a SamplerConfig (methods and their spellings: rae_spec.samplers)."""
        s = self.block("sampler", required=False)
        mode = str(s.get("mode", "ODE")).lower()
        if mode not in samplers.MODES:
            raise ConfigError(f"sampler.mode must be ODE or SDE, got {s.get('mode')!r}")
        p = dict(s.get("params") or {})
        steps = int(p.get("num_steps", 50 if mode == "ode" else 250))
        method = str(p.get("sampling_method", "dopri5" if mode == "ode" else "Euler"))
        try:
            canonical = samplers.method(method, mode)
        except ValueError as e:
            raise ConfigError(f"{e}; set sampler.params.sampling_method to one of them") from None
        if mode == "ode":
            if p.get("reverse", False):
                raise ConfigError("sampler.params.reverse: True integrates data to noise; it cannot generate images")
            if method.lower() == "heun":
                self.note("sampling_method 'heun' is read as torchdiffeq's heun2 (the reference rejects 'heun')")
            return SamplerConfig(mode="ode", method=canonical.name, num_steps=steps)
        form = str(p.get("diffusion_form", "SBDM"))
        if form not in samplers.SDE_DIFFUSION_FORMS:
            raise ConfigError(f"SDE diffusion_form {form!r} is not supported (the reference's SBDM gives NaN under "
                              "this time convention); use sigma or constant")
        self.note("SDE: rae draws the per-step noise from numpy and ends on the ODE's grid (no last_step), so it "
                  "does not reproduce the reference's torch-RNG trajectories")
        return SamplerConfig(mode="sde", method=canonical.name, num_steps=steps,
                             diffusion_form=samplers.SDE_DIFFUSION_FORMS[form],
                             diffusion_norm=float(p.get("diffusion_norm", 1.0)))

    # -------------------------------------------------------------------------------------- transport, misc

    def transport(self, latent_shape: tuple[int, ...]) -> TransportConfig:
        """Path and prediction checked (Linear, velocity), the training time distribution, and the shift
        sqrt(dim / base) (`shift`)."""
        t = self.block("transport", required=False).get("params") or {}
        if t.get("path_type", "Linear") != "Linear":
            raise ConfigError(f"transport path_type {t.get('path_type')!r} is not supported (Linear only)")
        if t.get("prediction", "velocity") != "velocity":
            raise ConfigError(f"transport prediction {t.get('prediction')!r} is not supported (velocity only)")
        dim, base = self._shift_dim_base(latent_shape)
        return TransportConfig(time_dist_type=str(t.get("time_dist_type", "uniform")), time_dist_shift_dim=dim,
                               time_dist_shift_base=base)

    def _shift_dim_base(self, latent_shape: tuple[int, ...]) -> tuple[int, int]:
        misc = self.block("misc", required=False)
        latent = misc.get("latent_size")
        if latent is not None and tuple(int(v) for v in latent) != tuple(latent_shape):
            raise ConfigError(f"misc.latent_size {list(latent)} does not match the DiT's latents {list(latent_shape)}")
        dim = misc.get("time_dist_shift_dim", math.prod(int(v) for v in latent) if latent is not None
                       else DEFAULT_SHIFT_DIM)
        if "time_dist_shift_dim" not in misc and dim != DEFAULT_SHIFT_DIM:
            self.note(f"misc.time_dist_shift_dim is not set: using prod(latent_size) = {dim}, as the reference's "
                      f"sample_ddp.py does (its sample.py would use {DEFAULT_SHIFT_DIM})")
        base = misc.get("time_dist_shift_base", 4096)
        if math.sqrt(float(dim) / float(base)) < 1.0:
            raise ConfigError(f"time shift sqrt({dim}/{base}) = {math.sqrt(float(dim) / float(base)):.4f} is below 1, "
                              "which the reference rejects; set misc.time_dist_shift_dim")
        return int(dim), int(base)

    def shift(self, latent_shape: tuple[int, ...]) -> float:
        """The sampling time shift sqrt(time_dist_shift_dim / time_dist_shift_base)."""
        return self.transport(latent_shape).time_dist_shift

    def check_classes(self, dit: DiTDHConfig | LightningDiTConfig) -> None:
        """misc.num_classes and misc.null_label must agree with the DiT (the null class is num_classes)."""
        misc = self.block("misc", required=False)
        num_classes = misc.get("num_classes")
        if num_classes is not None and int(num_classes) != dit.num_classes:
            raise ConfigError(f"misc.num_classes {num_classes} differs from stage_2's num_classes {dit.num_classes}")
        null_label = misc.get("null_label")
        if null_label is not None and int(null_label) != dit.num_classes:
            raise ConfigError(f"misc.null_label {null_label} is not supported: the null class of a DiT is its "
                              f"num_classes ({dit.num_classes})")


def _dashed(block: dict[str, Any], key: str, default: float) -> float:
    """block[key], else block[key with '-' for '_'] (the reference's scripts accept both), else default."""
    if key in block:
        return float(block[key])
    return float(block.get(key.replace("_", "-"), default))


def _optional_str(value: Any) -> str | None:
    return None if value is None else str(value)


def decoder_config(raw: dict[str, Any], latent_dim: int, num_patches: int, patch_size: int) -> DecoderConfig:
    """The RAE's decoder from a ViTMAE config.json (hidden_size, patch_size and image_size overridden)."""
    from .hf import decoder_config_from_json

    if raw.get("qkv_bias") is False:
        raise ConfigError("decoder configs with qkv_bias: false are not supported")
    return decoder_config_from_json(raw, latent_dim=latent_dim, num_patches=num_patches, patch_size=patch_size)
