"""Peak memory per phase (load, sample, decode, ...), from MLX's allocator (`mx.get_peak_memory`).

    monitor = MemoryMonitor()
    with monitor.phase("sample"):
        ...
    print(monitor.summary())   # sample: peak 3.21 GB, ...

On Apple silicon this is unified (GPU) memory; on the Linux CPU backend, MLX's own buffers.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import mlx.core as mx


def peak_memory() -> int:
    """Bytes: the allocator's peak since the last reset."""
    return int(mx.get_peak_memory())


def release(collect: bool = True) -> None:
    """Give MLX's buffer cache back to the system; with `collect`, first drop Python garbage, so freed models
    really give their memory back (gc.collect costs tenths of a second in a large process: skip it between
    phases, where nothing but temporaries was freed)."""
    if collect:
        gc.collect()
    mx.clear_cache()


@dataclass
class MemoryMonitor:
    """Records, for each named phase, MLX's peak memory and the wall time."""

    phases: dict[str, dict[str, float]] = field(default_factory=dict)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        mx.synchronize()
        mx.reset_peak_memory()
        start = time.perf_counter()
        try:
            yield
        finally:
            mx.synchronize()
            self.phases[name] = {"peak_bytes": peak_memory(), "active_bytes": int(mx.get_active_memory()),
                                 "seconds": time.perf_counter() - start}

    def summary(self) -> str:
        return ", ".join(f"{name}: peak {v['peak_bytes'] / 1e9:.2f} GB, {v['seconds']:.1f} s"
                         for name, v in self.phases.items())
