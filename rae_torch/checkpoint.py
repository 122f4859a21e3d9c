"""Reading released and trained checkpoints into rae_torch modules, with errors a user can act on.

Accepted inputs: torch pickles (`model.pt`, `stat.pt`, `stage2_model.pt`, training checkpoints) read with
`torch.load(weights_only=True)` only, safetensors (HF encoder folders, our converted folders), and diffusers
AutoencoderRAE folders (the whole RAE, or one part of it: rae_convert.diffusers, no conversion needed).
State dicts may be raw or wrapped ({'ema': ..., 'model': ...}; EMA preferred), may carry `module.` /
`_orig_mod.` prefixes, or sit inside a larger model (a whole-RAE stage-1 checkpoint); every key is
then checked against rae_spec's manifest before anything is loaded.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file as load_safetensors
from torch import nn

from rae_spec.configs import RAEConfig, StatsConfig
from rae_spec.state_dict import (
    CheckpointError,
    check_file_size,
    folder_config,
    match_state_dict,
    mean_var,
    model_kind,
    numpy_finite,
    unwrap_state_dict,
    weights_file,
)

__all__ = ["CheckpointError", "build_model", "load_into", "load_model", "load_stats", "match_state_dict",
           "read_checkpoint", "unwrap_state_dict"]


def _finite(t: Any) -> bool:
    """rae_spec.state_dict.numpy_finite's scheme in torch: the sum first, elements only if it is not finite."""
    if not isinstance(t, torch.Tensor) or t.is_meta:
        return numpy_finite(t)
    return bool(torch.isfinite(t.sum(dtype=torch.float32))) or bool(torch.isfinite(t).all())


def read_checkpoint(path: str | Path) -> Any:
    """The raw object of a .safetensors file or a torch pickle (weights_only: never runs code)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    if path.suffix == ".safetensors":
        from rae_convert.safetensors_io import SafetensorsError, read_header

        try:
            read_header(path)  # every entry checked against the file (and a clear word on dtypes) first
            return load_safetensors(str(path))
        except SafetensorsError as e:
            raise CheckpointError(str(e)) from e
        except (SafetensorError, ValueError) as e:
            raise CheckpointError(f"{path} is not a readable safetensors file; it is truncated or corrupt ({e})") from e
    try:
        with warnings.catch_warnings():  # torch's notes on odd pickle protocols: noise; a failure says enough
            warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.")
            return torch.load(path, map_location="cpu", weights_only=True)
    except OSError as e:
        if e.filename is not None:
            raise  # the file cannot be opened (permissions, I/O): reported as such, naming the path
        raise CheckpointError(f"{path} is truncated or corrupt and cannot be read as a torch checkpoint "
                              f"({e.strerror or e})") from e
    except pickle.UnpicklingError as e:
        msg = str(e)
        if "Weights only load failed" in msg or "weights_only" in msg:
            detail = next((line.strip() for line in msg.splitlines() if "GLOBAL" in line or "Unsupported" in line), "")
            detail = detail.split(" was not an allowed")[0].replace("WeightsUnpickler error: ", "")
            if detail.startswith("Unsupported operand"):  # an opcode torch's safe loader lacks: damaged or exotic
                raise CheckpointError(f"{path} cannot be read safely: its pickle uses an opcode torch's weights-only "
                                      f"loader does not support ({detail}); the file is corrupt or was not written "
                                      "by torch.save") from e
            raise CheckpointError(
                f"refusing to load {path}: it is a pickle that needs arbitrary code to unpickle "
                f"({detail or 'custom objects'}). "
                "rae only loads tensors (torch.load with weights_only=True). If you trust the file, re-save its "
                "state dict as safetensors and load that.") from e
        raise CheckpointError(f"{path} is truncated or corrupt: {msg.splitlines()[0] if msg else e!r}") from e
    except Exception as e:  # noqa: BLE001 - torch parsing untrusted bytes: any other failure means a bad file
        first = str(e).splitlines()[0][:200] if str(e) else repr(e)
        raise CheckpointError(f"{path} is truncated or corrupt and cannot be read as a torch checkpoint "
                              f"({first})") from e


def load_into(module: nn.Module, sd: dict[str, torch.Tensor], config: Any,
              path: str | Path = "<checkpoint>") -> nn.Module:
    """Check `sd` against `config`'s manifest (keys, shapes, dtypes, finite values) and load it."""
    return _load_matched(module, match_state_dict(sd, config, path, finite=_finite))


