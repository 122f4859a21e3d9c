"""What hardening costs when loading a full-size model: the value checks (dtype, NaN / Inf) on each backend,
and rae_convert's allow-list unpickler against torch.load(weights_only=True), on one model's random weights.

    python bench/load_checks.py                      # DiT^DH-XL (675 M values, 2.7 GB float32)
    python bench/load_checks.py --model dit-dh-s-256-guidance

Prints one line per measurement (seconds, one run each after a warm-up of the smallest tensor).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="dit-dh-xl-256")
    args = parser.parse_args()

    import rae_mlx  # noqa: F401, I001  (before mlx.core: the system OpenBLAS on Linux)
    import mlx.core as mx
    import numpy as np
    import torch

    from rae_convert.torch_pickle import load
    from rae_mlx.checkpoint import _finite as mlx_finite
    from rae_spec import get_model
    from rae_spec.parameters import expected_parameters
    from rae_spec.state_dict import check_weights
    from rae_torch.checkpoint import _finite as torch_finite

    config = get_model(args.model).config
    rng = np.random.default_rng(0)
    weights = {k: rng.standard_normal(s, dtype=np.float32) for k, s in expected_parameters(config).items()}
    values = sum(v.size for v in weights.values())
    print(f"{args.model}: {len(weights)} tensors, {values / 1e6:.0f} M values, {values * 4 / 2**30:.2f} GiB float32")

    def timed(name: str, fn) -> None:
        start = time.perf_counter()
        fn()
        print(f"{name:48s} {time.perf_counter() - start:7.2f} s")

    timed("check_weights, numpy (rae_convert)", lambda: check_weights(weights))
    tensors = {k: torch.from_numpy(v) for k, v in weights.items()}
    timed("check_weights, torch", lambda: check_weights(tensors, finite=torch_finite))
    timed("torch.isfinite(t).all() per tensor (for scale)",
          lambda: [bool(torch.isfinite(v).all()) for v in tensors.values()])
    arrays = {k: mx.array(v) for k, v in weights.items()}
    mx.eval(list(arrays.values()))
    timed("check_weights, mlx", lambda: check_weights(arrays, finite=mlx_finite))
    arrays.clear()
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "model.pt"
        torch.save(tensors, path)
        tensors.clear()
        timed("torch.load(weights_only=True)", lambda: torch.load(path, weights_only=True))
        timed("rae_convert.torch_pickle.load (allow-list)", lambda: load(path))

if __name__ == "__main__":
    main()
