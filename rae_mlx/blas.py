"""Use the system OpenBLAS for MLX's CPU matmuls on Linux, when it is installed.

MLX's Linux CPU wheel links a bundled reference BLAS (about 5 GFLOP/s on a laptop-class core);
Debian's OpenBLAS (`apt-get install libopenblas0-pthread`) is 10-20x faster. The dynamic linker
resolves `cblas_sgemm` and friends in the global scope first, so a library opened with RTLD_GLOBAL
*before* `mlx.core` is first imported takes over MLX's BLAS calls. `import rae_mlx` does this
automatically; importing `mlx.core` yourself before `rae_mlx` is too late (a warning says so), and
then `LD_PRELOAD=<libopenblas.so>` set before the process starts is the way.

RAE_MLX_OPENBLAS=0 opts out; RAE_MLX_OPENBLAS=/path/to/libopenblas.so picks the library.
On macOS MLX uses Accelerate and nothing is done.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import warnings
from pathlib import Path

ENV = "RAE_MLX_OPENBLAS"
CANDIDATES = (
    "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
    "/usr/lib/aarch64-linux-gnu/openblas-pthread/libopenblas.so.0",
    "/usr/lib/x86_64-linux-gnu/libopenblas.so.0",
    "/usr/lib/aarch64-linux-gnu/libopenblas.so.0",
    "/usr/lib64/libopenblas.so.0",
    "/usr/lib/libopenblas.so.0",
)

loaded: str | None = None  # path of the library in use, or None
status: str = "not attempted"


def find_openblas() -> str | None:
    """The OpenBLAS shared library to use: RAE_MLX_OPENBLAS if it names a file, else a system copy."""
    value = os.environ.get(ENV, "")
    if value and value not in ("0", "1"):
        return value if Path(value).is_file() else None
    for path in CANDIDATES:
        if Path(path).is_file():
            return path
    name = ctypes.util.find_library("openblas")
    return name


def _preloaded() -> str | None:
    for item in os.environ.get("LD_PRELOAD", "").replace(":", " ").split():
        if "openblas" in Path(item).name:
            return item
    return None


def preload() -> str | None:
    """Open OpenBLAS globally if that still helps; returns the library in use (or None)."""
    global loaded, status
    if loaded is not None or not sys.platform.startswith("linux"):
        status = status if loaded else "not Linux: MLX uses its platform BLAS"
        return loaded
    if os.environ.get(ENV) == "0":
        status = f"disabled by {ENV}=0"
        return None
    if (pre := _preloaded()) is not None:
        loaded, status = pre, "preloaded with LD_PRELOAD"
        return loaded
    path = find_openblas()
    if path is None:
        status = "no system OpenBLAS found (apt-get install libopenblas0-pthread)"
        return None
    if "mlx.core" in sys.modules:
        status = "mlx.core was imported before rae_mlx; OpenBLAS not used"
        warnings.warn(f"rae_mlx: mlx.core was imported before rae_mlx, so MLX keeps its slow bundled BLAS. "
                      f"Import rae_mlx first, or start Python with LD_PRELOAD={path}.", stacklevel=3)
        return None
    try:
        ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    except OSError as e:
        status = f"could not open {path}: {e}"
        return None
    loaded, status = path, "opened before mlx.core (RTLD_GLOBAL)"
    return loaded


preload()
