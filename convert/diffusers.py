"""diffusers' AutoencoderRAE format: a whole RAE in one folder, `config.json` + `diffusion_pytorch_model.safetensors`
(encoder, decoder and latent statistics), as `save_pretrained` writes it and as the nyu-visionx/RAE-* repos ship it.
Torch-free; rae_torch, rae_mlx and rae_convert all read it through `read` / `read_stats`.

Checked against diffusers 0.42.1 itself: tests/fixtures/diffusers_rae (a tiny model it saved, with its outputs)
and tests/fixtures/diffusers_presets (the full-size layout of each released repo, built on the meta device).

- config.json holds the constructor arguments; diffusers fills absent ones with DEFAULTS. It builds the encoder
  from them (nothing is downloaded): heads = width / 64, the transformers config's defaults otherwise, a
  position table for 518 px (DINOv2), 256 (SigLIP2) or 224 (MAE). Development versions named an HF encoder repo
  (`encoder_cls`, `encoder_name_or_path`) instead; their encoder sizes are read from the tensors.
- Tensors: the transformers encoder under `encoder.` (`encoder.model.` in development versions; SigLIP2 with or
  without its `vision_model.` level, which transformers >= 5.6 dropped; attention as `attention.attention.query`
  or `attention.q_proj`, depending on the transformers version), without the final LayerNorm's affine; the decoder
  under `decoder.` with diffusers' attention names (`attention.to_q` ... `attention.to_out.0`; the reference's
  also read); `decoder_pos_embed` not stored (recomputed with the reference's integer positions; diffusers scales
  them by 16 / grid, which differs from the reference's table at other than 16 x 16 latents); `encoder_mean` /
  `encoder_std` buffers (1, 3, 1, 1).
- Latent statistics: buffers `_latents_mean` (zeros(1) for none) and `_latents_std` = sqrt(var + 1e-5), read back
  as var = std^2 - 1e-5 (float rounding of about 1e-7 relative); or only config.json's `latents_mean` /
  `latents_std` lists; or the reference's `_latent_mean` / `_latent_var` (development versions); or none.

`read(path, config)` checks config.json against `config` first (an RAEConfig, or one part: EncoderConfig,
DecoderConfig, StatsConfig) and names every field that differs; then it reads only that part's tensors.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rae_spec.configs import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    ConfigError,
    DecoderConfig,
    EncoderConfig,
    RAEConfig,
    StatsConfig,
)
from rae_spec.encoders import encoder_kind
from rae_spec.hf import DIFFUSERS_WEIGHTS, encoder_config_from_hf
from rae_spec.state_dict import CheckpointError, summarize
from rae_spec.tables import sincos_2d

from . import safetensors_io

WEIGHTS = DIFFUSERS_WEIGHTS
CLASS_NAME = "AutoencoderRAE"
# AutoencoderRAE.__init__'s defaults in diffusers 0.42.1: what it builds for a field config.json lacks.
DEFAULTS: dict[str, Any] = {
    "encoder_type": "dinov2", "encoder_hidden_size": 768, "encoder_patch_size": 14, "encoder_num_hidden_layers": 12,
    "decoder_hidden_size": 512, "decoder_num_hidden_layers": 8, "decoder_num_attention_heads": 16,
    "decoder_intermediate_size": 2048, "patch_size": 16, "encoder_input_size": 224, "image_size": None,
    "num_channels": 3, "encoder_norm_mean": None, "encoder_norm_std": None, "latents_mean": None, "latents_std": None,
    "noise_tau": 0.0, "reshape_to_2d": True, "use_encoder_loss": False, "scaling_factor": 1.0,
}
HEAD_DIM = 64  # diffusers builds every encoder with width / 64 heads
ATTENTION = {"to_q": "attention.query", "to_k": "attention.key", "to_v": "attention.value", "to_out.0": "output.dense"}
BUFFERS = ("encoder_mean", "encoder_std", "_latents_mean", "_latents_std", "_latent_mean", "_latent_var")
STD_EPS = 1e-5  # diffusers' conversion stores std = sqrt(var + 1e-5)
# Fields that only act in training or only in diffusers' own code, never compared with a preset: noise_tau (the
# repos' decoders were trained with 0.8, "n08"; whether config.json says 0.8 or the converter's default 0 is
# unverified), use_encoder_loss, scaling_factor (diffusers multiplies its latents by it; reported in the notes).


# ------------------------------------------------------------------------------------------------ finding


def folder_of(path: str | Path) -> Path | None:
    """The diffusers AutoencoderRAE folder `path` is (or whose weights file it is), else None."""
    path = Path(path)
    if path.is_dir():
        folder = path
    elif path.name == WEIGHTS and path.is_file():
        folder = path.parent
    else:
        return None
    if (folder / "config.json").is_file():
        try:
            return folder if read_config(folder).get("_class_name") == CLASS_NAME else None
        except CheckpointError:
            return None
    return folder if path.is_dir() and (folder / WEIGHTS).is_file() else None


# Parsed config.json files by path, size and mtime: the released ones may carry the latent statistics as lists
# (up to 786k numbers, a noticeable parse), and one load looks at config.json several times.
_CONFIGS: dict[tuple[str, int, int], dict[str, Any]] = {}


def read_config(folder: Path) -> dict[str, Any]:
    """config.json of a folder (parsed once per version of the file; do not modify the result)."""
    cfg = folder / "config.json"
    if not cfg.is_file():
        raise CheckpointError(f"{folder} holds {WEIGHTS} but no config.json; a diffusers AutoencoderRAE folder needs "
                              "both (download config.json too)")
    st = cfg.stat()
    key = (str(cfg.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _CONFIGS:
        try:
            raw = json.loads(cfg.read_text())
        except (OSError, ValueError) as e:
            raise CheckpointError(f"{cfg} is not readable JSON ({e})") from e
        if not isinstance(raw, dict):
            raise CheckpointError(f"{cfg} does not hold a JSON object")
        if len(_CONFIGS) >= 16:
            _CONFIGS.clear()
        _CONFIGS[key] = raw
    return _CONFIGS[key]


# ------------------------------------------------------------------------------------------------ config


def fields(raw: dict[str, Any], shapes: dict[str, tuple[int, ...]], buffers: dict[str, np.ndarray]) -> dict[str, Any]:
    """config.json's values as diffusers uses them, plus what follows from them (`latent_grid`,
    `encoder_num_attention_heads`), with the file's mean / std buffers (what diffusers' forward uses)."""
    f = {**DEFAULTS, **{k: v for k, v in raw.items() if k in DEFAULTS and v is not None}}
    if "encoder_type" not in raw and "encoder_cls" in raw:
        f["encoder_type"] = raw["encoder_cls"]
    try:
        record = encoder_kind(f["encoder_type"])
    except ConfigError as e:
        raise CheckpointError(f"unsupported diffusers encoder type: {e}") from None
    f["encoder_type"] = record.kind
    if "encoder_name_or_path" in raw:  # development versions: the encoder's sizes came from that HF repo
        enc = {k[len("encoder."):]: s for k, s in shapes.items() if k.startswith("encoder.")}
        fc1 = next((s for k, s in enc.items() if k.endswith(("fc1.weight", "intermediate.dense.weight"))), None)
        blocks = {k.split(".layer.")[-1].split(".")[0] for k in enc if ".layer." in k}
        blocks |= {k.split(".layers.")[-1].split(".")[0] for k in enc if ".layers." in k}
        f["encoder_hidden_size"] = int(fc1[1]) if fc1 else f["encoder_hidden_size"]
        f["encoder_num_hidden_layers"] = len(blocks) or f["encoder_num_hidden_layers"]
        f["encoder_patch_size"] = int(raw.get("encoder_patch_size") or record.hf_defaults["patch_size"])
    for name, buffer, default in (("encoder_norm_mean", "encoder_mean", IMAGENET_MEAN),
                                  ("encoder_norm_std", "encoder_std", IMAGENET_STD)):
        if buffer in buffers:  # float32 -> the short decimals they were made from
            f[name] = [float(str(np.float32(v))) for v in np.asarray(buffers[buffer]).ravel()]
        f[name] = [float(v) for v in (f[name] if f[name] is not None else default)]
    f["latent_grid"] = int(f["encoder_input_size"]) // int(f["encoder_patch_size"])
    f["image_size"] = int(f["image_size"] or int(f["patch_size"]) * f["latent_grid"])
    f["encoder_num_attention_heads"] = int(f["encoder_hidden_size"]) // HEAD_DIM
    return f


def rae_config(f: dict[str, Any], shapes: dict[str, tuple[int, ...]]) -> RAEConfig:
    """The RAEConfig a folder holds, from `fields` and the tensors' shapes (MLP width, position table)."""
    kind = f["encoder_type"]
    record = encoder_kind(kind)
    enc = {k[len("encoder."):]: s for k, s in shapes.items() if k.startswith("encoder.")}
    fc1 = next((s for k, s in enc.items() if k.endswith(("fc1.weight", "intermediate.dense.weight"))), None)
    pos = next((s for k, s in enc.items() if k.endswith(("position_embeddings", "position_embedding.weight"))), None)
    hidden, patch = int(f["encoder_hidden_size"]), int(f["encoder_patch_size"])
    image = record.diffusers_image_size
    if pos is not None:  # the table has a row for the CLS token where the kind has one
        image = math.isqrt(pos[-2] - int(record.cls_token)) * patch
    hf = {"model_type": record.hf_model_types[0], "hidden_size": hidden, "patch_size": patch, "image_size": image,
          "num_hidden_layers": int(f["encoder_num_hidden_layers"]),
          "num_attention_heads": f["encoder_num_attention_heads"],
          "intermediate_size": int(fc1[0]) if fc1 is not None else 4 * hidden}
    encoder = encoder_config_from_hf(hf, {"image_mean": f["encoder_norm_mean"], "image_std": f["encoder_norm_std"]})
    grid = f["latent_grid"]
    decoder = DecoderConfig(hidden_size=int(f["decoder_hidden_size"]), num_layers=int(f["decoder_num_hidden_layers"]),
                            num_heads=int(f["decoder_num_attention_heads"]),
                            intermediate_size=int(f["decoder_intermediate_size"]), latent_dim=hidden,
                            num_patches=grid * grid, patch_size=int(f["patch_size"]),
                            num_channels=int(f["num_channels"]))
    return RAEConfig(encoder=encoder, decoder=decoder, encoder_input_size=int(f["encoder_input_size"]),
                     noise_tau=float(f["noise_tau"]), reshape_to_2d=bool(f["reshape_to_2d"]))


