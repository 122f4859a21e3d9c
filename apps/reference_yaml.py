"""The reference implementation's YAML configs, read for what they mean (reference-spec §3-§5, §9).

Blocks: stage_1 (the RAE), stage_2 (the DiT), transport, sampler, guidance, misc; other blocks
(training, eval, ...) are ignored, as the reference's sampling scripts ignore them. The meaning follows
the reference's sample_ddp.py where its two sampling scripts differ:
- guidance is on only when `scale > 1.0`; `cfg` with scale 1.0 is the plain conditional model, and any
  method other than `autoguidance` is classifier-free guidance. The interval is read from `t_min` /
  `t-min` (and `t_max` / `t-max`), inclusive at both ends. The autoguidance guide gets the class labels.
- `sampler.params.num_steps` counts grid points (50 points = 49 model steps); `sampling_method`
  defaults to dopri5 as in the reference, an adaptive solver rae does not provide; torchdiffeq's
  fixed-grid methods (euler, heun2, heun3, midpoint, rk4) are supported, with the same stage times.
- the time shift is sqrt(time_dist_shift_dim / time_dist_shift_base), the dim defaulting to
  prod(misc.latent_size) (768*16*16 without one), the base to 4096.
- checkpoints load raw or from their 'ema' entry; stats may lack a mean; the decoder config is the
  reference's ViTMAE JSON with hidden_size, patch_size and image_size overridden by the RAE.

Paths: a local file or folder (relative paths are looked up from the current folder, then from the
YAML's folder and each folder above it), `hf://org/repo/path` or `org/repo/path` for a file on the hub,
`org/repo` for an HF model folder, and `models/<path>` for a file of nyu-visionx/RAE-collections (the
reference's README downloads that collection into models/). Hub files come from the Store (cache or
models folder), so everything works offline once downloaded.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rae_spec import yaml_files
from rae_spec.configs import (
    DECODER_SIZES,
    ConfigError,
    DecoderConfig,
    DiTDHConfig,
    EncoderConfig,
    GuidanceConfig,
    LightningDiTConfig,
    RAEConfig,
    SamplerConfig,
    StatsConfig,
    from_dict,
)
from rae_spec.hf import decoder_config_from_json, encoder_config_from_hf
from rae_spec.presets import MODELS, RAE_REPO

from .errors import MissingFileError, UserError
from .hub import Store
from .pipeline import AutoencoderPipeline, SamplingPipeline, Weights, check_compatible

ENCODER_CLASSES = {"Dinov2withNorm": ("dinov2", "dinov2_path"), "SigLIP2wNorm": ("siglip2", "model_name"),
                   "MAEwNorm": ("mae", "model_name")}
RAE_PARAMS = {"encoder_cls", "encoder_config_path", "encoder_input_size", "encoder_params", "decoder_config_path",
              "decoder_patch_size", "pretrained_decoder_path", "noise_tau", "reshape_to_2d",
              "normalization_stat_path", "eps"}
ENCODER_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
ODE_METHODS = {"euler": "euler", "heun2": "heun", "heun": "heun", "heun3": "heun3", "midpoint": "midpoint",
               "rk4": "rk4"}


# ------------------------------------------------------------------------------------------------ YAML


def load_yaml(path: str | Path) -> dict[str, Any]:
    """The YAML as plain dicts, floats such as `1e-6` read as floats (as OmegaConf does) and
    `${a.b}` interpolations resolved, within rae_spec.yaml_files' bounds (aliases, nesting, cycles)."""
    return yaml_files.load_yaml(path, what="config")


# ------------------------------------------------------------------------------------------------ paths


