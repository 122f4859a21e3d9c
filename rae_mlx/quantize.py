"""Weight quantization (mlx.nn.quantize) of the linear layers, and saving / reloading models.

`quantize_model` turns every nn.Linear whose input width is a multiple of the group size into an
nn.QuantizedLinear (4- or 8-bit affine, per-group scales and biases); embeddings, the patch embedders
(convs), norms and the fixed tables stay in floating point. Layers whose shape does not allow it (e.g.
the DiT^DH head's SwiGLU w3 with 5461 inputs) are left alone. `save_model` writes a model folder
(config.json + model.safetensors, MLX layout) whose metadata records the quantization, so `load_model`
rebuilds the same quantized layers before loading the packed weights.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import mlx.core as mx
from mlx import nn
from mlx.utils import tree_flatten

from rae_spec.configs import to_json
from rae_spec.state_dict import CheckpointError

BITS = (2, 3, 4, 5, 6, 8)
FORMAT = "rae-mlx/model"


def quantizable(module: nn.Module, group_size: int) -> bool:
    return isinstance(module, nn.Linear) and module.weight.shape[1] % group_size == 0


def quantize_model(model: nn.Module, bits: int = 8, group_size: int = 64, mode: str = "affine",
                   skip: tuple[str, ...] = (), evaluate: bool = True) -> list[str]:
    """Quantize the eligible linear layers in place; returns their paths. `skip` lists path prefixes
    to keep in floating point. With evaluate=False the new weights stay lazy (the caller evaluates them)."""
    if bits not in BITS:
        raise ValueError(f"bits must be one of {BITS}, got {bits}")
    if group_size not in (32, 64, 128):
        raise ValueError(f"group_size must be 32, 64 or 128, got {group_size}")
    done: list[str] = []

    def predicate(path: str, module: nn.Module) -> bool:
        ok = quantizable(module, group_size) and not any(path.startswith(s) for s in skip)
        if ok:
            done.append(path)
        return ok

    nn.quantize(model, group_size=group_size, bits=bits, mode=mode, class_predicate=predicate)
    model.__dict__["_quantization"] = {"bits": bits, "group_size": group_size, "mode": mode, "layers": done}
    if evaluate:
        mx.eval(model.parameters())
    return done


def planned_parameters(config: Any, dtype: Any = None, bits: int | None = None, group_size: int = 64,
                       mode: str = "affine") -> tuple[list[str], dict[str, tuple[tuple[int, ...], str]]]:
    """(quantized layer paths, {key: (shape, dtype name)}) of `config`'s model cast to `dtype` and quantized
    to `bits` (None: not quantized), without computing anything: MLX arrays are lazy, so building, casting
    and quantizing a module only records shapes. Converters use this to write a quantized file tensor by
    tensor, with exactly the keys, shapes and dtypes `quantize_model` gives."""
    from .checkpoint import build_model, cast_model

    module = cast_model(build_model(config), dtype)
    layers: list[str] = []
    if bits is not None:
        def predicate(path: str, m: nn.Module) -> bool:
            ok = quantizable(m, group_size)
            if ok:
                layers.append(path)
            return ok

        nn.quantize(module, group_size=group_size, bits=bits, mode=mode, class_predicate=predicate)
    shapes = {k: (tuple(v.shape), str(v.dtype).split(".")[-1]) for k, v in tree_flatten(module.parameters())}
    return layers, shapes


def quantization_of(model: nn.Module) -> dict[str, Any] | None:
    return model.__dict__.get("_quantization")


def model_dtype(model: nn.Module) -> str:
    kinds = {str(v.dtype).split(".")[-1] for _, v in tree_flatten(model.parameters())
             if mx.issubdtype(v.dtype, mx.floating)}
    main = [k for k in ("bfloat16", "float16") if k in kinds]
    return main[0] if main else "float32"


def save_model(model: nn.Module, folder: str | Path, config: Any, provenance: dict[str, str] | None = None,
               ) -> Path:
    """Write `folder`/config.json and `folder`/model.safetensors (MLX layout, quantization recorded in
    the metadata), each atomically (temp file + rename)."""
    from rae_convert import __version__ as converter_version

    from rae_spec.files import atomic_write, write_text

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    quant = quantization_of(model)
    metadata = {"format": FORMAT, "layout": "mlx", "config_type": type(config).__name__,
                "dtype": model_dtype(model), "quantization": json.dumps(quant) if quant else "none",
                "converter_version": converter_version}
    metadata.update(provenance or {})
    arrays = dict(tree_flatten(model.parameters()))
    write_text(folder / "config.json", to_json(config))

    def write(tmp: str) -> None:
        # mx.save_safetensors appends ".safetensors" to names without it; write to such a name, then move.
        target = tmp + ".safetensors"
        mx.save_safetensors(target, arrays, metadata=metadata)
        os.replace(target, tmp)

    return atomic_write(folder / "model.safetensors", write)


def parse_quantization(text: str, path: str | Path = "<checkpoint>") -> dict[str, Any]:
    """The quantization recorded in a file's metadata, checked (it comes from the file, so it is input)."""
    try:
        quant = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise CheckpointError(f"{path}: its quantization metadata is not valid JSON") from e
    if not (isinstance(quant, dict) and quant.get("bits") in BITS and quant.get("group_size") in (32, 64, 128)
            and quant.get("mode", "affine") in ("affine", "mxfp4")
            and isinstance(quant.get("layers", []), list) and all(isinstance(x, str) for x in quant.get("layers", []))):
        raise CheckpointError(f"{path}: unsupported quantization metadata {text[:120]!r}")
    return quant


