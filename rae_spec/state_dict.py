"""Finding a model's tensors inside any checkpoint object, backend-neutral (numpy, torch or mx arrays).

One set of rules for every loader (rae_torch, rae_mlx, rae_convert): EMA weights preferred ({'ema'}, then
{'model'} / {'state_dict'}), `module.` / `_orig_mod.` prefixes stripped, a model located inside a larger one
(a whole-RAE stage-1 checkpoint), unused keys dropped, a missing decoder `trainable_cls_token` filled with
zeros, and every key and shape checked against rae_spec's manifest, with errors that say what is wrong.
The values are checked too: model weights must be float32, float16 or bfloat16 and finite, so a damaged
file is refused with the names of its bad tensors instead of sampling black images.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .configs import DIT_CONFIGS, DecoderConfig, DiTDHConfig, EncoderConfig, RAEConfig, from_json
from .encoders import canonical_key
from .hf import load_encoder_config
from .parameters import model_parameters, optional_parameters, unused_parameters


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, unsafe, or holds the wrong model. The message says which."""


WRAPPER_PREFIXES = ("module.", "_orig_mod.")
WEIGHT_DTYPES = ("float32", "float16", "bfloat16")  # what model weights may be stored as


def is_array(value: Any) -> bool:
    return hasattr(value, "shape") and hasattr(value, "dtype") and not isinstance(value, (str, bytes))


def unwrap_state_dict(obj: Any, path: str | Path = "<checkpoint>") -> dict[str, Any]:
    """The model state dict inside a checkpoint object: EMA weights when present, then 'model' /
    'state_dict', else the object itself; `module.` / `_orig_mod.` prefixes stripped."""
    if not isinstance(obj, dict):
        raise CheckpointError(f"{path} holds a {type(obj).__name__}, not a state dict")
    for key in ("ema", "model", "state_dict"):
        if isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    out = {}
    for k, v in obj.items():
        if not is_array(v):
            continue
        while k.startswith(WRAPPER_PREFIXES):
            k = k.split(".", 1)[1]
        out[k] = v
    if not out:
        raise CheckpointError(f"{path} contains no tensors")
    return out


def _locate_prefix(sd: dict[str, Any], expected: dict[str, tuple]) -> str:
    """'' if the keys are already top-level, else the prefix under which the expected keys sit."""
    if any(k in sd for k in expected):
        return ""
    anchor = max(expected, key=len)
    for k in sd:
        if k.endswith("." + anchor):
            return k[: -len(anchor)]
    return ""


def summarize(config: Any) -> str:
    name = type(config).__name__
    if isinstance(config, DiTDHConfig):
        return f"{name}(hidden {list(config.hidden_size)}, depth {list(config.depth)}, input {config.input_size})"
    if isinstance(config, DecoderConfig):
        return f"{name}(width {config.hidden_size}, {config.num_layers} layers, {config.num_patches} tokens)"
    if isinstance(config, EncoderConfig):
        return f"{name}({config.kind}, width {config.hidden_size}, {config.num_layers} layers)"
    return name


def _first(items, n: int = 5) -> str:
    items = list(items)
    shown = ", ".join(items[:n])
    return shown + (f", ... ({len(items) - n} more)" if len(items) > n else "")


def canonical_keys(sd: dict[str, Any], config: Any) -> dict[str, Any]:
    """Encoder keys in the reference's spelling (transformers >= 5 renamed attention / MLP modules)."""
    if isinstance(config, EncoderConfig):
        return {canonical_key(k, config.kind): v for k, v in sd.items()}
    if isinstance(config, RAEConfig):
        kind = config.encoder.kind
        return {canonical_key(k, kind) if k.startswith("encoder.") else k: v for k, v in sd.items()}
    return sd


def select(sd: dict[str, Any], config: Any) -> dict[str, Any]:
    """The tensors of `config`'s model out of `sd` (prefixes located and removed, unused keys dropped)."""
    expected = model_parameters(config)
    sd = canonical_keys(sd, config)
    if isinstance(config, EncoderConfig) and config.record.weight_prefix:
        prefix = config.record.weight_prefix
        if not any(k.startswith(prefix) for k in sd):
            located = _locate_prefix(sd, expected)
            sd = {prefix + k[len(located):]: v for k, v in sd.items() if k.startswith(located)} if located else sd
            if not any(k.startswith(prefix) for k in sd):  # a bare tower state dict: add the prefix
                sd = {prefix + k: v for k, v in sd.items()}
        sd = {k: v for k, v in sd.items() if k.startswith(prefix)}  # drop text tower / MAE decoder
    else:
        prefix = _locate_prefix(sd, expected)
        if prefix:
            sd = {k[len(prefix):]: v for k, v in sd.items() if k.startswith(prefix)}
    unused = unused_parameters(config)
    return {k: v for k, v in sd.items() if k not in unused}