class Resolver:
    """Turns the config's path strings into local files, fetching hub files through the Store."""

    def __init__(self, config_path: Path, store: Store, download: bool):
        self.config_path = config_path.resolve()
        self.store = store
        self.download = download
        self.notes: list[str] = []

    def hint(self) -> str:
        return f"run `rae download --config {self.config_path}`"

    def _bases(self) -> Iterator[Path]:
        yield Path.cwd()
        yield from [self.config_path.parent, *self.config_path.parent.parents]

    def local(self, value: str) -> Path | None:
        p = Path(value).expanduser()
        if p.is_absolute():
            return p if p.exists() else None
        for base in self._bases():
            if (base / p).exists():
                return base / p
        return None

    def file(self, value: Any, what: str) -> tuple[Path, str]:
        """(local path, origin) of a file named by a path or a hub reference."""
        if not isinstance(value, str) or not value:
            raise UserError(f"{what} must be a path, got {value!r}")
        local = self.local(value)
        if local is not None:
            if not local.is_file():
                raise UserError(f"{what} {value!r} is a folder, not a checkpoint file")
            return local, value
        repo, filename = self._hub_file(value)
        if repo is None:
            raise UserError(f"{what} {value!r} is not a local file (looked in {Path.cwd()} and beside the config) "
                            "and not a hub file (hf://org/repo/path)")
        try:
            path = self.store.get(repo, filename, download=self.download, hint=self.hint())
        except MissingFileError as e:
            if value.startswith("hf://"):
                raise
            raise MissingFileError(f"{what} {value!r} is not a local file (looked in {Path.cwd()} and beside the "
                                   f"config); read as a hub file: {e}") from e
        return path, f"{repo}/{filename}"

    def _hub_file(self, value: str) -> tuple[str | None, str]:
        if value.startswith("hf://"):
            parts = value[5:].split("/")
            if len(parts) < 3:
                raise UserError(f"hub file {value!r} must look like hf://org/repo/path/to/file")
            return "/".join(parts[:2]), "/".join(parts[2:])
        if value.startswith("models/"):
            return RAE_REPO, value[len("models/"):]
        parts = value.split("/")
        if len(parts) >= 3 and not value.startswith((".", "/", "~")):
            return "/".join(parts[:2]), "/".join(parts[2:])
        return None, ""

    def folder_json(self, value: Any, name: str, what: str) -> dict[str, Any]:
        """A JSON file (config.json, preprocessor_config.json) of a local folder or an HF repo id."""
        if not isinstance(value, str) or not value:
            raise UserError(f"{what} must be a folder or a hub id, got {value!r}")
        local = self.local(value)
        if local is not None:
            if not (local / name).is_file():
                raise UserError(f"{what} {value!r} has no {name}")
            return _read_json(local / name)
        if value.startswith((".", "/", "~")) or value.count("/") != 1:
            raise UserError(f"{what} {value!r} is neither a local folder nor a hub model id (org/name)")
        return _read_json(self.store.get(value, name, download=self.download, hint=self.hint()))

    def weights_in(self, value: str, what: str) -> tuple[Path, str]:
        """The weights file of an HF model folder or repo id (model.safetensors, else pytorch_model.bin)."""
        local = self.local(value)
        if local is not None:
            for name in ENCODER_WEIGHTS:
                if (local / name).is_file():
                    return local / name, str(local / name)
            raise UserError(f"{what} {value!r} has no {' or '.join(ENCODER_WEIGHTS)}")
        path = self.store.get(value, ENCODER_WEIGHTS[0], download=self.download, hint=self.hint())
        return path, f"{value}/{ENCODER_WEIGHTS[0]}"


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path} is not valid JSON: {e}") from e
    if not isinstance(data, dict):
        raise UserError(f"{path} must hold a JSON object")
    return data


def _block(cfg: dict, name: str, required: bool = True) -> dict[str, Any]:
    value = cfg.get(name)
    if value is None:
        if required:
            raise UserError(f"the config has no {name} block")
        return {}
    if not isinstance(value, dict):
        raise UserError(f"the config's {name} block must be a mapping")
    return value


# ------------------------------------------------------------------------------------------------ stage 1


