"""Writing trained models in the formats the sampling paths load.

A model folder is `config.json` (rae_spec.to_json: the config, type-tagged) + `model.safetensors` (the
state dict, official key names); `rae_torch.load_model(folder)` reads it, and so does the MLX twin.
A pipeline folder adds the rest of a sampler: `pipeline.json` (rae_spec.PipelineConfig) naming
`dit/`, `decoder/`, `stats.safetensors` (and an encoder for reconstruction) plus the sampling
settings. Every file is written atomically.
"""

from __future__ import annotations

import datetime
import json
import platform
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import nn

from rae_spec.configs import PIPELINE_FILE, PipelineConfig, to_json
from rae_spec.files import atomic_write, write_text

from .checkpoints import atomic_torch_save


def provenance(**fields: Any) -> str:
    """A JSON string saying what produced a file (stored in pipeline.json and safetensors metadata)."""
    info = {"created_by": "rae_torch.train", "created": datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds"), "torch": torch.__version__, "python": platform.python_version(), **fields}
    return json.dumps(info, sort_keys=True, default=str)


def save_safetensors(tensors: dict[str, torch.Tensor], path: str | Path,
                     metadata: dict[str, str] | None = None) -> Path:
    plain = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    return atomic_write(path, lambda tmp: save_file(plain, tmp, metadata=metadata))


def save_model_folder(state_dict: dict[str, torch.Tensor], config: Any, folder: str | Path,
                      origin: str = "") -> Path:
    """config.json + model.safetensors (float32, as trained)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    text = to_json(config) + "\n"
    write_text(folder / "config.json", text)
    meta = {"format": "pt", "config": to_json(config, indent=None)}
    if origin:
        meta["provenance"] = origin
    save_safetensors(state_dict, folder / "model.safetensors", meta)
    return folder


def save_module_folder(module: nn.Module, folder: str | Path, origin: str = "") -> Path:
    return save_model_folder(module.state_dict(), module.config, folder, origin)


def save_stats(mean: torch.Tensor | None, var: torch.Tensor, path: str | Path, origin: str = "") -> Path:
    """Latent statistics: safetensors ('var', optional 'mean') for .safetensors paths, else a torch
    pickle dict {'mean', 'var'} like the reference's stat.pt. Shapes (C, H, W), float32."""
    path = Path(path)
    tensors = {"var": var.float()}
    if mean is not None:
        tensors["mean"] = mean.float()
    if path.suffix == ".safetensors":
        return save_safetensors(tensors, path, {"provenance": origin} if origin else None)
    payload = {"mean": tensors.get("mean"), "var": tensors["var"].cpu()}
    if payload["mean"] is not None:
        payload["mean"] = payload["mean"].cpu()
    return atomic_torch_save(payload, path)


def write_pipeline(folder: str | Path, config: PipelineConfig) -> Path:
    folder = Path(folder)
    text = to_json(config) + "\n"
    return write_text(folder / PIPELINE_FILE, text)


def export_pipeline(folder: str | Path, dit_state: dict[str, torch.Tensor], dit_config: Any,
                    decoder: nn.Module, stats: tuple[torch.Tensor | None, torch.Tensor | None],
                    pipeline: PipelineConfig, encoder: nn.Module | None = None) -> Path:
    """A self-contained sampling folder: dit/, decoder/, stats.safetensors, pipeline.json (and encoder/
    when given: then `pipeline.encoder` is set to it)."""
    folder = Path(folder)
    origin = pipeline.provenance
    save_model_folder(dit_state, dit_config, folder / pipeline.dit, origin)
    save_module_folder(decoder, folder / pipeline.decoder, origin)
    mean, var = stats
    if var is not None and pipeline.stats:
        save_stats(mean, var, folder / pipeline.stats, origin)
    if encoder is not None:
        save_module_folder(encoder, folder / (pipeline.encoder or "encoder"), origin)
    return write_pipeline(folder, pipeline).parent
