"""What this machine offers a run: memory available to it, whether MLX runs on its slow reference BLAS, and how a
pipeline's estimated peak fits. Shared by `rae sample`, `rae doctor`, `rae info` and the app.

Memory available: on Apple GPUs, MLX's recommended working set (the share of unified memory Metal lets one
process keep resident), capped by what the OS reports free; on CUDA, the free device memory; otherwise the
OS's available memory (Linux MemAvailable, within a cgroup limit if one is set; macOS free + inactive +
purgeable pages).
"""

from __future__ import annotations

import os
import platform
import re
import resource
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from rae_spec.memory import Estimate, Precision, largest_batch, sampling_memory

from .hub import human_size

OPENBLAS_FIX = ("install the system OpenBLAS (apt-get install libopenblas0-pthread) or the torch backend "
                "(pip install 'rae-mlx[torch]', then --backend torch)")
FULL_SIZE_PARAMETERS = 100_000_000  # a DiT this large takes minutes per step on the reference BLAS
MAX_AUTO_BATCH = 8  # the batch size `rae sample` used before it chose one: more gains little
HEADROOM = 0.9  # keep a tenth of the available memory for the OS and the rest of the process


@dataclass(frozen=True)
class Memory:
    available: int | None  # bytes, None when unknown
    source: str  # where the figure comes from

    def describe(self) -> str:
        return f"{human_size(self.available)} available ({self.source})" if self.available else \
            f"memory available unknown ({self.source})"


def _linux_available() -> int | None:
    try:
        text = Path("/proc/meminfo").read_text()
    except OSError:
        return None
    m = re.search(r"^MemAvailable:\s+(\d+) kB", text, re.M)
    available = int(m.group(1)) * 1024 if m else None
    try:  # cgroup v2 limit (containers)
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        used = int(Path("/sys/fs/cgroup/memory.current").read_text())
        if limit != "max":
            left = int(limit) - used
            available = left if available is None else min(available, left)
    except (OSError, ValueError):
        pass
    return available


def _macos_available() -> int | None:
    try:
        out = subprocess.run(["vm_stat"], capture_output=True, text=True, timeout=5).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    page = int(m.group(1)) if (m := re.search(r"page size of (\d+) bytes", out)) else 16384
    pages = 0
    for name in ("Pages free", "Pages inactive", "Pages purgeable", "Pages speculative"):
        m = re.search(rf"^{name}:\s+(\d+)", out, re.M)
        pages += int(m.group(1)) if m else 0
    return pages * page or None


def os_available() -> Memory:
    if sys.platform.startswith("linux"):
        return Memory(_linux_available(), "MemAvailable")
    if sys.platform == "darwin":
        return Memory(_macos_available(), "free + inactive pages")
    return Memory(None, f"not measured on {sys.platform}")


def available_memory(backend: str, device: str) -> Memory:
    """The memory a run on `backend` / `device` can use now."""
    system = os_available()
    if backend == "mlx" and device == "gpu":
        import mlx.core as mx

        info = mx.device_info()
        working = info.get("max_recommended_working_set_size")
        if working:
            avail = min(int(working), system.available) if system.available else int(working)
            return Memory(avail, "MLX working set, within free memory")
    if backend == "torch" and device.startswith("cuda"):
        import torch

        free, _ = torch.cuda.mem_get_info()
        return Memory(int(free), "free CUDA memory")
    return system


def slow_path(backend: str, device: str) -> str | None:
    """One line naming the fix when MLX runs on Linux with its bundled reference BLAS (about 40x slower than
    OpenBLAS or torch for these models), else None."""
    if backend != "mlx" or device != "cpu" or not sys.platform.startswith("linux"):
        return None
    from rae_mlx import blas

    if blas.loaded is not None:
        return None
    return (f"MLX on this Linux machine uses its slow reference BLAS ({blas.status}): a full-size model takes "
            f"minutes per step; to fix it, {OPENBLAS_FIX}")


def precision_of(dtype: str, quantize: int | None) -> Precision:
    return Precision(dtype or "float32", quantize)


