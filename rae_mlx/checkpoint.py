"""Reading released, converted and quantized checkpoints into rae_mlx modules, without torch.

Accepted inputs: torch zip pickles (`model.pt`, `stat.pt`, `stage2_model.pt`, training checkpoints),
read by rae_convert.torch_pickle's allow-list unpickler (never runs code, needs no torch); safetensors
files (HF encoder folders, official / converted weights in torch or MLX layout, quantized MLX weights);
model folders (`config.json` + `model.safetensors`, ours or HF's); and diffusers AutoencoderRAE folders
(the whole RAE, or one part of it: rae_convert.diffusers, no conversion needed). Keys are matched against
rae_spec's manifest with the same rules and messages as rae_torch.checkpoint; conv kernels are moved to
MLX's OHWI layout through rae_convert.layout's table.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlx.core as mx
import numpy as np
from mlx import nn
from mlx.utils import tree_flatten, tree_unflatten
from rae_convert import diffusers
from rae_convert.layout import change_layout, layout_plan
from rae_convert.sources import stats_object

from rae_spec.configs import RAEConfig, StatsConfig
from rae_spec.parameters import keeps_float32
from rae_spec.state_dict import (
    CheckpointError,
    check_file_size,
    folder_config,
    match_state_dict,
    mean_var,
    model_kind,
    nonfinite_error,
    numpy_finite,
    unwrap_state_dict,
    weights_file,
)

DTYPES = {"float32": mx.float32, "float16": mx.float16, "bfloat16": mx.bfloat16}
# What mx.load reads from safetensors; files with other dtypes (F64) are read with numpy instead, so the
# weights check can name the tensors and say "unsupported dtype" rather than "corrupt".
MLX_SAFETENSORS_DTYPES = {"F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U64", "U32", "U16", "U8", "BOOL"}


def resolve_dtype(dtype: Any) -> mx.Dtype | None:
    if dtype is None or isinstance(dtype, mx.Dtype):
        return dtype
    if str(dtype) not in DTYPES:
        raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
    return DTYPES[str(dtype)]


def read_checkpoint(path: str | Path, lazy: bool = False) -> tuple[Any, dict[str, str]]:
    """(raw object, safetensors metadata) of a .safetensors file or a torch zip pickle. Tensors come back
    as mx.arrays (safetensors: `mx.load` is lazy, nothing is read until an array is evaluated) or numpy
    arrays (pickles); with `lazy`, pickles give rae_convert LazyArrays, read one at a time when loaded."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if path.suffix == ".safetensors":
        from rae_convert.safetensors_io import SafetensorsError, read_header

        try:
            header, _, _ = read_header(path)  # every entry checked against the file (and a word on dtypes) first
        except SafetensorsError as e:
            raise CheckpointError(str(e)) from e
        if any(entry["dtype"] not in MLX_SAFETENSORS_DTYPES for entry in header.values()):
            from rae_convert.safetensors_io import read  # numpy reads them; the loaders then say what is wrong

            return read(path)
        try:
            arrays, metadata = mx.load(str(path), return_metadata=True)
        except (RuntimeError, ValueError) as e:
            raise CheckpointError(f"{path} is not a readable safetensors file; it is truncated or corrupt ({e})") from e
        return arrays, metadata or {}
    from rae_convert.torch_pickle import TorchPickleError, UnsafeGlobalError, load

    try:
        return load(path, lazy=lazy), {}
    except UnsafeGlobalError as e:
        raise CheckpointError(f"refusing to load {path}: it is a pickle that needs arbitrary code to unpickle "
                              f"(global {e.global_name}). rae only loads tensors (an allow-list unpickler, as "
                              "torch.load with weights_only=True). If you trust the file, re-save its state dict as "
                              "safetensors and load that.") from e
    except TorchPickleError as e:
        msg = str(e)
        if "truncated or corrupt" not in msg:
            msg = f"{path} is truncated or corrupt and cannot be read as a torch checkpoint ({msg})"
        raise CheckpointError(msg) from e


def build_model(config: Any) -> nn.Module:
    """A fresh module for any model config."""
    from .decoder import ViTDecoder
    from .dit import build_dit
    from .encoders import build_encoder
    from .rae import RAE

    return {"dit": build_dit, "decoder": ViTDecoder, "encoder": build_encoder, "rae": RAE}[model_kind(config)](config)


def random_model(config: Any, dtype: Any = None, bits: int | None = None, group_size: int = 64) -> nn.Module:
    """A model of `config` with random weights (its initializers), built straight into `dtype` and quantized to
    `bits`, one tensor at a time: the shapes and memory of the real model without its file (`rae doctor`)."""
    from .quantize import quantize_model

    module = cast_model(build_model(config), dtype)
    if bits is not None:
        quantize_model(module, bits=bits, group_size=group_size, evaluate=False)
    for _, v in tree_flatten(module.parameters()):
        mx.eval(v)  # init -> cast -> quantize of one tensor; its float32 source is freed before the next
    return module.eval()


