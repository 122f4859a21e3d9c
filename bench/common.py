"""Shared pieces of the benchmark scripts: imports from a checkout, full-size random models, timing."""

from __future__ import annotations

import importlib.util
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def setup_paths() -> None:
    """Run from a checkout without installing: the repo on sys.path, `rae_convert` -> convert/."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    if "rae_convert" not in sys.modules and (REPO / "convert" / "__init__.py").is_file():
        spec = importlib.util.spec_from_file_location("rae_convert", REPO / "convert" / "__init__.py",
                                                      submodule_search_locations=[str(REPO / "convert")])
        module = importlib.util.module_from_spec(spec)
        sys.modules["rae_convert"] = module
        spec.loader.exec_module(module)


def randomize_torch(model, seed: int = 0):
    """Every learned tensor random, the zero-initialized ones included (so the output depends on all of them):
    matrices U(+-1/sqrt(fan_in)) (PyTorch's Linear default), vectors 1 + N(0, 0.02) for norm weights and
    layer scales, N(0, 0.02) otherwise. Fixed tables (sin-cos, RoPE, Fourier W) keep their analytic values."""
    import torch

    from rae_spec.parameters import BUFFERS, FIXED

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.state_dict().items():
            leaf = name.split(".")[-1]
            if leaf in BUFFERS + FIXED:
                continue
            if p.dim() >= 2:
                bound = p[0].numel() ** -0.5
                p.copy_(torch.rand(p.shape, generator=g) * 2 * bound - bound)
            elif "norm" in name or "lambda" in name:
                p.copy_(1 + 0.02 * torch.randn(p.shape, generator=g))
            else:
                p.copy_(0.02 * torch.randn(p.shape, generator=g))
    return model.eval()


def timeit(fn, repeats: int, warmup: int = 1) -> float:
    """Best-of-`repeats` seconds of fn() after `warmup` calls (fn must block until done)."""
    for _ in range(warmup):
        fn()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def load_average() -> str:
    try:
        return " / ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"