def expected_fields(config: Any) -> dict[str, Any]:
    """What `fields` must give for a folder holding `config` (an RAEConfig, or the part of one a model preset
    names: EncoderConfig, DecoderConfig or StatsConfig)."""
    if isinstance(config, RAEConfig):
        return {**expected_fields(config.encoder), **expected_fields(config.decoder),
                "encoder_input_size": config.encoder_input_size, "reshape_to_2d": config.reshape_to_2d}
    if isinstance(config, EncoderConfig):
        return {"encoder_type": config.kind, "encoder_hidden_size": config.hidden_size,
                "encoder_patch_size": config.patch_size, "encoder_num_hidden_layers": config.num_layers,
                "encoder_num_attention_heads": config.num_heads, "encoder_norm_mean": list(config.image_mean),
                "encoder_norm_std": list(config.image_std)}
    if isinstance(config, DecoderConfig):
        return {"encoder_hidden_size": config.latent_dim, "decoder_hidden_size": config.hidden_size,
                "decoder_num_hidden_layers": config.num_layers, "decoder_num_attention_heads": config.num_heads,
                "decoder_intermediate_size": config.intermediate_size, "patch_size": config.patch_size,
                "num_channels": config.num_channels, "latent_grid": config.grid_size, "image_size": config.image_size}
    if isinstance(config, StatsConfig):
        return {"encoder_hidden_size": config.channels, "latent_grid": config.grid_size}
    raise CheckpointError(f"a diffusers AutoencoderRAE folder holds no {type(config).__name__}")


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) or isinstance(b, float):
        return isinstance(a, (int, float)) and isinstance(b, (int, float)) and abs(a - b) <= 1e-6
    return a == b


