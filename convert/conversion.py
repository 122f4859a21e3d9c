"""Plan and run a conversion: any source -> a model folder (config.json + model.safetensors).

    p = plan("stage2_model.pt", config=get_model("dit-dh-xl-256").config, direction="torch->mlx")
    print(p.describe())                 # what would be written; nothing is touched
    convert_file("stage2_model.pt", "dit-dh-xl-256-mlx", config, "torch->mlx", dtype="bfloat16")

Every tensor is matched against rae_spec's manifest (missing / unexpected keys, shapes) and mapped
through rae_convert.layout's table before anything is written; the files are then written atomically.
The safetensors metadata records the provenance: source file and sha256, converter version, layout,
dtype and quantization.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rae_spec.configs import RAEConfig, StatsConfig, to_dict, to_json
from rae_spec.files import check_output_folder, write_text
from rae_spec.parameters import expected_parameters
from rae_spec.state_dict import CheckpointError, check_stats, match_state_dict, summarize

from . import __version__, safetensors_io
from .layout import IDENTITY, LAYOUTS, change_layout, layout_plan
from .sources import Source, open_source, stats_config

FORMAT = "rae-mlx/model"
DTYPES = ("float32", "float16", "bfloat16")
# Tables that keep float32 in half-precision files (RoPE angles, the time embedding's frequencies).
KEEP_FLOAT32 = ("freqs_cos", "freqs_sin", "t_embedder.W")


@dataclass(frozen=True)
class Row:
    key: str
    source_shape: tuple[int, ...]
    target_shape: tuple[int, ...]
    transform: str
    source_dtype: str
    target_dtype: str


@dataclass
class Plan:
    """What a conversion reads, checks and writes. `describe()` is the dry-run report."""

    source: Source
    config: Any
    source_layout: str
    target_layout: str
    dtype: str | None
    quantize: dict[str, Any] | None
    dst: Path | None
    tensors: dict[str, np.ndarray] = field(repr=False, default_factory=dict)  # target layout, before casting
    rows: list[Row] = field(default_factory=list)
    stats: dict[str, np.ndarray] | None = None

    @property
    def files(self) -> list[str]:
        out = ["config.json", "model.safetensors"]
        return out + (["stats.safetensors"] if self.stats else [])

    def describe(self) -> str:
        src = self.source
        lines = [f"source      {src.path} ({src.kind}, {src.layout} layout, {len(src.tensors)} tensors)",
                 f"model       {summarize(self.config)}",
                 f"direction   {self.source_layout} -> {self.target_layout} layout",
                 f"dtype       {self.dtype or 'as stored (bfloat16 read as float32)'}",
                 f"quantize    {json.dumps(self.quantize) if self.quantize else 'none'}",
                 f"checked     {len(self.rows)} tensors against rae_spec's manifest: all present, shapes match"]
        moved = [r for r in self.rows if r.transform != IDENTITY.name]
        lines.append(f"layout      {len(self.rows) - len(moved)} tensors copied unchanged, {len(moved)} re-laid out:")
        lines += [f"              {r.key}: {r.source_shape} -> {r.target_shape} ({r.transform})" for r in moved]
        casts: dict[tuple[str, str], int] = {}
        for r in self.rows:
            if r.source_dtype != r.target_dtype:
                casts[(r.source_dtype, r.target_dtype)] = casts.get((r.source_dtype, r.target_dtype), 0) + 1
        for (a, b), n in sorted(casts.items()):
            lines.append(f"cast        {n} tensors {a} -> {b}")
        if self.stats:
            lines.append(f"stats       {', '.join(f'{k} {v.shape}' for k, v in self.stats.items())}")
        for note in src.notes:
            lines.append(f"note        {note}")
        where = self.dst if self.dst is not None else "<destination>"
        lines.append(f"writes      {', '.join(f'{where}/{f}' for f in self.files)} (atomically)")
        return "\n".join(lines)


def parse_direction(direction: str) -> tuple[str | None, str]:
    """'torch->mlx' / 'mlx->torch' (the source layout is checked), or just the target: 'mlx' / 'torch'."""
    d = direction.replace(" ", "").lower().replace("-to-", "->").replace("_to_", "->")
    if d in LAYOUTS:
        return None, d
    parts = d.split("->")
    if len(parts) == 2 and all(p in LAYOUTS for p in parts):
        return parts[0], parts[1]
    raise ValueError(f"direction must be 'torch->mlx', 'mlx->torch', 'mlx' or 'torch', got {direction!r}")


def _np_dtype_name(a: np.ndarray) -> str:
    return str(a.dtype)


def _target_dtype(key: str, value: np.ndarray, dtype: str | None) -> str:
    if dtype is None or not np.issubdtype(value.dtype, np.floating):
        return _np_dtype_name(value)
    if dtype != "float32" and any(key == s or key.endswith("." + s) or key.endswith(s) for s in KEEP_FLOAT32):
        return "float32"
    return dtype


def _parse_quantize(quantize: Any) -> dict[str, Any] | None:
    if quantize in (None, False, 0, "none"):
        return None
    q = {"bits": int(quantize)} if isinstance(quantize, (int, str)) else dict(quantize)
    q.setdefault("group_size", 64)
    q.setdefault("mode", "affine")
    if q["bits"] not in (4, 8, 2, 3, 5, 6):
        raise ValueError(f"quantize bits must be 4 or 8 (or 2, 3, 5, 6), got {q['bits']}")
    return q


def plan(src: str | Path, config: Any = None, direction: str = "torch->mlx", dtype: str | None = None,
         quantize: Any = None, dst: str | Path | None = None) -> Plan:
    """Read `src`, check every tensor against `config`'s manifest and the layout table; write nothing.

    config: a rae_spec config (required for bare files; folders carry their own). direction: see
    `parse_direction`. dtype: float32 | float16 | bfloat16 for floating tensors (None: as stored).
    quantize: None, 4, 8 or {'bits', 'group_size'} (MLX layout only)."""
    source = open_source(src, config)
    want_src, target = parse_direction(direction)
    if dtype is not None and dtype not in DTYPES:
        raise ValueError(f"dtype must be one of {DTYPES}, got {dtype!r}")
    quant = _parse_quantize(quantize)
    if quant and target != "mlx":
        raise ValueError("quantized weights exist only in MLX layout; use direction 'torch->mlx'")
    if source.kind.endswith("(quantized)"):
        raise CheckpointError(f"{source.path} holds quantized MLX weights; quantization is lossy and cannot be "
                              "undone. Convert from the unquantized file instead.")
    if want_src is not None and want_src != source.layout:
        raise CheckpointError(f"{source.path} is in {source.layout} layout, not {want_src}; "
                              f"use direction '{source.layout}->{target}'")
    config = config if config is not None else source.config
    if config is None and set(source.tensors) <= {"mean", "var"}:
        config = stats_config(source.tensors)
    if config is None:
        raise CheckpointError(f"{source.path}: a checkpoint file needs its config (a preset or a config.json)")
    if source.config is not None and config != source.config:
        raise CheckpointError(f"{source.path} comes with a config that differs from the one given: "
                              f"{summarize(source.config)} vs {summarize(config)}")
    if isinstance(config, StatsConfig):
        tensors = _stats_tensors(source, config)
    else:
        shapes = {k: e.shape(source.layout) for k, e in layout_plan(config).items()}
        matched = match_state_dict(source.tensors, config, source.path, shapes=shapes)
        tensors = change_layout(matched, config, source.layout, target)
    if quant:
        _check_quantizable(config)
    entries = layout_plan(config)
    rows = [Row(k, entries[k].shape(source.layout), tuple(v.shape),
                entries[k].transform.name if source.layout != target else IDENTITY.name,
                _np_dtype_name(v), _target_dtype(k, v, dtype)) for k, v in tensors.items()]
    stats = source.stats if source.stats and isinstance(config, RAEConfig) else None
    if stats:
        check_stats(stats, source.path)
    return Plan(source, config, source.layout, target, dtype, quant, Path(dst) if dst is not None else None,
                tensors, rows, stats)


def _stats_tensors(source: Source, config: StatsConfig) -> dict[str, np.ndarray]:
    expected = expected_parameters(config)
    check_stats(source.tensors, source.path)
    out = {}
    for k, shape in expected.items():
        if k not in source.tensors:
            raise CheckpointError(f"{source.path} has no '{k}' for {config}")
        v = np.asarray(source.tensors[k], dtype=np.float32)
        if v.size != int(np.prod(shape)):
            raise CheckpointError(f"{source.path}: '{k}' has shape {v.shape}; expected {shape}")
        out[k] = v.reshape(shape)
    extra = sorted(set(source.tensors) - set(expected))
    if extra:
        raise CheckpointError(f"{source.path}: unexpected statistics {extra} for {config}")
    return out


def _check_quantizable(config: Any) -> None:
    try:
        import rae_mlx  # noqa: F401
    except ImportError as e:
        raise CheckpointError("quantizing needs MLX (pip install 'rae-mlx[mlx]')") from e
    if isinstance(config, StatsConfig):
        raise ValueError("latent statistics cannot be quantized")


def _cast(tensors: dict[str, np.ndarray], rows: list[Row]) -> tuple[dict[str, np.ndarray], set[str]]:
    """Cast to the planned dtypes; bfloat16 tensors stay float32 here and are named for the writer."""
    out, bf16 = {}, set()
    for r in rows:
        v = tensors[r.key]
        if r.target_dtype == "bfloat16":
            bf16.add(r.key)
            out[r.key] = np.asarray(v, dtype=np.float32)
        else:
            out[r.key] = np.asarray(v).astype(r.target_dtype, copy=False)
    return out, bf16


def _provenance(p: Plan) -> dict[str, str]:
    src = p.source
    return {"format": FORMAT, "layout": p.target_layout, "config_type": type(p.config).__name__,
            "dtype": p.dtype or "as-source", "quantization": json.dumps(p.quantize) if p.quantize else "none",
            "source": src.path.name, "source_kind": src.kind, "source_sha256": src.sha256(),
            "converter": "rae_convert", "converter_version": __version__, "config": json.dumps(to_dict(p.config))}


def convert_file(src: str | Path, dst: str | Path, config: Any = None, direction: str = "torch->mlx",
                 dtype: str | None = None, quantize: Any = None, dry_run: bool = False,
                 overwrite: bool = False) -> Plan:
    """Convert `src` into the model folder `dst` (config.json + model.safetensors [+ stats.safetensors]).

    Everything is checked first (`plan`); with dry_run nothing is written. A `dst` that already holds files
    is refused unless `overwrite` (rae_spec.files.check_output_folder). Returns the plan."""
    if not dry_run:
        check_output_folder(dst, overwrite=overwrite, what="conversion folder")
    p = plan(src, config, direction, dtype, quantize, dst)
    if dry_run:
        return p
    dst = Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    meta = _provenance(p)
    if p.quantize:
        _write_quantized(p, dst, meta)
    else:
        tensors, bf16 = _cast(p.tensors, p.rows)
        safetensors_io.write(dst / "model.safetensors", tensors, meta, bf16=bf16)
        write_text(dst / "config.json", to_json(p.config))
    if p.stats:
        safetensors_io.write(dst / "stats.safetensors", p.stats, {**meta, "config_type": "StatsConfig"})
    return p


def _write_quantized(p: Plan, dst: Path, meta: dict[str, str]) -> None:
    from rae_mlx.checkpoint import build_model, cast_model, load_into
    from rae_mlx.quantize import quantize_model, save_model

    module = build_model(p.config)
    load_into(module, p.tensors, p.config, p.source.path, layout="mlx")
    cast_model(module, p.dtype or "float32")
    quantize_model(module, bits=p.quantize["bits"], group_size=p.quantize["group_size"], mode=p.quantize["mode"])
    meta = {k: v for k, v in meta.items() if k not in ("quantization", "dtype", "layout")}
    save_model(module, dst, p.config, meta)
