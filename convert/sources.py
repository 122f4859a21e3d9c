"""Reading every kind of source file into official key names, torch-free.

- torch zip pickles (`model.pt`, `stat.pt`, `stage2_model.pt`, training checkpoints): rae_convert.torch_pickle;
- safetensors files (torch layout unless their metadata says `layout: mlx`);
- HF model folders (config.json + model.safetensors, e.g. an encoder);
- our model folders (config.json with a rae_spec `type` + model.safetensors, any layout);
- diffusers `AutoencoderRAE` folders (config.json + diffusion_pytorch_model.safetensors: the whole RAE, or
  one part of it when a part's config is given), read by rae_convert.diffusers.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rae_spec.configs import StatsConfig, from_json
from rae_spec.files import sha256_file
from rae_spec.hf import load_encoder_config
from rae_spec.state_dict import CheckpointError, mean_var, unwrap_state_dict, weights_file

from . import diffusers, safetensors_io, torch_pickle
from .lazy_array import materialize


@dataclass
class Source:
    """A source's tensors (official key names), in `layout`, plus what was found beside them."""

    path: Path                  # the file read
    kind: str                   # torch-pickle | safetensors | hf-folder | rae-folder | diffusers-rae
    tensors: dict[str, np.ndarray]
    layout: str = "torch"
    metadata: dict[str, str] = field(default_factory=dict)
    config: Any = None          # the config stored beside the weights, if any
    stats: dict[str, np.ndarray] | None = None  # latent statistics carried by the source (diffusers)
    notes: list[str] = field(default_factory=list)

    def sha256(self) -> str:
        return sha256_file(self.path)


def _read_file(path: Path) -> tuple[Any, dict[str, str]]:
    """(object, metadata) with tensors as LazyArrays: a source is read one tensor at a time, when needed."""
    if path.suffix == ".safetensors":
        try:
            return safetensors_io.read(path, lazy=True)
        except safetensors_io.SafetensorsError as e:
            raise CheckpointError(str(e)) from e
    try:
        return torch_pickle.load(path, lazy=True), {}
    except torch_pickle.UnsafeGlobalError as e:
        raise CheckpointError(str(e)) from e
    except torch_pickle.TorchPickleError as e:
        raise CheckpointError(str(e)) from e


def read_stats_object(obj: Any, path: Path) -> dict[str, np.ndarray]:
    """{'mean'?, 'var'?} from a stat.pt-style dict (either may be None or absent); small, so read now."""
    if isinstance(obj, dict):
        obj = {k: materialize(v) for k, v in obj.items()}
    mean, var = mean_var(obj, path, None, lambda v: np.asarray(v, dtype=np.float32))
    return {k: v for k, v in (("mean", mean), ("var", var)) if v is not None}


def stats_object(path: str | Path, read: Callable[[Path], Any]) -> tuple[Any, Path]:
    """The latent statistics at `path` as a stat.pt-style object ({'mean'?, 'var'?}, for mean_var) and the file
    they are in, for both backends' load_stats: a diffusers AutoencoderRAE folder's buffers (numpy), or the file
    read by `read` (the backend's checkpoint reader): `path` itself, or a converted stats or RAE folder's
    stats.safetensors, else the folder's weights file."""
    path = Path(path)
    if diffusers.folder_of(path) is not None:
        stats, _ = diffusers.read_stats(path)
        if not stats:
            raise CheckpointError(f"{path} carries no latent statistics")
        return stats, path
    if path.is_dir():
        path = path / "stats.safetensors" if (path / "stats.safetensors").is_file() else weights_file(path)
    return read(path), path


def open_source(src: str | Path, config: Any = None) -> Source:
    """Read `src` (a file or a folder) without torch. `config` matters only for a diffusers AutoencoderRAE
    folder (or its weights file): its config.json is checked against it, and a part's config (encoder,
    decoder, stats) reads that part alone."""
    src = Path(src)
    if not src.exists():
        raise CheckpointError(f"{src} does not exist")
    if diffusers.folder_of(src) is not None:
        return _open_diffusers(src, config)
    if src.is_dir():
        return _open_folder(src)
    obj, metadata = _read_file(src)
    kind = "safetensors" if src.suffix == ".safetensors" else "torch-pickle"
    layout = metadata.get("layout", "torch")
    if isinstance(obj, dict) and set(obj) <= {"mean", "var"}:  # stat.pt (mean may be None)
        return Source(src, kind, read_stats_object(obj, src), layout, metadata)
    return Source(src, kind, unwrap_state_dict(obj, src), layout, metadata)


def _open_folder(folder: Path) -> Source:
    cfg_file = folder / "config.json"
    raw = json.loads(cfg_file.read_text()) if cfg_file.is_file() else {}
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise CheckpointError(f"{folder} has no model.safetensors (or {diffusers.WEIGHTS})")
    tensors, metadata = _read_file(weights)
    if "type" in raw:
        config = from_json(cfg_file.read_text())
        source = Source(weights, "rae-folder", tensors, metadata.get("layout", "torch"), metadata, config)
        if metadata.get("quantization", "none") not in ("", "none"):
            source.kind = "rae-folder (quantized)"
        if (folder / "stats.safetensors").is_file():
            stats, _ = _read_file(folder / "stats.safetensors")
            source.stats = {k: materialize(v) for k, v in stats.items() if k in ("mean", "var")}
        return source
    config = load_encoder_config(folder) if raw else None
    return Source(weights, "hf-folder", tensors, "torch", metadata, config)


# ---------------------------------------------------------------------------------------------- diffusers


def _open_diffusers(path: Path, config: Any) -> Source:
    found = diffusers.read(path, config)
    return Source(found.weights, "diffusers-rae", found.tensors, "torch", found.metadata, found.config,
                  found.stats or None, found.notes)


def stats_config(stats: dict[str, np.ndarray]) -> StatsConfig:
    ref = stats.get("var", stats.get("mean"))
    shape = ref.shape[-3:] if ref.ndim >= 3 else (ref.size, 1, 1)
    return StatsConfig(channels=int(shape[0]), grid_size=int(shape[-1]), has_mean="mean" in stats)