def _describe(name: str, f: dict[str, Any]) -> str:
    if name == "latent_grid":
        return (f"latent grid {f['latent_grid']} x {f['latent_grid']} (encoder_input_size {f['encoder_input_size']} "
                f"/ encoder_patch_size {f['encoder_patch_size']})")
    if name == "encoder_num_attention_heads":
        return f"encoder heads {f[name]} (diffusers builds encoder_hidden_size / {HEAD_DIM})"
    return f"{name} {f[name]}"


def mismatches(f: dict[str, Any], config: Any) -> list[str]:
    """The fields where a folder (`fields`) differs from `config`, as 'name VALUE, expected WANT'."""
    want = expected_fields(config)
    out = [f"{_describe(k, f)}, expected {v}" for k, v in want.items() if not _same(f[k], v)]
    if isinstance(config, StatsConfig) and not config.has_mean and f.get("has_latent_mean"):
        out.append("latent statistics carry a mean, expected none (these latents are normalized by the variance "
                   "only)")
    return out


def check(f: dict[str, Any], config: Any, where: Path | str) -> None:
    bad = mismatches(f, config)
    if bad:
        raise CheckpointError(f"{where}/config.json does not describe the expected {summarize(config)}: "
                              + "; ".join(bad) + ". Is it the right repo or revision for this preset?")


