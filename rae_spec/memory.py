"""How much memory a sampling run needs, per dtype and quantization: the one estimate that `rae info`,
`rae sample` (its batch size), `rae doctor` and the app use.

Peak memory is what MLX's allocator holds (unified memory on Apple silicon; the same allocator runs on the
Linux CPU backend, which is where bench/memory.py measured the constants below). A run's phases:

- load: the weights of what is loaded, in their dtype and quantization (loading reads one tensor at a time,
  so there is no transient copy of a model);
- sample: the DiT and its guide (and the decoder, unless low-memory) plus the activations of one step for the
  batch (the DiT and the guide run in the same evaluated graph);
- decode: the decoder (and the DiTs, unless low-memory) plus the activations of one decoder micro-batch.

Weights are exact (from the parameter manifest: quantized linear layers take bits / 8 bytes per weight plus a
scale and a bias per group, in the float dtype). Activations are a per-token constant times the widest
tensors of a forward, fitted to bench/memory.py's measurements; tests/rae_spec/test_memory.py checks every
measured setting within 15 %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from .configs import DecoderConfig, DiTDHConfig, LightningDiTConfig
from .parameters import keeps_float32, model_parameters, swiglu_hidden

FLOAT_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}
GB = 1e9

# Fitted to bench/memory.py (MLX 0.32, see the module docstring): live activations are ACTIVATION_FACTOR x
# tokens x width units, each of (float bytes + 1): half-precision runs keep some activations (norm statistics,
# attention softmax) in float32. PHASE_OVERHEAD: the allocator's small buffers, noise, latents, tables.
ACTIVATION_FACTOR = 2.1
PHASE_OVERHEAD = 10e6
TORCH_BASE = 0.5e9  # resident memory of Python, torch and the app before any model (torch on the CPU)


@dataclass(frozen=True)
class Precision:
    """A run's weights: float dtype, and the bits of its quantized linear layers (None: not quantized)."""

    dtype: str = "float32"
    bits: int | None = None
    group_size: int = 64

    def __post_init__(self):
        if self.dtype not in FLOAT_BYTES:
            raise ValueError(f"dtype must be one of {sorted(FLOAT_BYTES)}, got {self.dtype!r}")
        if self.bits not in (None, 2, 3, 4, 5, 6, 8):
            raise ValueError(f"bits must be 4 or 8 (or 2, 3, 5, 6), got {self.bits}")

    @property
    def label(self) -> str:
        """float32, bfloat16, float16, q8, q4 (with -bfloat16 / -float16 when a quantized run is half)."""
        if self.bits is None:
            return self.dtype
        return f"q{self.bits}" + ("" if self.dtype == "float32" else f"-{self.dtype}")


# The settings bench/memory.py measures and `rae info` reports (quantized runs keep float32 elsewhere, the
# default of --quantize).
SETTINGS = {"float32": Precision(), "bfloat16": Precision("bfloat16"), "float16": Precision("float16"),
            "q8": Precision("float32", 8), "q4": Precision("float32", 4)}


def is_linear_weight(key: str, shape: tuple[int, ...]) -> bool:
    """The weight matrix of a linear layer (what MLX quantizes), as the parameter manifest names them."""
    return key.endswith(".weight") and len(shape) == 2 and "embedding" not in key


def quantized(key: str, shape: tuple[int, ...], precision: Precision) -> bool:
    return precision.bits is not None and is_linear_weight(key, shape) and shape[1] % precision.group_size == 0


def weight_bytes(config: Any, precision: Precision = Precision()) -> int:
    """Bytes of a model's tensors in `precision`, exactly as rae_mlx holds them."""
    fb = FLOAT_BYTES[precision.dtype]
    total = 0
    for key, shape in model_parameters(config).items():
        n = math.prod(shape)
        if quantized(key, shape, precision):
            total += n * precision.bits // 8 + 2 * (n // precision.group_size) * fb  # packed + scales + biases
        else:
            total += n * (4 if keeps_float32(key) else fb)
    return total