def dtype_name(value: Any) -> str:
    """'float32', 'bfloat16', 'int64', ... for a numpy, torch or mx array (or a numpy dtype)."""
    return str(getattr(value, "dtype", value)).rsplit(".", 1)[-1]


def numpy_finite(value: Any) -> bool:
    """Whether every element is finite. Fast path: any NaN or Inf makes the float32 sum non-finite, and a
    finite sum proves every element finite; only when the sum is not finite (a bad value, or an overflow of
    huge finite values) are the elements tested one by one. Each backend's test follows the same scheme
    (a sum costs a tenth of an element-wise test there). Tensors without values (torch's meta device, used
    to check layouts) pass."""
    if getattr(value, "is_meta", False):
        return True
    a = np.asarray(value)
    with np.errstate(over="ignore", invalid="ignore"):
        return bool(np.isfinite(a.sum(dtype=np.float32))) or bool(np.isfinite(a).all())


def check_weights(tensors: dict[str, Any], path: str | Path = "<checkpoint>",
                  finite: Callable[[Any], bool] | None = None) -> None:
    """Refuse weights that would sample garbage: integer or unsupported dtypes where floats are expected,
    NaN or Inf values. The error names the tensors. `finite(array)` is the backend's test (numpy default)."""
    bad = [(k, dtype_name(v)) for k, v in tensors.items() if dtype_name(v) not in WEIGHT_DTYPES]
    if bad:
        ints = [k for k, d in bad if d.startswith(("int", "uint", "bool"))]
        what = "integer values where float weights are expected" if ints else "an unsupported dtype"
        raise CheckpointError(f"{path}: {len(bad)} tensors hold {what} (first: "
                              f"{_first(f'{k} {d}' for k, d in bad)}); rae loads float32, float16 and bfloat16 "
                              "weights")
    finite = finite or numpy_finite
    nonfinite = [k for k, v in tensors.items() if not finite(v)]
    if nonfinite:
        raise nonfinite_error(nonfinite, path)


def nonfinite_error(names: list[str], path: str | Path = "<checkpoint>") -> CheckpointError:
    """The error for weights holding NaN or Inf (names: the tensors)."""
    return CheckpointError(f"{path}: {len(names)} tensors hold NaN or Inf values (first: {_first(names)}); "
                           "the file is damaged or comes from a diverged run")


def check_stats(stats: dict[str, Any], path: str | Path = "<checkpoint>",
                finite: Callable[[Any], bool] | None = None) -> None:
    """Latent statistics must be floating, finite, and the variance non-negative (up to the eps it gets)."""
    for name, value in stats.items():
        if value is None:
            continue
        if not dtype_name(value).startswith(("float", "bfloat")):
            raise CheckpointError(f"{path}: latent statistics '{name}' hold {dtype_name(value)} values, not floats")
        if not (finite or numpy_finite)(value):
            raise CheckpointError(f"{path}: latent statistics '{name}' hold NaN or Inf values; the file is damaged")
    var = stats.get("var")
    if var is not None and math.prod(var.shape) and float(var.min()) < -1e-5:
        raise CheckpointError(f"{path}: latent statistics 'var' hold negative variances; the file is damaged")


def check_file_size(path: str | Path, config: Any) -> None:
    """Refuse, before any model is built, a file too small to hold `config`'s weights even at 2 bits per
    value (the smallest quantization): a config.json describing a far bigger model than its weights."""
    from .parameters import parameter_count

    size = Path(path).stat().st_size
    count = parameter_count(config)
    if count // 4 > size:
        raise CheckpointError(f"{path} is too small ({size:,} bytes) for {summarize(config)}, whose {count:,} "
                              f"parameters need at least {count // 4:,} bytes: the file is truncated or corrupt, or "
                              "the config and the weights do not belong together")