def target_dtype(key: str, current: mx.Dtype, dtype: mx.Dtype | None) -> mx.Dtype:
    """The dtype parameter `key` (now `current`) takes in a model cast to `dtype` (rae_spec's KEEP_FLOAT32
    tables and integer tensors keep theirs)."""
    if dtype is None or not mx.issubdtype(current, mx.floating) or keeps_float32(key):
        return current
    return dtype


def cast_model(module: nn.Module, dtype: Any) -> nn.Module:
    """Cast floating parameters to `dtype` (float32 / float16 / bfloat16), keeping rae_spec's KEEP_FLOAT32
    tables. Parameters already in their dtype are left as they are (no copy)."""
    dtype = resolve_dtype(dtype)
    if dtype is None:
        return module
    changed = [(k, v.astype(target_dtype(k, v.dtype, dtype))) for k, v in tree_flatten(module.parameters())
               if target_dtype(k, v.dtype, dtype) != v.dtype]
    if changed:
        module.update(tree_unflatten(changed))
    return module


def to_mx(value: Any) -> mx.array:
    """An mx.array of a tensor from any reader: mx.array, numpy, or a LazyArray (read now; bfloat16 kept)."""
    from rae_convert.lazy_array import LazyArray

    if isinstance(value, mx.array):
        return value
    if isinstance(value, LazyArray) and value.stored_dtype == "bfloat16":
        return mx.array(value.read(bf16_bits=True)).view(mx.bfloat16)
    return mx.array(np.ascontiguousarray(np.asarray(value)))


LOAD_GROUP_BYTES = 256 << 20  # tensors evaluated together while loading: MLX reads them in parallel


def load_arrays(module: nn.Module, tensors: dict[str, Any], dtype: Any = None, keep_file_dtype: bool = False,
                path: str | Path = "<checkpoint>", check_finite: bool = True) -> nn.Module:
    """Set the module's parameters from `tensors` (MLX layout, keys already checked), a group of tensors
    (LOAD_GROUP_BYTES of source) at a time: each is read, checked for NaN / Inf (all are checked, then the
    error names them), cast to its dtype in a model of `dtype` (None: the module's current dtypes, or the
    file's with `keep_file_dtype`) and evaluated. `tensors` is consumed: each source is popped before it is
    read, so (when the caller holds no other reference) the peak is the model plus one group of sources."""
    dtype = resolve_dtype(dtype)
    current = dict(tree_flatten(module.parameters()))
    missing = sorted(set(current) - set(tensors))
    unexpected = sorted(set(tensors) - set(current))
    if missing or unexpected:
        raise CheckpointError(f"parameters do not match the module: missing {missing[:3]}, unexpected {unexpected[:3]}")
    loaded, nonfinite = [], []
    group: list[tuple[str, mx.array, mx.array, mx.array | None]] = []  # key, source, target, finite(sum)

    def flush() -> None:
        mx.eval(*(t for _, _, t, _ in group), *(c for _, _, _, c in group if c is not None))
        for k, a, t, check in group:
            if check is not None and not (check.item() or bool(mx.all(mx.isfinite(a)).item())):
                nonfinite.append(k)
            loaded.append((k, t))
        group.clear()

    size = 0
    for k in list(tensors):
        a = to_mx(tensors.pop(k))
        if tuple(a.shape) != tuple(current[k].shape):
            raise CheckpointError(f"{k}: shape {tuple(a.shape)}, the module has {tuple(current[k].shape)}")
        want = target_dtype(k, a.dtype if keep_file_dtype else current[k].dtype, dtype)
        check = mx.isfinite(mx.sum(a)) if check_finite and mx.issubdtype(a.dtype, mx.floating) else None
        group.append((k, a, a.astype(want) if a.dtype != want else a, check))
        size += a.nbytes
        if size >= LOAD_GROUP_BYTES:
            flush()
            size = 0
    flush()
    if nonfinite:
        raise nonfinite_error(nonfinite, path)
    module.update(tree_unflatten(loaded))
    return module


def load_into(module: nn.Module, sd: dict[str, Any], config: Any, path: str | Path = "<checkpoint>",
              layout: str = "torch", dtype: Any = None) -> nn.Module:
    """Check `sd` (official key names, `layout` 'torch' or 'mlx') against the manifest and load it, each
    tensor straight into its dtype in a model of `dtype` (None: the module's own)."""
    return load_arrays(module, _match(sd, config, path, layout), dtype, path=path)


def _finite(a: Any) -> bool:
    """rae_spec.state_dict.numpy_finite's scheme in MLX: the sum first, elements only if it is not finite. The
    sum runs in the tensor's own dtype (no float32 copy of a half tensor while loading; a half sum that
    overflows only sends it to the element-wise test)."""
    if not isinstance(a, mx.array):
        return numpy_finite(a)
    return bool(mx.isfinite(mx.sum(a)).item()) or bool(mx.all(mx.isfinite(a)).item())


