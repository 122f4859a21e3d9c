"""Estimates before running a job: peak memory from the model configs, time from this machine's last job.

One place for both, so a better memory model (measured per dtype and quantization) replaces
`estimate_memory` alone. Memory: the weights of what sampling holds (DiT, the autoguidance guide when
used, decoder) at the job's dtype or quantization (`rae info`'s bytes per weight), plus the largest
activations of one work batch: the DiT's hidden states and attention scores (doubled for cfg) and the
decoder's. Without low-memory mode the DiT and decoder are held together; with it, the larger phase.
Time: seconds per DiT step per image row and per decoded image, measured on the last finished job of
the same pipeline, backend, dtype and quantization, and remembered in the rae cache folder.
"""

from __future__ import annotations

import contextlib
import json
import threading
from dataclasses import dataclass
from typing import Any

from rae_spec.configs import GuidanceConfig
from rae_spec.files import write_text
from rae_spec.parameters import parameter_count

from .info import BYTES_PER_WEIGHT
from .metadata import cache_dir

ACTIVATION_BYTES = 4  # activations are float32 on every backend's default path; half precision halves them
LIVE_BUFFERS = 6  # hidden-state-sized buffers alive at once in a block (residual, norm, qkv, MLP in/out)


def bytes_per_weight(dtype: str, quantize: int | None) -> float:
    return BYTES_PER_WEIGHT[f"{quantize}-bit"] if quantize else BYTES_PER_WEIGHT[dtype]


def _width(config: Any) -> int:
    h = config.hidden_size
    return max(h) if isinstance(h, (tuple, list)) else int(h)


def _heads(config: Any) -> int:
    h = config.num_heads
    return max(h) if isinstance(h, (tuple, list)) else int(h)


def _dit_activations(config: Any, rows: int) -> int:
    tokens = (config.input_size // config.patch_size) ** 2
    mlp = getattr(config, "mlp_ratio", 4.0)
    hidden = rows * tokens * _width(config) * (LIVE_BUFFERS + mlp)
    scores = rows * _heads(config) * tokens * tokens
    return int((hidden + scores) * ACTIVATION_BYTES)


def _decoder_activations(config: Any, rows: int) -> int:
    tokens = config.num_patches
    hidden = rows * tokens * (config.hidden_size * LIVE_BUFFERS + config.intermediate_size)
    scores = rows * config.num_heads * tokens * tokens
    pixels = rows * 3 * (config.image_size if hasattr(config, "image_size") else 0) ** 2
    return int((hidden + scores + pixels) * ACTIVATION_BYTES)


def estimate_memory(dit: Any, decoder: Any, guide: Any | None, guidance: GuidanceConfig, *, batch_size: int,
                    dtype: str = "float32", quantize: int | None = None, low_memory: bool = False) -> int:
    """Peak bytes of sampling one work batch of `batch_size` rows with these model configs."""
    per_weight = bytes_per_weight(dtype, quantize)
    uses_guide = guide is not None and guidance.active and guidance.method == "autoguidance"
    dit_weights = (parameter_count(dit) + (parameter_count(guide) if uses_guide else 0)) * per_weight
    decoder_weights = parameter_count(decoder) * per_weight
    rows = batch_size * (2 if guidance.active and guidance.method == "cfg" else 1)
    dit_phase = dit_weights + _dit_activations(dit, rows) * (2 if uses_guide else 1)
    decode_phase = decoder_weights + _decoder_activations(decoder, batch_size)
    if low_memory:
        return int(max(dit_phase, decode_phase))
    return int(dit_weights + decoder_weights + max(dit_phase - dit_weights, decode_phase - decoder_weights))


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
