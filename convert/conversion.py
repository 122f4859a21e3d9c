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
from rae_spec.parameters import expected_parameters, keeps_float32
from rae_spec.state_dict import CheckpointError, check_stats, match_state_dict, numpy_finite, summarize

from . import __version__, safetensors_io
from .layout import IDENTITY, LAYOUTS, change_layout, layout_plan
from .lazy_array import BFLOAT16, LazyArray
from .sources import Source, open_source, stats_config

FORMAT = "rae-mlx/model"
DTYPES = ("float32", "float16", "bfloat16")


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
    written: dict[str, str] = field(default_factory=dict)  # file name -> sha256, after convert_file

    @property
    def files(self) -> list[str]:
        out = ["config.json", "model.safetensors"]
        return out + (["stats.safetensors"] if self.stats else [])

    def _as_stored(self) -> str:
        """Without --dtype tensors keep their dtype, except bfloat16 (numpy has none): those become float32."""
        bf16 = sum(getattr(t, "stored", None) == BFLOAT16 for t in self.source.tensors.values())
        return f"as stored ({bf16} bfloat16 tensors written as float32, exactly)" if bf16 else "as stored"

    def describe(self) -> str:
        src = self.source
        lines = [f"source      {src.path} ({src.kind}, {src.layout} layout, {len(src.tensors)} tensors)",
                 f"model       {summarize(self.config)}",
                 f"direction   {self.source_layout} -> {self.target_layout} layout",
                 f"dtype       {self.dtype or self._as_stored()}",
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
    if dtype != "float32" and keeps_float32(key):
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


def _safetensors_dtype(name: str) -> str:
    return "BF16" if name == "bfloat16" else safetensors_io.NAMES[np.dtype(name)]


def _as_target(key: str, value: Any, target: str) -> np.ndarray:
    """One tensor, read now (if lazy) and cast to `target` (bfloat16: as uint16 bits), checked finite: the
    source's values were checked, so only a cast can make them infinite (float16 overflows above 65504)."""
    if target == "bfloat16":
        if isinstance(value, LazyArray) and value.stored_dtype == "bfloat16":
            out = value.read(bf16_bits=True)  # bf16 -> bf16: the stored bits, no rounding
        else:
            out = safetensors_io.f32_to_bf16(np.asarray(value, dtype=np.float32))
    else:
        out = np.asarray(value).astype(target, copy=False)
    return _finite_after_cast(key, out, target)


def _finite_after_cast(key: str, out: np.ndarray, target: str) -> np.ndarray:
    if out.dtype == np.uint16 and target == "bfloat16":
        bad = bool(((out & 0x7F80) == 0x7F80).any())  # exponent all ones: Inf or NaN
    else:
        bad = np.issubdtype(out.dtype, np.floating) and not numpy_finite(out)
    if bad:
        raise CheckpointError(f"{key}: its values do not fit {target} (they overflow to Inf); convert to "
                              "bfloat16 or float32 instead")
    return out


def _provenance(p: Plan, source_sha256: str | None = None) -> dict[str, str]:
    src = p.source
    return {"format": FORMAT, "layout": p.target_layout, "config_type": type(p.config).__name__,
            "dtype": p.dtype or "as-source", "quantization": json.dumps(p.quantize) if p.quantize else "none",
            "source": src.path.name, "source_kind": src.kind, "source_sha256": source_sha256 or src.sha256(),
            "converter": "rae_convert", "converter_version": __version__, "config": json.dumps(to_dict(p.config))}


def convert_file(src: str | Path, dst: str | Path, config: Any = None, direction: str = "torch->mlx",
                 dtype: str | None = None, quantize: Any = None, dry_run: bool = False,
                 overwrite: bool = False, source_sha256: str | None = None) -> Plan:
    """Convert `src` into the model folder `dst` (config.json + model.safetensors [+ stats.safetensors]).

    Everything is checked first (`plan`); with dry_run nothing is written. A `dst` that already holds files
    is refused unless `overwrite` (rae_spec.files.check_output_folder). Tensors are read, cast (and
    quantized) and written one at a time, so the memory used is that of the largest tensor, not of the
    model. `source_sha256` spares hashing the source again when the caller knows it. Returns the plan, with
    the sha256 of each file written in `plan.written`."""
    if not dry_run:
        check_output_folder(dst, overwrite=overwrite, what="conversion folder")
    p = plan(src, config, direction, dtype, quantize, dst)
    if dry_run:
        return p
    dst = Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    meta = _provenance(p, source_sha256)
    if p.quantize:
        p.written["model.safetensors"] = _write_quantized(p, dst, meta)
    else:
        specs = [safetensors_io.Spec(r.key, _safetensors_dtype(r.target_dtype), r.target_shape) for r in p.rows]
        targets = {r.key: r.target_dtype for r in p.rows}
        p.written["model.safetensors"] = safetensors_io.write_stream(
            dst / "model.safetensors", specs,
            lambda spec: _as_target(spec.name, p.tensors[spec.name], targets[spec.name]), meta)
    write_text(dst / "config.json", to_json(p.config))
    if p.stats:
        safetensors_io.write(dst / "stats.safetensors", p.stats, {**meta, "config_type": "StatsConfig"})
    return p


def _write_quantized(p: Plan, dst: Path, meta: dict[str, str]) -> str:
    """Cast and quantize layer by layer (MLX's mx.quantize, as rae_mlx.quantize_model does on a whole model),
    writing each tensor as it is ready. Returns the file's sha256."""
    import mlx.core as mx

    from rae_mlx.quantize import planned_parameters

    q = p.quantize
    layers, planned = planned_parameters(p.config, p.dtype or "float32", q["bits"], q["group_size"], q["mode"])
    quantized = set(layers)
    done: dict[str, np.ndarray] = {}

    def to_numpy(a: mx.array) -> np.ndarray:
        return np.array(a.view(mx.uint16)) if a.dtype == mx.bfloat16 else np.array(a)

    def produce(spec: safetensors_io.Spec) -> np.ndarray:
        layer, _, leaf = spec.name.rpartition(".")
        if layer in quantized and leaf in ("weight", "scales", "biases"):
            if spec.name not in done:
                dtype = getattr(mx, planned[layer + ".scales"][1])
                w = mx.array(np.asarray(p.tensors[layer + ".weight"], dtype=np.float32)).astype(dtype)
                parts = mx.quantize(w, q["group_size"], q["bits"], mode=q["mode"])
                mx.eval(*parts)
                done.update(zip((f"{layer}.weight", f"{layer}.scales", f"{layer}.biases"), map(to_numpy, parts),
                                strict=False))
            return _finite_after_cast(spec.name, done.pop(spec.name), planned[spec.name][1])
        return _as_target(spec.name, p.tensors[spec.name], planned[spec.name][1])

    specs = [safetensors_io.Spec(k, _safetensors_dtype(dt), shape) for k, (shape, dt) in planned.items()]
    floats = {dt for _, dt in planned.values()}
    record = {"bits": q["bits"], "group_size": q["group_size"], "mode": q["mode"], "layers": layers}
    meta = {**{k: v for k, v in meta.items() if k not in ("quantization", "dtype", "layout")},
            "layout": "mlx", "dtype": next((d for d in ("bfloat16", "float16") if d in floats), "float32"),
            "quantization": json.dumps(record)}
    return safetensors_io.write_stream(dst / "model.safetensors", specs, produce, meta)
