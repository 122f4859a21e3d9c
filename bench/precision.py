"""Full-size precision report: torch <-> MLX conversion error, half precision and quantization.

    python bench/precision.py [--batch 2] [--workdir /tmp/rae-precision]

1. A random-weight DiT^DH-XL (every tensor random, see common.randomize_torch) is saved by torch as a
   .pt, converted torch -> MLX by rae_convert (torch-free reader), loaded by rae_mlx, and both backends
   run the same float32 forward: the max abs difference relative to the output scale must be <= 1e-4.
   The MLX folder converted back to torch must equal the original state dict bit for bit.
2. The same MLX model in bfloat16, float16, 8-bit and 4-bit (group 64) against MLX float32.
3. The ViT-XL decoder (random weights) the same way; decoded images compared by PSNR (peak = the float32
   image's value range, since random weights do not produce [0, 1] images).
Needs torch and mlx, ~12 GB of RAM and ~7 GB of disk in --workdir.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import shutil
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import load_average, randomize_torch, setup_paths  # noqa: E402

setup_paths()

import rae_mlx  # noqa: E402,I001  (before mlx.core: OpenBLAS on Linux)
import mlx.core as mx  # noqa: E402
import rae_torch  # noqa: E402
import torch  # noqa: E402

from rae_convert import convert_file  # noqa: E402
from rae_convert.safetensors_io import read  # noqa: E402
from rae_spec import get_model  # noqa: E402


def stats(out: np.ndarray, ref: np.ndarray) -> dict[str, float]:
    err = np.abs(out.astype(np.float64) - ref.astype(np.float64))
    scale = float(np.abs(ref).max())
    rmse = float(np.sqrt((err**2).mean()))
    peak = float(ref.max() - ref.min())
    return {"max_abs": float(err.max()), "scale": scale, "relative": float(err.max()) / scale,
            "rmse": rmse, "psnr_db": 20 * math.log10(peak / rmse) if rmse > 0 else float("inf")}


def line(name: str, s: dict[str, float]) -> str:
    return (f"  {name:28s} max|err| {s['max_abs']:.3e}  relative {s['relative']:.2e}  rmse {s['rmse']:.2e}  "
            f"PSNR {s['psnr_db']:6.1f} dB")


def dit_inputs(batch: int, config):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, *config.latent_shape), dtype=np.float32)
    t = np.linspace(0.3, 0.9, batch).astype(np.float32)
    y = rng.integers(0, 1000, batch)
    return x, t, y


def convert_and_compare(name: str, config, run_torch, run_mlx, workdir: Path, results: dict) -> None:
    print(f"\n== {name} ({config.__class__.__name__})", flush=True)
    start = time.perf_counter()
    tmodel = randomize_torch(rae_torch.build_model(config))
    print(f"  random init {time.perf_counter() - start:.0f} s", flush=True)
    with torch.no_grad():
        ref_t = run_torch(tmodel)
    pt = workdir / f"{name}.pt"
    torch.save(tmodel.state_dict(), pt)
    del tmodel
    gc.collect()
    start = time.perf_counter()
    convert_file(pt, workdir / f"{name}-mlx", config, "torch->mlx")
    print(f"  converted torch -> MLX in {time.perf_counter() - start:.0f} s", flush=True)
    start = time.perf_counter()
    convert_file(workdir / f"{name}-mlx", workdir / f"{name}-torch", direction="mlx->torch")
    original = torch.load(pt, mmap=True, weights_only=True)
    back, _ = read(workdir / f"{name}-torch" / "model.safetensors")
    identical = all(np.array_equal(back[k], v.numpy()) for k, v in original.items())
    del original, back
    gc.collect()
    print(f"  MLX -> torch round trip bit-identical: {identical} ({time.perf_counter() - start:.0f} s)", flush=True)

    model = rae_mlx.load_model(workdir / f"{name}-mlx")
    ref_m = run_mlx(model)
    cross = stats(ref_m, ref_t)
    print(line("float32 MLX vs torch", cross), flush=True)
    rows = {"float32 MLX vs torch": cross}
    del model
    gc.collect()
    for variant in ("bfloat16", "float16", "8-bit", "4-bit"):
        if variant.endswith("bit"):
            model = rae_mlx.load_model(workdir / f"{name}-mlx")
            layers = rae_mlx.quantize_model(model, bits=int(variant.split("-")[0]), group_size=64)
            label = f"{variant} ({len(layers)} layers)"
        else:
            model = rae_mlx.load_model(workdir / f"{name}-mlx", dtype=variant)
            label = variant
        out = run_mlx(model)
        s = stats(out, ref_m)
        s["finite"] = bool(np.isfinite(out).all())
        rows[variant] = s
        print(line(label + " vs float32", s), flush=True)
        del model
        mx.clear_cache()
        gc.collect()
    results[name] = {"round_trip_bit_identical": identical, "rows": rows}
    for suffix in (".pt", "-mlx", "-torch"):
        p = workdir / f"{name}{suffix}"
        shutil.rmtree(p) if p.is_dir() else p.unlink()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--workdir", default="/tmp/rae-precision")
    ap.add_argument("--only", choices=["dit", "decoder"], default=None)
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"torch {torch.__version__}, mlx {mx.__version__}, device {mx.default_device()}, "
          f"BLAS {rae_mlx.blas.status}, load {load_average()}")
    results: dict = {}

    if args.only in (None, "dit"):
        config = get_model("dit-dh-xl-256").config
        x, t, y = dit_inputs(args.batch, config)

        def run_torch(m):
            return m(torch.from_numpy(x), torch.from_numpy(t), torch.from_numpy(y)).numpy()

        def run_mlx(m):
            out = m(mx.array(x), mx.array(t), mx.array(y))
            return np.asarray(out.astype(mx.float32))

        convert_and_compare("dit-dh-xl-256", config, run_torch, run_mlx, workdir, results)

    if args.only in (None, "decoder"):
        config = get_model("decoder-dinov2-b-xl-256").config
        rng = np.random.default_rng(1)
        z = rng.standard_normal((args.batch, config.latent_dim, config.grid_size, config.grid_size), dtype=np.float32)

        def run_torch_dec(m):
            tokens = torch.from_numpy(z).flatten(2).transpose(1, 2)
            return m.unpatchify(m(tokens)).numpy()

        def run_mlx_dec(m):
            tokens = mx.array(z).reshape(z.shape[0], z.shape[1], -1).transpose(0, 2, 1)
            return np.asarray(m.unpatchify(m(tokens)).astype(mx.float32))

        convert_and_compare("decoder-vit-xl-256", config, run_torch_dec, run_mlx_dec, workdir, results)

    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