# ------------------------------------------------------------------------------------------------ tensors


def official_key(key: str, kind: str) -> str | None:
    """The RAE-module key (`encoder.<reference HF names>`, `decoder.<reference names>`) of a diffusers key, or
    None for the buffers. Transformers >= 5 attention names are mapped later, by the kind's record
    (rae_spec.encoders)."""
    if key.startswith("decoder."):
        for short, full in ATTENTION.items():
            key = key.replace(f".attention.{short}.", f".attention.{full}.")
        return key
    if key.startswith("encoder."):
        rest = key[len("encoder."):]
        if rest.startswith("model."):
            rest = rest[len("model."):]
        prefix = encoder_kind(kind).weight_prefix
        if prefix and not rest.startswith(prefix):
            rest = prefix + rest
        return "encoder." + rest
    return None


def official_tensors(tensors: dict[str, Any], kind: str, part: str = "") -> dict[str, Any]:
    """`tensors` (any arrays, torch meta tensors included) under official names: RAE-module keys for the whole
    RAE (part ""), or the part's own keys (part "encoder." or "decoder."); buffers dropped."""
    out = {}
    for key, value in tensors.items():
        new = official_key(key, kind)
        if new is not None and new.startswith(part):
            out[new[len(part):]] = value
    return out


def stats_from(buffers: dict[str, np.ndarray], raw: dict[str, Any], notes: list[str]) -> dict[str, np.ndarray]:
    """{'mean'?, 'var'?} in the reference's terms, from the buffers or else config.json's lists ({} for none)."""
    def pick(name: str) -> np.ndarray | None:
        if name in buffers:
            return np.asarray(buffers[name], dtype=np.float32)
        value = raw.get(name.lstrip("_"))
        return np.asarray(value, dtype=np.float32) if value is not None else None

    mean, var = pick("_latent_mean"), pick("_latent_var")
    if mean is None and var is None:
        mean, std = pick("_latents_mean"), pick("_latents_std")
        if mean is not None and mean.size == 1 and float(mean.ravel()[0]) == 0.0:
            mean = None  # diffusers' placeholder for "no mean"
        if std is not None and std.size == 1 and float(std.ravel()[0]) == 1.0:
            std = None
        if std is not None:
            var = (std.astype(np.float64) ** 2 - STD_EPS).astype(np.float32)
            notes.append("latent variance recovered from diffusers' latents_std as std^2 - 1e-5 (float rounding of "
                         "about 1e-7 relative)")
    return {k: v for k, v in (("mean", mean), ("var", var)) if v is not None}


@dataclass
class Contents:
    """What `read` found: tensors in official names (RAE-module keys for a whole RAE, the part's own keys for a
    part), the latent statistics, the config the tensors follow, and notes for the user."""

    folder: Path
    weights: Path
    raw: dict[str, Any]
    config: Any
    tensors: dict[str, np.ndarray]
    stats: dict[str, np.ndarray]
    metadata: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def _open(path: str | Path) -> tuple[Path, dict[str, Any], dict[str, Any], dict[str, str]]:
    folder = folder_of(path)
    if folder is None:
        raise CheckpointError(f"{path} is not a diffusers AutoencoderRAE folder (config.json + {WEIGHTS})")
    raw = read_config(folder)
    weights = folder / WEIGHTS
    if not weights.is_file():
        raise CheckpointError(f"{folder} is a diffusers AutoencoderRAE folder without its {WEIGHTS}")
    try:
        header, metadata, _ = safetensors_io.read_header(weights)
    except safetensors_io.SafetensorsError as e:
        raise CheckpointError(str(e)) from e
    return folder, raw, header, metadata