def _load_matched(module: nn.Module, tensors: dict[str, torch.Tensor]) -> nn.Module:
    target = module.state_dict()
    module.load_state_dict({k: torch.as_tensor(v).to(target[k].dtype) for k, v in tensors.items()}, strict=True)
    return module


def build_model(config: Any) -> nn.Module:
    """A fresh module for any model config."""
    from .decoder import ViTDecoder
    from .dit import build_dit
    from .encoders import build_encoder
    from .rae import RAE

    return {"dit": build_dit, "decoder": ViTDecoder, "encoder": build_encoder, "rae": RAE}[model_kind(config)](config)


def read_metadata(path: str | Path) -> dict[str, str]:
    """The metadata of a safetensors file ({} for other files): layout, dtype, quantization, provenance."""
    path = Path(path)
    if path.suffix != ".safetensors":
        return {}
    try:
        with safe_open(str(path), framework="pt") as f:
            return dict(f.metadata() or {})
    except (SafetensorError, OSError, ValueError):
        return {}


def _from_layout(sd: dict[str, torch.Tensor], config: Any, metadata: dict[str, str], path: Path):
    """Tensors of a file written in MLX layout (rae_convert / rae_mlx), moved back to torch's layout."""
    quant = metadata.get("quantization", "none")
    if quant not in ("", "none"):
        raise CheckpointError(f"{path} holds quantized MLX weights ({quant}); torch cannot run them and "
                              "quantization cannot be undone. Load the unquantized file instead.")
    if metadata.get("layout", "torch") != "mlx":
        return sd
    from rae_convert.layout import change_layout, layout_plan

    shapes = {k: e.shape("mlx") for k, e in layout_plan(config).items()}
    tensors = {k: torch.as_tensor(v) for k, v in match_state_dict(sd, config, path, shapes=shapes,
                                                                   finite=_finite).items()}
    return change_layout(tensors, config, "mlx", "torch")


def load_model(path: str | Path, config: Any = None) -> nn.Module:
    """Load any model: a checkpoint file with its config, or a folder holding config.json (ours, or an
    HF encoder's) and the weights. A diffusers AutoencoderRAE folder (or its weights file) gives the whole
    RAE, with its statistics, or the part `config` names (encoder or decoder); its config.json is checked
    against `config`. Returns the module in eval mode, float32, on the CPU."""
    path = Path(path)
    from rae_convert import diffusers

    if diffusers.folder_of(path) is not None:
        return _load_diffusers(path, config)
    if path.is_dir():
        if config is None:
            config = folder_config(path)
        path = weights_file(path)
    elif config is None:
        raise CheckpointError(f"{path}: a checkpoint file needs its config (a preset or a config.json)")
    obj = read_checkpoint(path)
    check_file_size(path, config)
    sd = _from_layout(unwrap_state_dict(obj, path), config, read_metadata(path), path)
    tensors = match_state_dict(sd, config, path, finite=_finite)  # keys, shapes, values: before allocating
    module = _load_matched(build_model(config), tensors)
    folder = path.parent
    if isinstance(config, RAEConfig) and path.name == "model.safetensors" and (folder / "stats.safetensors").is_file():
        module.set_stats(*load_stats(folder / "stats.safetensors", config.latent_shape))
    return module.eval()


def _load_diffusers(path: Path, config: Any) -> nn.Module:
    from rae_convert import diffusers

    found = diffusers.read(path, config)
    if isinstance(found.config, StatsConfig):
        raise CheckpointError(f"{path}: latent statistics are not a model; read them with load_stats")
    tensors = match_state_dict({k: torch.from_numpy(v) for k, v in found.tensors.items()}, found.config,
                               found.weights, finite=_finite)  # checked before allocating
    module = _load_matched(build_model(found.config), tensors)
    if isinstance(found.config, RAEConfig) and found.stats:
        stats = {k: torch.from_numpy(v) for k, v in found.stats.items()}
        module.set_stats(*_mean_var(stats, found.weights, found.config.latent_shape))
    return module.eval()


def load_stats(path: str | Path, shape: tuple[int, int, int] | None = None,
               ) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(mean, var) from a stat.pt dict, a safetensors file, a converted stats or RAE folder, or a diffusers
    AutoencoderRAE folder; either may be absent (DINOv2-B has no mean). Tensors are reshaped to (C, H, W)
    after checking the element count."""
    from rae_convert.sources import stats_object

    obj, path = stats_object(path, read_checkpoint)
    return _mean_var(obj, path, shape)


def _mean_var(obj: Any, path: Path, shape: tuple[int, int, int] | None):
    return mean_var(obj, path, shape, lambda v: torch.as_tensor(v).float(), finite=_finite)
