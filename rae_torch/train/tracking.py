"""What a run reports: a log file, a progress bar with ETA (rank 0), tensorboard scalars and images,
wandb when installed and asked for, and PNG sample grids."""

from __future__ import annotations

import logging
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image
from rae_apps.images import grid, to_uint8
from rae_apps.images import save_png as write_png
from tqdm import tqdm

log = logging.getLogger("rae.train")


def setup_logging(output_dir: str | Path | None, is_main: bool) -> logging.Logger:
    """'rae.train' logs to stderr on rank 0 (warnings only elsewhere) and to <output_dir>/log.txt."""
    log.setLevel(logging.INFO if is_main else logging.WARNING)
    log.propagate = False
    for h in list(log.handlers):
        log.removeHandler(h)
        h.close()
    fmt = logging.Formatter("[%(asctime)s] %(message)s", "%H:%M:%S")
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(fmt)
    log.addHandler(stream)
    if is_main and output_dir is not None:
        Path(output_dir).mkdir(parents=True, exist_ok=True)
        file = logging.FileHandler(Path(output_dir) / "log.txt")
        file.setFormatter(fmt)
        log.addHandler(file)
    return log


class Tracker:
    """Scalars and images to tensorboard (<output_dir>/tb) and wandb, on rank 0 only."""

    def __init__(self, output_dir: str | Path, is_main: bool, tensorboard: bool = True, wandb: bool = False,
                 project: str = "rae", config: dict[str, Any] | None = None):
        self.tb = None
        self.wandb = None
        if not is_main:
            return
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(Path(output_dir) / "tb"))
            except ImportError:
                log.info("tensorboard is not installed (pip install tensorboard); scalars go to log.txt only")
        if wandb:
            try:
                import wandb as wb

                self.wandb = wb
                wb.init(project=project, config=config or {}, dir=str(output_dir), resume="allow",
                        name=Path(output_dir).name)
            except ImportError:
                log.warning("wandb was asked for but is not installed (pip install wandb); continuing without it")

    def scalars(self, step: int, values: dict[str, float]) -> None:
        if self.tb is not None:
            for k, v in values.items():
                self.tb.add_scalar(k, v, step)
        if self.wandb is not None:
            self.wandb.log(values, step=step)

    def image(self, step: int, tag: str, grid: np.ndarray) -> None:
        """An (H, W, 3) uint8 image (image_grid)."""
        if self.tb is not None:
            self.tb.add_image(tag, grid, step, dataformats="HWC")
        if self.wandb is not None:
            self.wandb.log({tag: self.wandb.Image(Image.fromarray(grid))}, step=step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
        if self.wandb is not None:
            self.wandb.finish()


def progress(total: int, initial: int, is_main: bool, enabled: bool, desc: str) -> tqdm:
    """A tqdm bar over optimizer steps with ETA; silent off rank 0 or when disabled."""
    return tqdm(total=total, initial=initial, desc=desc, disable=not (is_main and enabled), dynamic_ncols=True,
                unit="step", smoothing=0.05)


def image_grid(images: torch.Tensor, nrow: int | None = None, pad: int = 2) -> np.ndarray:
    """(B, 3, H, W) in [0, 1] -> one (H', W', 3) uint8 image: rows of `nrow`, `pad` pixels of white between,
    pixels made 8-bit as the CLI writes them (rae_apps.images.to_uint8: the reference's truncation)."""
    tiles = to_uint8(images.detach().float().cpu().numpy())
    return grid(list(tiles), nrow or math.ceil(math.sqrt(len(tiles))), pad, fill=255)


def save_png(image: np.ndarray, path: str | Path) -> Path:
    write_png(path, image)
    return Path(path)
