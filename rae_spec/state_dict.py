"""Finding a model's tensors inside any checkpoint object, backend-neutral (numpy, torch or mx arrays).

One set of rules for every loader (rae_torch, rae_mlx, rae_convert): EMA weights preferred ({'ema'}, then
{'model'} / {'state_dict'}), `module.` / `_orig_mod.` prefixes stripped, a model located inside a larger one
(a whole-RAE stage-1 checkpoint), unused keys dropped, a missing decoder `trainable_cls_token` filled with
zeros, and every key and shape checked against rae_spec's manifest, with errors that say what is wrong.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .configs import DecoderConfig, DiTDHConfig, EncoderConfig, RAEConfig
from .encoders import canonical_key
from .parameters import model_parameters, optional_parameters, unused_parameters


class CheckpointError(ValueError):
    """A checkpoint is missing, unreadable, unsafe, or holds the wrong model. The message says which."""


WRAPPER_PREFIXES = ("module.", "_orig_mod.")


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


def match_state_dict(sd: dict[str, Any], config: Any, path: str | Path = "<checkpoint>",
                     shapes: dict[str, tuple[int, ...]] | None = None) -> dict[str, Any]:
    """Select, check and complete the tensors for `config`; raise CheckpointError listing the first
    missing / unexpected keys and shape mismatches, with counts, and the config that was expected.
    `shapes` overrides the expected shapes (e.g. MLX layout); the default is the torch layout."""
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
    return {k: sd[k] for k in expected}