def load_quantized_weights(module: nn.Module, arrays: dict[str, mx.array], config: Any, quant: dict[str, Any],
                           path: str | Path = "<checkpoint>", dtype: Any = None) -> nn.Module:
    """Rebuild the recorded quantized layers of a fresh `module`, then load the packed weights strictly
    (names, shapes and dtypes as the rebuilt layers hold them; floating values finite), one tensor at a time
    (floating ones cast to `dtype` when given; the packed integers as they are). `arrays` is consumed."""
    from .checkpoint import load_arrays

    layers = set(quant.get("layers", ()))
    nn.quantize(module, group_size=quant["group_size"], bits=quant["bits"], mode=quant.get("mode", "affine"),
                class_predicate=lambda p, m: p in layers)
    expected = {k: tuple(v.shape) for k, v in tree_flatten(module.parameters())}
    missing = [k for k in expected if k not in arrays]
    unexpected = [k for k in arrays if k not in expected]
    mismatched = [f"{k}: file {tuple(arrays[k].shape)} vs expected {expected[k]}"
                  for k in expected if k in arrays and tuple(arrays[k].shape) != expected[k]]
    if missing or unexpected or mismatched:
        raise CheckpointError(f"{path} does not match a {quant['bits']}-bit quantized {type(config).__name__}: "
                              f"{len(missing)} missing (e.g. {missing[:3]}), {len(unexpected)} unexpected "
                              f"(e.g. {unexpected[:3]}), {len(mismatched)} shape mismatches (e.g. {mismatched[:2]})")
    current = dict(tree_flatten(module.parameters()))
    wrong = [f"{k} {str(arrays[k].dtype).split('.')[-1]}" for k in expected
             if mx.issubdtype(arrays[k].dtype, mx.floating) != mx.issubdtype(current[k].dtype, mx.floating)]
    if wrong:
        raise CheckpointError(f"{path}: {len(wrong)} tensors have the wrong kind of dtype for quantized weights "
                              f"(first: {', '.join(wrong[:5])}): unsupported dtype")
    load_arrays(module, arrays, dtype, keep_file_dtype=True, path=path)  # values checked for NaN / Inf there
    module.__dict__["_quantization"] = dict(quant)
    return module