def _match(sd: dict[str, Any], config: Any, path: str | Path, layout: str) -> dict[str, Any]:
    """The tensors for `config` (keys, shapes and dtypes checked) in MLX layout. Their values are checked for
    NaN / Inf by `load_arrays` as each is read: checking them here would read (and, for mx.load's arrays,
    keep) every tensor before the first is loaded."""
    shapes = {k: e.shape(layout) for k, e in layout_plan(config).items()}
    tensors = match_state_dict(sd, config, path, shapes=shapes, finite=lambda a: True)
    return change_layout(tensors, config, layout, "mlx")


def _load_diffusers(path: Path, config: Any, dtype: Any) -> nn.Module:
    found = diffusers.read(path, config)
    if isinstance(found.config, StatsConfig):
        raise CheckpointError(f"{path}: latent statistics are not a model; read them with load_stats")
    tensors = _match(found.tensors, found.config, found.weights, "torch")  # checked before allocating
    del found.tensors
    module = load_arrays(build_model(found.config), tensors, dtype, path=found.weights)
    if isinstance(found.config, RAEConfig) and found.stats:
        module.set_stats(*_mean_var(found.stats, found.weights, found.config.latent_shape))
    return cast_model(module, dtype).eval()


def load_model(path: str | Path, config: Any = None, dtype: Any = None, check_finite: bool = True) -> nn.Module:
    """Load any model: a checkpoint file with its config, or a folder holding config.json (ours, or an
    HF encoder's) and the weights. Quantized MLX weights (rae_convert / rae_mlx.quantize) are restored
    as quantized layers. Returns the module in eval mode, in `dtype` (float32 / float16 / bfloat16; by
    default float32, or the file's own half precision for converted half-precision folders).

    A diffusers AutoencoderRAE folder (or its weights file) gives the whole RAE, with its statistics, or the
    part `config` names (encoder or decoder); its config.json is checked against `config`.

    Every floating value is checked for NaN / Inf as it loads (about 0.5 s per GB on a CPU); `check_finite=
    False` skips that for files whose values were checked when they were written (the MLX conversion cache,
    whose entries are also hash-checked).

    `rae_mlx.load_model("stage2_model.pt", get_model("dit-dh-xl-256").config)` works without torch."""
    path = Path(path)
    if diffusers.folder_of(path) is not None:
        return _load_diffusers(path, config, dtype)
    folder = path if path.is_dir() else None
    if folder is not None:
        config = config if config is not None else folder_config(folder)
        path = weights_file(folder)
    elif config is None:
        raise CheckpointError(f"{path}: a checkpoint file needs its config (a preset or a config.json)")
    obj, metadata = read_checkpoint(path, lazy=True)
    check_file_size(path, config)  # before a quantized model is built (those are matched after building)
    if dtype is None and metadata.get("dtype") in ("float16", "bfloat16"):
        dtype = metadata["dtype"]  # a half-precision file runs in its own precision
    quant = metadata.get("quantization", "none")
    if quant not in ("", "none"):
        from .quantize import load_quantized_weights, parse_quantization

        module = load_quantized_weights(build_model(config), obj, config, parse_quantization(quant, path), path,
                                        dtype, check_finite)
    else:  # keys, shapes and values are checked before the model is allocated
        tensors = _match(unwrap_state_dict(obj, path), config, path, metadata.get("layout", "torch"))
        del obj  # `tensors` holds the only references: each source is freed once loaded (and cast if needed)
        module = load_arrays(build_model(config), tensors, dtype, path=path, check_finite=check_finite)
    if folder is not None and isinstance(config, RAEConfig) and (folder / "stats.safetensors").is_file():
        module.set_stats(*load_stats(folder / "stats.safetensors", config.latent_shape))
    cast_model(module, dtype)
    return module.eval()


def load_stats(path: str | Path, shape: tuple[int, int, int] | None = None,
               ) -> tuple[mx.array | None, mx.array | None]:
    """(mean, var) from a stat.pt dict, a safetensors file, a converted stats or RAE folder, or a diffusers
    AutoencoderRAE folder; either may be absent (DINOv2-B has no mean). Arrays are reshaped to (C, H, W)
    after checking the element count."""
    obj, path = stats_object(path, lambda file: read_checkpoint(file)[0])
    return _mean_var(obj, path, shape)


def _mean_var(obj: Any, path: Path, shape: tuple[int, int, int] | None) -> tuple[mx.array | None, mx.array | None]:
    return mean_var(obj, path, shape, _as_float32, finite=_finite)


def _as_float32(value: Any) -> mx.array:
    return (value if isinstance(value, mx.array) else mx.array(np.asarray(value, dtype=np.float32))).astype(mx.float32)
