"""Estimates before running a job: peak memory from the model configs, time from this machine's last job.

Memory: rae_spec.memory's estimate (exact weights per dtype and quantization, activations fitted to
bench/memory.py), the one `rae info`, `rae sample` and `rae doctor` use. Time: seconds per DiT step of a work
batch, per batch size, and seconds per decoded image, measured on finished jobs of the same pipeline, backend,
dtype and quantization, and remembered in the rae cache folder.

A step of a batch of b rows costs a fixed part (weights read once, kernel launches) plus a part per row, so
eight images in one batch take far less than eight times one image on a GPU. With two measured batch sizes
the estimate is the line through them; with one, b0, it scales that measurement by b / b0 upwards (an upper
bound whenever the fixed part is positive) and keeps it as it is downwards (also an upper bound).
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rae_spec.configs import GuidanceConfig
from rae_spec.files import write_text
from rae_spec.memory import Precision, sampling_memory

from .metadata import cache_dir
from .plan import chunks, generation_order

MAX_SIZES = 8  # batch sizes remembered per pipeline and setting


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

    step_seconds: dict[int, float]  # batch rows -> seconds of one DiT step (all its function evaluations)
    decode_per_image: float

    def step(self, rows: int) -> float:
        """Seconds of one step of a work batch of `rows` rows (see the module docstring)."""
        if rows in self.step_seconds:
            return self.step_seconds[rows]
        known = sorted(self.step_seconds.items())
        if len(known) == 1:
            (b0, t0), = known
            return t0 * rows / b0 if rows > b0 else t0
        (b1, t1), (b2, t2) = sorted(sorted(known, key=lambda k: abs(k[0] - rows))[:2])
        line = t1 + max(0.0, (t2 - t1) / (b2 - b1)) * (rows - b1)  # timing noise never makes a step cheaper
        if rows < b1:  # fewer rows: never more than b1's time, never less per row
            return min(t1, max(line, t1 * rows / b1))
        if rows > b2:
            return min(t2 * rows / b2, max(line, t2))
        return line

    def seconds(self, batches: Sequence[int], steps: int) -> float:
        """Time to sample and decode work batches of these row counts, `steps` DiT steps each."""
        return sum(steps * self.step(b) + b * self.decode_per_image for b in batches)

    def to_json(self) -> dict[str, Any]:
        return {"step_seconds": {str(b): t for b, t in sorted(self.step_seconds.items())},
                "decode_per_image": self.decode_per_image}

    @staticmethod
    def from_json(entry: Any) -> Timing | None:
        """None for anything this version did not write (an older format, a damaged file): uncalibrated."""
        try:
            steps = {int(b): float(t) for b, t in entry["step_seconds"].items()}
            decode = float(entry["decode_per_image"])
        except (KeyError, TypeError, ValueError, AttributeError):
            return None
        ok = steps and all(b > 0 and math.isfinite(t) and t > 0 for b, t in steps.items())
        return Timing(steps, decode) if ok and math.isfinite(decode) and decode >= 0 else None


def work_batches(rows_per_seed: int, seeds: int, batch_size: int) -> list[int]:
    """The row counts of the work batches a job of this shape runs (apps.plan.chunks decides the split)."""
    return [len(c) for c in chunks(generation_order(range(seeds), range(rows_per_seed), 1), batch_size)]


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
        return Timing.from_json(entry) if entry else None

    def put(self, key: str, timing: Timing) -> None:
        """Remember a job's timing. Its batch sizes replace the same sizes measured before and the others are
        kept (the MAX_SIZES nearest to this job's), so that jobs of different batch sizes give the line."""
        with self.lock:
            before = Timing.from_json(self.data.get(key))
            steps = dict(before.step_seconds) if before else {}
            steps.update(timing.step_seconds)
            new = list(timing.step_seconds)
            keep = sorted(steps, key=lambda b: min(abs(b - n) for n in new))[:max(MAX_SIZES, len(new))]
            steps = {b: steps[b] for b in keep}
            self.data[key] = Timing(steps, timing.decode_per_image).to_json()
            text = json.dumps(self.data, indent=1, sort_keys=True)
        with contextlib.suppress(OSError):
            write_text(self.path, text)
