"""Torch checkpoints converted once for MLX, cached by the source file's sha256.

The first time the MLX engine meets a torch pickle (`.pt`, `.pth`, `.bin`) or a part of a diffusers
AutoencoderRAE file (its encoder or decoder, one cache entry each) it converts it with
rae_convert into an MLX-layout model folder (config.json + model.safetensors, provenance in the header)
under <rae cache>/mlx/<sha256>; later runs load that folder directly. safetensors files and converted
folders are used as they are. The conversion is written to a temporary folder and renamed into place, so
an interrupted conversion never leaves a half-written cache entry.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rae_spec.configs import to_json

from ..metadata import cache_dir, sha256

TORCH_SUFFIXES = (".pt", ".pth", ".bin")


def needs_conversion(path: Path) -> bool:
    from rae_convert.diffusers import folder_of

    return path.is_file() and (path.suffix in TORCH_SUFFIXES or folder_of(path) is not None)


def cache_folder(path: Path, config: Any) -> Path:
    """<rae cache>/mlx/<source sha256>[-<config hash>]: the config is part of the key only when the same file
    is read with another config than the first time."""
    key = sha256(path)
    folder = cache_dir() / "mlx" / key
    config_json = to_json(config)
    cached = folder / "config.json"
    if cached.is_file() and cached.read_text() != config_json:
        folder = cache_dir() / "mlx" / f"{key}-{hashlib.sha256(config_json.encode()).hexdigest()[:12]}"
    return folder


def mlx_weights(path: Path, config: Any, log: Callable[[str], None] = lambda m: None) -> Path:
    """A path rae_mlx loads fastest: the cached MLX folder of a torch pickle (converted now if needed)."""
    path = Path(path)
    if not needs_conversion(path):
        return path
    folder = cache_folder(path, config)
    if (folder / "model.safetensors").is_file() and (folder / "config.json").is_file():
        return folder
    from rae_convert import convert_file

    log(f"converting {path.name} for MLX once (cached in {folder})")
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        convert_file(path, tmp, config, "torch->mlx")
        if folder.exists():  # converted meanwhile by another process
            shutil.rmtree(tmp)
        else:
            os.replace(tmp, folder)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return folder