def match_state_dict(sd: dict[str, Any], config: Any, path: str | Path = "<checkpoint>",
                     shapes: dict[str, tuple[int, ...]] | None = None,
                     finite: Callable[[Any], bool] | None = None) -> dict[str, Any]:
    """Select, check and complete the tensors for `config`; raise CheckpointError listing the first
    missing / unexpected keys and shape mismatches, with counts, and the config that was expected.
    `shapes` overrides the expected shapes (e.g. MLX layout); the default is the torch layout. Then the
    values are checked (`check_weights`, with the backend's `finite` test)."""
    expected = dict(shapes) if shapes is not None else model_parameters(config)
    sd = select(sd, config)
    for key in optional_parameters(config):
        if key not in sd and key in expected:
            sd[key] = np.zeros(expected[key], dtype=np.float32)  # the reference's non-strict load leaves zeros
    missing = [k for k in expected if k not in sd]
    unexpected = [k for k in sd if k not in expected]
    mismatched = [f"{k}: file {tuple(sd[k].shape)} vs expected {tuple(expected[k])}"
                  for k in expected if k in sd and tuple(sd[k].shape) != tuple(expected[k])]
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (first: {_first(missing)})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (first: {_first(unexpected)})")
        if mismatched:
            parts.append(f"{len(mismatched)} shape mismatches (first: {_first(mismatched, 3)})")
        raise CheckpointError(f"{path} does not match the expected {summarize(config)}: " + "; ".join(parts)
                              + ". Is it the right file for this model?")
    out = {k: sd[k] for k in expected}
    check_weights(out, path, finite)
    return out


# ------------------------------------------------------------------------------------------ files, stats, modules

WEIGHT_FILES = ("model.safetensors", "diffusion_pytorch_model.safetensors", "pytorch_model.bin")


def weights_file(folder: Path) -> Path:
    """The weights file of a model folder (ours, HF's or diffusers')."""
    for name in WEIGHT_FILES:
        if (folder / name).is_file():
            return folder / name  # pytorch_model.bin is a torch zip pickle: both backends read it
    raise CheckpointError(f"{folder} has no model.safetensors (or pytorch_model.bin)")


def folder_config(folder: Path) -> Any:
    """The config of a model folder: its config.json is ours (type-tagged, rae_spec.configs.to_json) or a
    Hugging Face encoder's."""
    cfg_file = folder / "config.json"
    if not cfg_file.is_file():
        raise CheckpointError(f"{folder} has no config.json; pass the model's config or preset")
    raw = json.loads(cfg_file.read_text())
    return from_json(cfg_file.read_text()) if "type" in raw else load_encoder_config(folder)


def model_kind(config: Any) -> str:
    """Which module a config builds: 'dit', 'decoder', 'encoder' or 'rae' (each backend's build_model)."""
    for kind, types in (("dit", DIT_CONFIGS), ("decoder", DecoderConfig),
                        ("encoder", EncoderConfig), ("rae", RAEConfig)):
        if isinstance(config, types):
            return kind
    raise TypeError(f"no module for {type(config).__name__}")


def mean_var(obj: Any, path: str | Path, shape: tuple[int, ...] | None, as_float32: Callable[[Any], Any],
             finite: Callable[[Any], bool] | None = None) -> tuple[Any, Any]:
    """(mean, var) of a stat.pt-style dict; either may be None or absent (DINOv2-B ships no mean). Each is
    checked (`check_stats`, with the backend's `finite`), converted by `as_float32` (to the backend's float32
    array) and reshaped to `shape` after its element count is checked."""
    if not isinstance(obj, dict) or not any(k in obj for k in ("mean", "var")):
        keys = sorted(obj) if isinstance(obj, dict) else type(obj).__name__
        raise CheckpointError(f"{path} is not a latent statistics file: expected keys 'mean' and/or 'var', "
                              f"found {keys}")
    out = []
    for name in ("mean", "var"):
        value = obj.get(name)
        if value is not None:
            if not is_array(value):
                raise CheckpointError(f"{path}: '{name}' is a {type(value).__name__}, not a tensor")
            check_stats({name: value}, path, finite=finite)
            value = as_float32(value)
            n = math.prod(value.shape)
            if shape is not None:
                if n != math.prod(shape):
                    raise CheckpointError(f"{path}: '{name}' has shape {tuple(value.shape)} ({n} values); "
                                          f"expected {shape} for this model")
                value = value.reshape(shape)
        out.append(value)
    return out[0], out[1]
