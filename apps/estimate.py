"""Estimates before running a job: peak memory from the model configs, time from this machine's last job.

Memory: rae_spec.memory's estimate (exact weights per dtype and quantization, activations fitted to
bench/memory.py), the one `rae info`, `rae sample` and `rae doctor` use. Time: seconds per DiT step per
image row and per decoded image, measured on the last finished job of the same pipeline, backend, dtype and
quantization, and remembered in the rae cache folder.
"""

from __future__ import annotations

import contextlib
import json
import threading
from dataclasses import dataclass
from typing import Any

from rae_spec.configs import GuidanceConfig
from rae_spec.files import write_text
from rae_spec.memory import Precision, sampling_memory

from .metadata import cache_dir


def estimate_memory(dit: Any, decoder: Any, guide: Any | None, guidance: GuidanceConfig, *, batch_size: int,
                    dtype: str = "float32", quantize: int | None = None, low_memory: bool = False,
                    backend: str = "mlx") -> int:
    """Peak bytes of sampling one work batch of `batch_size` rows with these model configs: rae_spec.memory's
    estimate (the one `rae info`, `rae sample` and `rae doctor` use, checked against bench/memory.py)."""
    uses_guide = guide is not None and guidance.active and guidance.method == "autoguidance"
    cfg = guidance.active and guidance.method == "cfg"
    return sampling_memory(dit, decoder, guide if uses_guide else None, Precision(dtype, quantize), batch_size,
                           low_memory, backend=backend, cfg=cfg).peak


@dataclass(frozen=True)
class Timing:
    """Measured seconds on this machine for one pipeline / backend / dtype / quantization."""

    step_per_row: float  # one DiT step (all its function evaluations) for one image row
    decode_per_image: float

    def seconds(self, rows: int, steps: int, batches: int = 1) -> float:
        """Time to sample and decode `rows` images in `batches` work batches of `steps` steps each."""
        return rows * steps * self.step_per_row + rows * self.decode_per_image


class TimingStore:
    """The last measured Timing per key, kept in <rae cache>/app-timing.json (thread-safe)."""

    def __init__(self, path=None):
        self.path = path or cache_dir() / "app-timing.json"
        self.lock = threading.Lock()
        self.data: dict[str, dict[str, float]] = {}
        with contextlib.suppress(OSError, ValueError):
            loaded = json.loads(self.path.read_text())
            if isinstance(loaded, dict):
                self.data = {k: v for k, v in loaded.items() if isinstance(v, dict)}

    @staticmethod
    def key(pipeline: str, backend: str, dtype: str, quantize: int | None) -> str:
        return f"{pipeline}|{backend}|{dtype}|{quantize or 0}"

    def get(self, key: str) -> Timing | None:
        with self.lock:
            entry = self.data.get(key)
        if not entry:
            return None
        try:
            return Timing(float(entry["step_per_row"]), float(entry["decode_per_image"]))
        except (KeyError, TypeError, ValueError):
            return None

    def put(self, key: str, timing: Timing) -> None:
        with self.lock:
            self.data[key] = {"step_per_row": timing.step_per_row, "decode_per_image": timing.decode_per_image}
            text = json.dumps(self.data, indent=1, sort_keys=True)
        with contextlib.suppress(OSError):
            write_text(self.path, text)