def device_for(backend: str) -> str:
    """The device an engine of `backend` would use here (without building one)."""
    if backend == "mlx":
        import mlx.core as mx

        import rae_mlx  # noqa: F401  (before mlx.core: the system OpenBLAS on Linux)

        return "gpu" if mx.metal.is_available() else "cpu"
    from .engines.torch_engine import default_device

    return default_device()


def _guide(pipe):
    active = pipe.guide is not None and pipe.guidance.active and pipe.guidance.method == "autoguidance"
    return pipe.guide.config if active else None


def _cfg(pipe) -> bool:
    return pipe.guidance.active and pipe.guidance.method == "cfg"


def estimate(pipe, precision: Precision, batch: int = 1, low_memory: bool = False, backend: str = "mlx",
             ) -> Estimate:
    """The estimated peak of sampling a SamplingPipeline (see rae_spec.memory) on `backend`."""
    return sampling_memory(pipe.dit.config, pipe.decoder.config, _guide(pipe), precision, batch, low_memory,
                           backend=backend, cfg=_cfg(pipe))


def choose_batch_size(pipe, precision: Precision, images: int, memory: Memory, low_memory: bool,
                      backend: str = "mlx", hint: str = "--batch-size") -> tuple[int, str]:
    """(batch size, one line saying why, or "" when there is nothing to say) for `images` images: the largest
    batch up to MAX_AUTO_BATCH whose estimated peak fits the available memory (with headroom); MAX_AUTO_BATCH
    when nothing is known. The line is worth a user's attention only when memory made the batch smaller, when
    even one image may not fit, or when a batch of several images runs without knowing the memory; `hint`
    names where the user sets the batch size (the CLI flag, the app's field)."""
    limit = max(1, min(MAX_AUTO_BATCH, images))
    if memory.available is None:
        return limit, f"batch size {limit} ({memory.describe()}; {hint} to choose)" if limit > 1 else ""
    fits = memory.available * HEADROOM
    batch = largest_batch(fits, pipe.dit.config, pipe.decoder.config, _guide(pipe), precision, low_memory, limit,
                          backend=backend, cfg=_cfg(pipe))
    peak = estimate(pipe, precision, batch, low_memory, backend).peak
    if peak <= fits and batch == limit:
        return batch, ""
    line = f"batch size {batch}: estimated peak {human_size(peak)} of the {memory.describe()} ({hint} to choose)"
    if peak > fits:
        line += "; it may not fit: " + advice(pipe, precision, low_memory, fits, backend)
    return batch, line


def advice(pipe, precision: Precision, low_memory: bool, fits: float, backend: str = "mlx") -> str:
    """What to change so that one image fits in `fits` bytes: the first of --low-memory, bfloat16, 8-bit,
    4-bit (and their combinations, on MLX) whose estimate fits."""
    options = [("--low-memory", precision, True)] if not low_memory else []
    options += [(f"--dtype bfloat16{' --low-memory' if low else ''}", Precision("bfloat16", None), low)
                for low in (False, True)]
    options += [(f"--quantize {bits} --dtype bfloat16{' --low-memory' if low else ''}", Precision("bfloat16", bits),
                 low) for bits in (8, 4) for low in (False, True)]
    mlx = "" if backend == "mlx" else " --backend mlx"
    for flags, p, low in options:
        on = backend if p.dtype == "float32" and p.bits is None else "mlx"  # half and quantized weights: MLX
        peak = estimate(pipe, p, 1, low, on).peak
        if peak <= fits:
            return f"try {flags}{mlx if on == 'mlx' else ''} ({human_size(peak)})"
    return "even 4-bit with --low-memory needs more; close other programs or use a machine with more memory"


def process_peak_rss() -> int:
    """This process's peak resident memory so far, in bytes (getrusage reports kB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)


def machine_line() -> str:
    return f"{platform.system()} {platform.release()} {platform.machine()}, {os.cpu_count()} CPUs, " \
           f"Python {platform.python_version()}"