def _stage1(cfg: dict, r: Resolver, need_encoder_weights: bool) -> tuple[RAEConfig, Weights, Weights | None,
                                                                         Weights | None]:
    """(RAEConfig, decoder, stats, encoder weights or None) from the stage_1 block."""
    block = _block(cfg, "stage_1")
    target = str(block.get("target", ""))
    if target.split(".")[-1] != "RAE":
        raise UserError(f"stage_1.target must be stage1.RAE, got {target!r}")
    p = dict(block.get("params") or {})
    unknown = sorted(set(p) - RAE_PARAMS)
    if unknown:
        raise UserError(f"stage_1.params has unknown keys {unknown}; the reference's RAE takes {sorted(RAE_PARAMS)}")
    cls = p.get("encoder_cls", "Dinov2withNorm")
    if cls not in ENCODER_CLASSES:
        raise UserError(f"stage_1.params.encoder_cls {cls!r} is not one of {sorted(ENCODER_CLASSES)}")
    kind, weights_key = ENCODER_CLASSES[cls]
    enc_params = dict(p.get("encoder_params") or {})
    if kind == "dinov2" and not enc_params.get("normalize", True):
        raise UserError("encoder_params.normalize: False (an affine final LayerNorm) is not supported; "
                        "every released RAE uses normalize: True")
    config_path = p.get("encoder_config_path", "facebook/dinov2-base")
    weights_path = enc_params.get(weights_key) or config_path
    encoder = _encoder_config(r, weights_path, config_path, weights_key)
    if encoder.kind != kind:
        raise UserError(f"stage_1 encoder_cls {cls} expects a {kind} model, but {weights_path!r} is {encoder.kind}")
    if not p.get("reshape_to_2d", True):
        raise UserError("stage_1.params.reshape_to_2d: False is not supported (DiTs read 2-D latents)")
    input_size = int(p.get("encoder_input_size", 224))
    if input_size % encoder.patch_size:
        raise UserError(f"encoder_input_size {input_size} is not a multiple of the encoder patch "
                        f"{encoder.patch_size}")
    tokens = (input_size // encoder.patch_size) ** 2
    decoder = _decoder_config(p.get("decoder_config_path", "vit_mae-base"), r, encoder.hidden_size, tokens,
                              int(p.get("decoder_patch_size", 16)))
    rae = RAEConfig(encoder=encoder, decoder=decoder, encoder_input_size=input_size,
                    eps=float(p.get("eps", 1e-5)))
    if p.get("pretrained_decoder_path") is None:
        raise UserError("stage_1.params.pretrained_decoder_path is not set: there are no decoder weights to use")
    dec_path, dec_origin = r.file(p["pretrained_decoder_path"], "stage_1.params.pretrained_decoder_path")
    stats = None
    if p.get("normalization_stat_path") is not None:
        s_path, s_origin = r.file(p["normalization_stat_path"], "stage_1.params.normalization_stat_path")
        stats = Weights(StatsConfig(*rae.latent_shape[:2]), s_path, s_origin)
    enc_weights = None
    if need_encoder_weights:
        e_path, e_origin = r.weights_in(weights_path, f"stage_1 encoder_params.{weights_key}")
        enc_weights = Weights(encoder, e_path, e_origin)
    return rae, Weights(decoder, dec_path, dec_origin), stats, enc_weights


def _encoder_config(r: Resolver, weights_path: str, config_path: str, weights_key: str) -> EncoderConfig:
    """The architecture from the weights' config.json, the pixel mean/std from the processor config (as the
    reference reads them); a released encoder's hub id that cannot be fetched falls back to its preset."""
    try:
        arch = r.folder_json(weights_path, "config.json", f"stage_1 encoder_params.{weights_key}")
        pre = r.folder_json(config_path, "preprocessor_config.json",
                            "stage_1.params.encoder_config_path (the source of the image mean and std)")
    except MissingFileError:
        known = [m.config for m in MODELS.values() if m.kind == "encoder" and m.config.hf_repo == weights_path]
        if not known or weights_path != config_path:
            raise
        r.notes.append(f"{weights_path} is not downloaded: using its built-in config (preset)")
        return known[0]
    try:
        return encoder_config_from_hf(arch, pre, hf_repo=weights_path if "/" in weights_path else None)
    except ValueError as e:
        raise UserError(f"stage_1 encoder config: {e}") from e


def _decoder_config(value: Any, r: Resolver, latent_dim: int, tokens: int, patch: int) -> DecoderConfig:
    try:
        raw = r.folder_json(value, "config.json", "stage_1.params.decoder_config_path")
    except UserError:
        size = Path(str(value)).name.removeprefix("ViT")
        if size not in DECODER_SIZES:
            raise
        # The reference repo's configs/decoder/ViT{B,L,XL}: same numbers as the built-in ones.
        r.notes.append(f"decoder_config_path {value!r} is not here; using the reference's ViT-{size} decoder "
                       "config (built in)")
        sizes = DECODER_SIZES[size]
        raw = {"decoder_hidden_size": sizes["hidden_size"], "decoder_num_hidden_layers": sizes["num_layers"],
               "decoder_num_attention_heads": sizes["num_heads"],
               "decoder_intermediate_size": sizes["intermediate_size"]}
    if raw.get("qkv_bias") is False:
        raise UserError("decoder configs with qkv_bias: false are not supported")
    return decoder_config_from_json(raw, latent_dim=latent_dim, num_patches=tokens, patch_size=patch)


# ------------------------------------------------------------------------------------------------ stage 2


def _dit_config(block: dict, what: str) -> DiTDHConfig | LightningDiTConfig:
    target = str(block.get("target", ""))
    name = target.split(".")[-1]
    params = dict(block.get("params") or {})
    if name == "DiTwDDTHead":
        cls = DiTDHConfig
        ps = params.get("patch_size", 1)
        if isinstance(ps, (list, tuple)):
            if len(set(ps)) != 1:
                raise UserError(f"{what}.params.patch_size {ps}: different s / x patch sizes are not supported")
            params["patch_size"] = int(ps[0])
    elif name == "LightningDiT":
        cls = LightningDiTConfig
        params.pop("use_gembed", None)  # accepted and unused by the reference
    else:
        raise UserError(f"{what}.target must be a DiTwDDTHead or LightningDiT, got {target!r}")
    try:
        return from_dict(params, cls)
    except (ValueError, TypeError) as e:
        raise UserError(f"{what}.params: {' '.join(str(e).split())}") from e


def _dit(block: dict, what: str, r: Resolver) -> Weights:
    config = _dit_config(block, what)
    if block.get("ckpt") is None:
        raise UserError(f"{what} has no ckpt: there are no weights to sample with")
    path, origin = r.file(block["ckpt"], f"{what}.ckpt")
    return Weights(config, path, origin)


def _guidance_value(g: dict, key: str, default: float) -> float:
    if key in g:
        return float(g[key])
    return float(g.get(key.replace("_", "-"), default))


def _guidance(cfg: dict, r: Resolver) -> tuple[GuidanceConfig, Weights | None]:
    g = _block(cfg, "guidance", required=False)
    scale = float(g.get("scale", 1.0))
    method = str(g.get("method", "cfg"))
    t_min, t_max = _guidance_value(g, "t_min", 0.0), _guidance_value(g, "t_max", 1.0)
    if scale <= 1.0:
        if scale < 1.0:
            r.notes.append(f"guidance scale {scale} <= 1: unguided, as in the reference")
        return GuidanceConfig("none"), None
    if method not in ("cfg", "autoguidance"):
        r.notes.append(f"guidance method {method!r} is not autoguidance, so the reference runs "
                       "classifier-free guidance: so does rae")
        method = "cfg"
    if t_min > t_max:
        r.notes.append(f"guidance interval [{t_min}, {t_max}] is empty: unguided")
        return GuidanceConfig("none"), None
    if t_min == t_max:
        raise UserError(f"a guidance interval of one point ({t_min}) is not supported")
    guidance = GuidanceConfig(method, scale, t_min, t_max)
    if method != "autoguidance":
        return guidance, None
    if not isinstance(g.get("guidance_model"), dict):
        raise UserError("guidance method autoguidance needs a guidance.guidance_model block (target, params, ckpt)")
    return guidance, _dit(g["guidance_model"], "guidance.guidance_model", r)


def _sampler(cfg: dict, r: Resolver) -> SamplerConfig:
    s = _block(cfg, "sampler", required=False)
    mode = str(s.get("mode", "ODE")).upper()
    p = dict(s.get("params") or {})
    steps = int(p.get("num_steps", 50 if mode == "ODE" else 250))
    if mode == "ODE":
        method = str(p.get("sampling_method", "dopri5"))
        if method not in ODE_METHODS:
            raise UserError(f"sampler method {method!r} is not supported: rae integrates the ODE on the reference's "
                            "fixed grid with torchdiffeq's fixed-grid methods (euler, heun2, heun3, midpoint, rk4); "
                            "set sampler.params.sampling_method to one of them")
        if p.get("reverse", False):
            raise UserError("sampler.params.reverse: True integrates data to noise; it cannot generate images")
        if method == "heun":
            r.notes.append("sampling_method 'heun' is read as torchdiffeq's heun2 (the reference rejects 'heun')")
        return SamplerConfig(mode="ode", method=ODE_METHODS[method], num_steps=steps)
    if mode == "SDE":
        method = str(p.get("sampling_method", "Euler")).lower()
        if method != "euler":
            raise UserError(f"SDE sampling_method {method!r} is not supported; rae's SDE sampler is Euler-Maruyama")
        form = str(p.get("diffusion_form", "SBDM"))
        forms = {"sigma": "sigma", "linear": "sigma", "constant": "constant"}
        if form not in forms:
            raise UserError(f"SDE diffusion_form {form!r} is not supported (the reference's SBDM gives NaN under "
                            "this time convention); use sigma or constant")
        r.notes.append("SDE: rae draws the per-step noise from numpy and ends on the ODE's grid (no last_step), "
                       "so it does not reproduce the reference's torch-RNG trajectories")
        return SamplerConfig(mode="sde", method="euler", num_steps=steps, diffusion_form=forms[form],
                             diffusion_norm=float(p.get("diffusion_norm", 1.0)))
    raise UserError(f"sampler.mode must be ODE or SDE, got {s.get('mode')!r}")


def _check_transport(cfg: dict) -> None:
    t = _block(cfg, "transport", required=False).get("params") or {}
    if t.get("path_type", "Linear") != "Linear":
        raise UserError(f"transport path_type {t.get('path_type')!r} is not supported (Linear only)")
    if t.get("prediction", "velocity") != "velocity":
        raise UserError(f"transport prediction {t.get('prediction')!r} is not supported (velocity only)")


def _shift(misc: dict, latent_shape: tuple[int, ...], r: Resolver) -> float:
    latent = misc.get("latent_size")
    if latent is not None and tuple(int(v) for v in latent) != tuple(latent_shape):
        raise UserError(f"misc.latent_size {list(latent)} does not match the DiT's latents {list(latent_shape)}")
    dim = misc.get("time_dist_shift_dim", math.prod(int(v) for v in latent) if latent is not None else 768 * 16 * 16)
    if "time_dist_shift_dim" not in misc and dim != 768 * 16 * 16:
        r.notes.append(f"misc.time_dist_shift_dim is not set: using prod(latent_size) = {dim}, as the reference's "
                       "sample_ddp.py does (its sample.py would use 196608)")
    base = misc.get("time_dist_shift_base", 4096)
    shift = math.sqrt(float(dim) / float(base))
    if shift < 1.0:
        raise UserError(f"time shift sqrt({dim}/{base}) = {shift:.4f} is below 1, which the reference rejects; "
                        "set misc.time_dist_shift_dim")
    return shift


# ------------------------------------------------------------------------------------------------ API


@contextlib.contextmanager
def _values_of(path: Path) -> Iterator[None]:
    """Interpreting the YAML's values: a value of the wrong type or form (a mapping where a number belongs,
    a word where a size belongs) surfaces as a TypeError / ValueError somewhere in the reading; it is the
    file's fault, so it becomes a UserError naming the file."""
    try:
        yield
    except (UserError, ConfigError):
        raise
    except (TypeError, ValueError, KeyError, AttributeError, OverflowError) as e:
        raise UserError(f"config {path} has a value of the wrong type or form: {' '.join(str(e).split())[:200]}") \
            from e


def sampling_pipeline(path: str | Path, store: Store, *, download: bool = True) -> SamplingPipeline:
    """Everything a reference sampling YAML means, with its files found (or fetched)."""
    path = Path(path)
    with _values_of(path):
        return _sampling_pipeline(path, store, download)


def _sampling_pipeline(path: Path, store: Store, download: bool) -> SamplingPipeline:
    cfg = load_yaml(path)
    r = Resolver(path, store, download)
    _check_transport(cfg)
    rae, decoder, stats, _ = _stage1(cfg, r, need_encoder_weights=False)
    s2 = _block(cfg, "stage_2")
    dit = _dit(s2, "stage_2", r)
    guidance, guide = _guidance(cfg, r)
    sampler = _sampler(cfg, r)
    misc = _block(cfg, "misc", required=False)
    num_classes = misc.get("num_classes")
    if num_classes is not None and int(num_classes) != dit.config.num_classes:
        raise UserError(f"misc.num_classes {num_classes} differs from stage_2's num_classes {dit.config.num_classes}")
    null_label = misc.get("null_label")
    if null_label is not None and int(null_label) != dit.config.num_classes:
        raise UserError(f"misc.null_label {null_label} is not supported: the null class of a DiT is its num_classes "
                        f"({dit.config.num_classes})")
    shift = _shift(misc, tuple(dit.config.latent_shape), r)
    return check_compatible(SamplingPipeline(
        dit=dit, decoder=decoder, stats=stats, guide=guide, rae=rae, sampler=sampler, guidance=guidance, shift=shift,
        source={"config": str(path.resolve())}, notes=tuple(r.notes)))


def autoencoder_pipeline(path: str | Path, store: Store, *, download: bool = True) -> AutoencoderPipeline:
    """The RAE of a reference YAML's stage_1 block, encoder weights included."""
    path = Path(path)
    with _values_of(path):
        cfg = load_yaml(path)
        r = Resolver(path, store, download)
        rae, decoder, stats, encoder = _stage1(cfg, r, need_encoder_weights=True)
    assert encoder is not None
    return AutoencoderPipeline(encoder=encoder, decoder=decoder, stats=stats, rae=rae,
                               source={"config": str(path.resolve())}, notes=tuple(r.notes))
