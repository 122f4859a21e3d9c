"""Throughput of the FID tools on this machine, from one run: `rae sample-fid` with the digits-demo preset
(its own settings: 50 grid points, cfg 2.0) and `rae eval`'s Inception (the real architecture, random
weights) on torch and MLX, plus the metrics on pool_3-sized features.

    .venv/bin/python bench/fid_throughput.py [--samples 200] [--images 64] [--backends torch,mlx]
"""

from __future__ import annotations

import argparse
import importlib.util
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

if importlib.util.find_spec("mlx") is not None:
    import rae_mlx  # noqa: F401  (before anything imports mlx.core: the system OpenBLAS on Linux)

ROOT = Path(__file__).resolve().parents[1]
RAE = [sys.executable, "-c", "from rae_apps.cli import main; main()"]


def _child_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def sample_fid(n: int, backend: str, folder: Path) -> tuple[float, float]:
    """(images per wall second, images per CPU second), start-up included."""
    start, cpu = time.perf_counter(), _child_cpu()
    subprocess.run([*RAE, "sample-fid", "--preset", "digits-demo", "-n", str(n), "--batch-size", "50",
                    "--shard-size", "50", "--backend", backend, "-q", "--output", str(folder)], check=True,
                   capture_output=True)
    return n / (time.perf_counter() - start), n / (_child_cpu() - cpu)


def inception(n: int, backend: str) -> tuple[float, float]:
    """Images per second through the real-size network (after one warm-up batch), batches of 32 at 256 px."""
    sys.path.insert(0, str(ROOT))
    from rae_apps.evaluate import make_extractor
    from rae_apps.inception_weights import InceptionWeights

    from rae_spec.inception import InceptionConfig, random_weights

    weights = InceptionWeights(Path("random"), "0" * 64, "pb", InceptionConfig(), random_weights(0))
    run, _ = make_extractor(backend, weights)
    images = np.random.default_rng(0).integers(0, 256, (32, 256, 256, 3), dtype=np.uint8)
    run(images[:4])
    start, cpu = time.perf_counter(), time.process_time()
    done = 0
    while done < n:
        run(images)
        done += len(images)
    return done / (time.perf_counter() - start), done / (time.process_time() - cpu)


def metrics(n_ref: int, n_samples: int) -> float:
    from rae_spec.evaluator import precision_recall, statistics

    rng = np.random.default_rng(0)
    ref = np.abs(rng.normal(0.4, 0.4, (n_ref, 2048))).astype(np.float32)
    samples = np.abs(rng.normal(0.4, 0.4, (n_samples, 2048))).astype(np.float32)
    start = time.perf_counter()
    statistics(samples).frechet_distance(statistics(ref))
    precision_recall(ref, samples)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--backends", default="torch,mlx")
    args = parser.parse_args()
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory() as tmp:
            wall, cpu = sample_fid(args.samples, backend, Path(tmp) / "fid")
        print(f"rae sample-fid digits-demo ({backend}, 50 points, cfg): {wall:.1f} images/s "
              f"({cpu:.1f} per CPU second; start-up included)")
        wall, cpu = inception(args.images, backend)
        print(f"rae eval Inception ({backend}, 256 px -> 299): {wall:.2f} images/s ({cpu:.2f} per CPU second)")
    print(f"FID + precision/recall on 2,000 x 2,000 pool_3 features: {metrics(2000, 2000):.1f} s")


if __name__ == "__main__":
    main()