def _widest(config: Any) -> tuple[int, int]:
    """(tokens, width of the widest activations per token) of one forward."""
    if isinstance(config, DiTDHConfig):
        widths = [2 * swiglu_hidden(d, config.mlp_ratio) if config.use_swiglu else int(d * config.mlp_ratio)
                  for d in config.hidden_size]
        return config.num_tokens, max(widths) + 6 * max(config.hidden_size)
    if isinstance(config, LightningDiTConfig):
        d = config.hidden_size
        wide = 2 * swiglu_hidden(d, config.mlp_ratio) if config.use_swiglu else int(d * config.mlp_ratio)
        return config.num_tokens, wide + 6 * d
    if isinstance(config, DecoderConfig):
        return config.num_patches + 1, config.intermediate_size + 6 * config.hidden_size
    raise TypeError(f"no activation model for {type(config).__name__}")


def activation_bytes(config: Any, batch: int, precision: Precision = Precision()) -> int:
    """Live activations of one forward of `batch` inputs (activations run in the float dtype)."""
    tokens, width = _widest(config)
    return int(ACTIVATION_FACTOR * batch * tokens * width * (FLOAT_BYTES[precision.dtype] + 1))


@dataclass(frozen=True)
class Estimate:
    """Peak bytes per phase of a sampling run, and the whole run's peak."""

    phases: dict[str, int] = field(default_factory=dict)
    weights: dict[str, int] = field(default_factory=dict)  # role -> bytes

    @property
    def peak(self) -> int:
        return max(self.phases.values())

    def summary(self) -> str:
        return ", ".join(f"{k} {v / GB:.2f} GB" for k, v in self.phases.items()) + f"; peak {self.peak / GB:.2f} GB"


def sampling_memory(dit: Any, decoder: Any, guide: Any = None, precision: Precision = Precision(), batch: int = 1,
                    low_memory: bool = False, decode_batch: int = 1, backend: str = "mlx",
                    cfg: bool = False) -> Estimate:
    """Peak memory of `rae sample` for one work batch of `batch` images: the load, sample and decode phases
    (with `low_memory` the DiT and guide are freed before the decoder is loaded). `guide`: the autoguidance
    model, when used; `cfg`: classifier-free guidance, which runs the DiT on twice the batch (not measured by
    bench/memory.py, which runs the released autoguidance pipeline). On torch the weights stay float32 (half
    precision is autocast), and the figure is the process's resident memory."""
    if backend == "torch":
        return torch_sampling_memory(dit, decoder, guide, precision, batch, low_memory, cfg)
    w = {"dit": weight_bytes(dit, precision), "decoder": weight_bytes(decoder, precision)}
    if guide is not None:
        w["guide"] = weight_bytes(guide, precision)
    dits = w["dit"] + w.get("guide", 0)
    act = activation_bytes(dit, batch * (2 if cfg else 1), precision) + \
        (activation_bytes(guide, batch, precision) if guide else 0)
    dec_act = activation_bytes(decoder, min(batch, decode_batch), precision)
    if low_memory:
        phases = {"load": dits, "sample": dits + act, "load decoder": w["decoder"], "decode": w["decoder"] + dec_act}
    else:
        phases = {"load": dits + w["decoder"], "sample": dits + w["decoder"] + act,
                  "decode": dits + w["decoder"] + dec_act}
    return Estimate({k: int(v + PHASE_OVERHEAD) for k, v in phases.items()}, w)


def torch_sampling_memory(dit: Any, decoder: Any, guide: Any = None, precision: Precision = Precision(),
                          batch: int = 1, low_memory: bool = False, cfg: bool = False) -> Estimate:
    """The torch engine (CPU RSS): float32 weights whatever the dtype, activations in float32, plus the
    interpreter and libraries."""
    est = sampling_memory(dit, decoder, guide, Precision("float32"), batch, low_memory, decode_batch=batch, cfg=cfg)
    return Estimate({k: int(v + TORCH_BASE) for k, v in est.phases.items()}, est.weights)


def largest_batch(fits_bytes: float, dit: Any, decoder: Any, guide: Any = None, precision: Precision = Precision(),
                  low_memory: bool = False, limit: int = 64, backend: str = "mlx", cfg: bool = False) -> int:
    """The largest batch (at most `limit`, at least 1) whose estimated peak stays within `fits_bytes`."""
    best = 1
    for b in range(1, limit + 1):
        if sampling_memory(dit, decoder, guide, precision, b, low_memory, backend=backend, cfg=cfg).peak > fits_bytes:
            break
        best = b
    return best
