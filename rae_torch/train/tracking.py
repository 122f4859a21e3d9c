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
from tqdm import tqdm

from rae_spec.files import atomic_write

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

    def image(self, step: int, tag: str, grid: torch.Tensor) -> None:
        if self.tb is not None:
            self.tb.add_image(tag, grid, step)
        if self.wandb is not None:
            self.wandb.log({tag: self.wandb.Image(to_pil(grid))}, step=step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
        if self.wandb is not None:
            self.wandb.finish()


def progress(total: int, initial: int, is_main: bool, enabled: bool, desc: str) -> tqdm:
    """A tqdm bar over optimizer steps with ETA; silent off rank 0 or when disabled."""
    return tqdm(total=total, initial=initial, desc=desc, disable=not (is_main and enabled), dynamic_ncols=True,
                unit="step", smoothing=0.05)


def image_grid(images: torch.Tensor, nrow: int | None = None, pad: int = 2) -> torch.Tensor:
    """(B, 3, H, W) in [0, 1] -> one (3, H', W') image, rows of `nrow`, `pad` pixels of white between."""
    images = images.detach().float().clamp(0, 1).cpu()
    B, C, H, W = images.shape
    nrow = nrow or math.ceil(math.sqrt(B))
    rows = math.ceil(B / nrow)
    grid = torch.ones(C, rows * (H + pad) + pad, nrow * (W + pad) + pad)
    for i in range(B):
        r, c = divmod(i, nrow)
        grid[:, pad + r * (H + pad): pad + r * (H + pad) + H, pad + c * (W + pad): pad + c * (W + pad) + W] = images[i]
    return grid


def to_pil(image: torch.Tensor) -> Image.Image:
    """(3, H, W) in [0, 1] -> PIL, truncated to uint8 after clamping (as the reference saves samples)."""
    arr = (image.detach().float().clamp(0, 1).cpu().permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    return Image.fromarray(arr)


def save_png(image: torch.Tensor, path: str | Path) -> Path:
    pil = to_pil(image)
    return atomic_write(path, lambda tmp: pil.save(tmp, format="PNG"))
