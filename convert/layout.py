"""The one key/transform table: how each tensor of each model moves between torch and MLX layouts.

Both backends keep the official key names; only convolution kernels change layout (torch OIHW, MLX
OHWI). The table names those keys per config type, and `layout_plan` checks it against rae_spec's
manifest before anything is converted: every table key must exist in the model, and every 4-D tensor of
the model must have a rule, so a new conv cannot be forgotten silently. Everything else is copied
bit for bit, which is why torch -> MLX -> torch round trips are exact.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from rae_spec.configs import DecoderConfig, DiTDHConfig, EncoderConfig, LightningDiTConfig, RAEConfig, StatsConfig
from rae_spec.parameters import model_parameters

LAYOUTS = ("torch", "mlx")


class LayoutError(ValueError):
    """The table and the manifest disagree, or a tensor's shape does not fit its rule."""


@dataclass(frozen=True)
class Transform:
    """A layout change between torch (`to_mlx` input) and MLX, with its inverse."""

    name: str
    to_mlx: Callable[[Any], Any]
    to_torch: Callable[[Any], Any]
    ndim: int | None = None  # the rank the rule applies to (checked), None for any

    def mlx_shape(self, torch_shape: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(self.to_mlx(np.empty(torch_shape, dtype=np.uint8)).shape)


def permute(a: Any, axes: tuple[int, ...]) -> Any:
    """Axis permutation for numpy, MLX and torch arrays alike (a view where the library allows)."""
    return a.permute(*axes) if hasattr(a, "permute") else a.transpose(axes)


IDENTITY = Transform("identity", lambda a: a, lambda a: a)
# Conv2d kernels: torch (out, in, kH, kW) <-> MLX (out, kH, kW, in).
CONV2D = Transform("conv2d OIHW<->OHWI", lambda a: permute(a, (0, 2, 3, 1)), lambda a: permute(a, (0, 3, 1, 2)),
                   ndim=4)

# Per config type: the keys whose layout differs. All other keys are IDENTITY. An encoder's only
# convolution is its patch embedding, named by its kind's record (rae_spec.encoders).
TABLE: dict[str, dict[str, Transform]] = {
    "DiTDHConfig": {"x_embedder.proj.weight": CONV2D, "s_embedder.proj.weight": CONV2D},
    "LightningDiTConfig": {"x_embedder.proj.weight": CONV2D},
    "DecoderConfig": {},
    "StatsConfig": {},
}


def table_for(config: Any) -> dict[str, Transform]:
    """The rules of `config` (an RAEConfig composes its encoder's and decoder's under their prefixes)."""
    if isinstance(config, RAEConfig):
        out = {f"encoder.{k}": v for k, v in table_for(config.encoder).items()}
        out.update({f"decoder.{k}": v for k, v in table_for(config.decoder).items()})
        return out
    if isinstance(config, EncoderConfig):
        return {config.record.patch_conv: CONV2D}
    if isinstance(config, (DiTDHConfig, LightningDiTConfig, DecoderConfig, StatsConfig)):
        return TABLE[type(config).__name__]
    raise LayoutError(f"no layout table for {type(config).__name__}")


def _manifest(config: Any) -> dict[str, tuple[int, ...]]:
    if isinstance(config, StatsConfig):
        from rae_spec.parameters import expected_parameters

        return expected_parameters(config)
    return model_parameters(config)


@dataclass(frozen=True)
class Entry:
    """One tensor of a model: its key, torch-layout shape, MLX-layout shape and transform."""

    key: str
    torch_shape: tuple[int, ...]
    mlx_shape: tuple[int, ...]
    transform: Transform

    def shape(self, layout: str) -> tuple[int, ...]:
        return self.torch_shape if layout == "torch" else self.mlx_shape


def layout_plan(config: Any) -> dict[str, Entry]:
    """Every tensor of `config`'s model with its transform, after checking the table against the manifest."""
    manifest = _manifest(config)
    rules = table_for(config)
    unknown = sorted(k for k in rules if k not in manifest)
    if unknown:
        raise LayoutError(f"layout table names keys the {type(config).__name__} model does not have: {unknown}")
    plan = {}
    for key, shape in manifest.items():
        rule = rules.get(key, IDENTITY)
        if rule is IDENTITY and len(shape) == 4:
            raise LayoutError(f"{key} is a 4-D (conv) tensor without a layout rule in rae_convert.layout.TABLE")
        if rule.ndim is not None and len(shape) != rule.ndim:
            raise LayoutError(f"{key}: rule {rule.name} expects a {rule.ndim}-D tensor, the manifest has {shape}")
        plan[key] = Entry(key, tuple(shape), rule.mlx_shape(tuple(shape)), rule)
    return plan


def change_layout(tensors: dict[str, Any], config: Any, src: str, dst: str) -> dict[str, Any]:
    """Re-lay out a complete state dict (torch or MLX layout) for `config`; shapes are asserted."""
    if src not in LAYOUTS or dst not in LAYOUTS:
        raise LayoutError(f"layouts are {LAYOUTS}, got {src!r} -> {dst!r}")
    plan = layout_plan(config)
    out = {}
    for key, value in tensors.items():
        entry = plan.get(key)
        if entry is None:
            raise LayoutError(f"{key} is not a tensor of the {type(config).__name__} model")
        if tuple(value.shape) != entry.shape(src):
            raise LayoutError(f"{key}: shape {tuple(value.shape)} does not match the {src} layout {entry.shape(src)}")
        if src == dst:
            out[key] = value
        else:
            out[key] = entry.transform.to_mlx(value) if dst == "mlx" else entry.transform.to_torch(value)
    return out