def _tensors(weights: Path, wanted) -> dict[str, np.ndarray]:
    try:
        return safetensors_io.read(weights, select=wanted)[0]
    except safetensors_io.SafetensorsError as e:
        raise CheckpointError(str(e)) from e


def describe(path: str | Path) -> tuple[dict[str, Any], RAEConfig, dict[str, np.ndarray], list[str]]:
    """(fields, the RAEConfig it holds, latent statistics, notes) of a folder, reading only config.json, the
    safetensors header and the small buffers."""
    folder, raw, header, _ = _open(path)
    shapes = {k: tuple(v["shape"]) for k, v in header.items()}
    buffers = _tensors(folder / WEIGHTS, lambda k: k in BUFFERS)
    notes: list[str] = []
    stats = stats_from(buffers, raw, notes)
    f = {**fields(raw, shapes, buffers), "has_latent_mean": "mean" in stats}
    return f, rae_config(f, shapes), stats, notes


def check_folder(path: str | Path, config: Any) -> None:
    """Raise CheckpointError naming the fields where a folder's config.json differs from `config` (cheap: no
    tensor but the small buffers is read)."""
    f, *_ = describe(path)
    check(f, config, folder_of(path) or path)


def read(path: str | Path, config: Any = None) -> Contents:
    """The tensors of a diffusers AutoencoderRAE folder (or its weights file) for `config`: None or an RAEConfig
    for the whole RAE (RAE-module keys, statistics beside), a part's config for that part alone (its own keys;
    for StatsConfig the statistics as tensors 'mean' / 'var'). config.json is checked against `config` first."""
    folder, raw, _, metadata = _open(path)
    weights = folder / WEIGHTS
    f, derived, stats, notes = describe(folder)
    if config is not None:
        check(f, config, folder)
    if float(f["scaling_factor"]) != 1.0:
        notes.append(f"diffusers scaling_factor {f['scaling_factor']} is not part of the reference model and is "
                     "not applied")
    kind = derived.encoder.kind
    if isinstance(config, StatsConfig):
        if "var" not in stats:
            raise CheckpointError(f"{folder} carries no latent statistics (no _latents_std buffer, no latents_std "
                                  "in config.json)")
        if config.has_mean and "mean" not in stats:
            stats["mean"] = np.zeros_like(stats["var"])
            notes.append("no latent mean in the file: mean 0, as the reference reads an absent mean")
        return Contents(folder, weights, raw, config, dict(stats), stats, metadata, notes)
    part = "encoder." if isinstance(config, EncoderConfig) else "decoder." if isinstance(config, DecoderConfig) else ""
    if part:  # one network: the notes about the statistics and the latents' scaling are not about it
        notes, stats = [], {}
    tensors = official_tensors(_tensors(weights, lambda k: k.startswith(part or ("encoder.", "decoder."))), kind, part)
    pos = "decoder_pos_embed" if part == "decoder." else "decoder.decoder_pos_embed"
    if part != "encoder." and pos not in tensors:  # a non-persistent buffer in diffusers: recomputed there too
        d = derived.decoder
        tensors[pos] = sincos_2d(d.hidden_size, d.grid_size, cls_token=True)[None]
        notes.append("decoder_pos_embed is not stored by diffusers; recomputed as the reference's fixed sin-cos table")
        if d.grid_size != 16:
            notes.append(f"diffusers scales that table's positions by 16/{d.grid_size}, unlike the reference; this "
                         "model follows the reference, so its images differ from diffusers' own")
    return Contents(folder, weights, raw, config if config is not None else derived, tensors, stats, metadata, notes)


def read_stats(path: str | Path) -> tuple[dict[str, np.ndarray], list[str]]:
    """({'mean'?, 'var'?}, notes) of a diffusers AutoencoderRAE folder: only config.json and the small buffers are
    read. {} when the file carries none."""
    folder, raw, _, _ = _open(path)
    notes: list[str] = []
    return stats_from(_tensors(folder / WEIGHTS, lambda k: k in BUFFERS), raw, notes), notes
