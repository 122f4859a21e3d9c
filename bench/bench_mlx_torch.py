"""MLX vs torch on this machine, in one run: full-size DiT^DH-XL forward and ViT-XL decoder.

    python bench/bench_mlx_torch.py                 # everything (about 10 minutes on 2 CPU cores)
    python bench/bench_mlx_torch.py --quick         # batch 1 only

torch and MLX (with the system OpenBLAS on Linux, rae_mlx.blas) each run alone in a child process, one
after the other (best of 3 at batch 1, one run at batch 8): in one process their thread pools fight over the
cores. A third child runs MLX with the BLAS bundled in its wheel (RAE_MLX_OPENBLAS=0; a reduced set because
it is slow). Each measures its sgemm throughput (2048^3 float32 matmul) in the same way, so the achieved GFLOP/s
of each model can be read against what the machine's BLAS does.
FLOPs per image (reference-spec §10): DiT^DH-XL forward 323.2 GFLOP, DiT^DH-S 97 (autoguidance guide),
ViT-XL decoder 221.6; classifier-free guidance runs the doubled batch. One "step" is one guided velocity
evaluation, as a sampler calls it. Peak memory: MLX's allocator peak per phase (mx.get_peak_memory);
torch on CPU has no allocator statistics, so its process's max RSS so far is shown instead.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import load_average, setup_paths, timeit  # noqa: E402

GFLOP = {"dit": 323.2, "guide": 97.0, "decoder": 221.6}


def dit_cases(quick: bool) -> list[tuple[int, str]]:
    base = [(1, "none"), (1, "cfg"), (1, "autoguidance")]
    return base if quick else base + [(8, "none"), (8, "cfg")]


def flops(kind: str, batch: int, guidance: str = "none") -> float:
    if kind == "decoder":
        return GFLOP["decoder"] * batch
    return batch * {"none": GFLOP["dit"], "cfg": 2 * GFLOP["dit"], "autoguidance": GFLOP["dit"] + GFLOP["guide"]}[
        guidance]


# ---------------------------------------------------------------------------------------------- children


def alternate(fns: dict[str, callable], repeats: int, warmup: int) -> dict[str, float]:
    """Best-of-`repeats` seconds of each fn, calling them in turns, so a busy machine slows all alike."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    best = {k: float("inf") for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            start = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - start)
    return best


class TorchSide:
    """How the benchmark drives rae_torch."""

    name = "torch"

    def __init__(self):
        import torch

        import rae_torch
        from rae_torch.sampling import guided_velocity

        torch.set_grad_enabled(False)
        self.torch, self.rae, self.guided = torch, rae_torch, guided_velocity
        self.info = {"threads": torch.get_num_threads()}

    def build(self, config):
        return self.rae.build_model(config).eval()

    def array(self, a: np.ndarray):
        return self.torch.from_numpy(a)

    def run(self, fn) -> None:
        fn()

    def peak_gb(self) -> float:  # CPU torch has no allocator statistics: the process's max RSS so far
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6

    def reset_peak(self) -> None:
        pass


class MLXSide:
    """How the benchmark drives rae_mlx (with the system OpenBLAS on Linux, see rae_mlx.blas)."""

    name = "mlx"

    def __init__(self):
        import rae_mlx  # noqa: I001  (first: picks the BLAS)
        import mlx.core as mx

        from rae_mlx.sampling import guided_velocity

        self.mx, self.rae, self.guided = mx, rae_mlx, guided_velocity
        self.info = {"blas": rae_mlx.blas.status, "blas_library": rae_mlx.blas.loaded}

    def build(self, config):
        model = self.rae.build_model(config)
        self.mx.eval(model.parameters())
        return model

    def array(self, a: np.ndarray):
        return self.mx.array(a)

    def run(self, fn) -> None:
        self.mx.eval(fn())

    def peak_gb(self) -> float:
        return self.mx.get_peak_memory() / 1e9

    def reset_peak(self) -> None:
        self.mx.reset_peak_memory()


def child_backend(args, side) -> dict:
    """One backend alone in its process (two backends in one process fight over the cores: OpenBLAS
    worker threads keep spinning while torch's OpenMP threads run, which slowed torch 3x here)."""
    from rae_spec import GuidanceConfig, SamplerConfig, get_model

    out: dict = {**side.info, "cases": {}}
    rng = np.random.default_rng(0)
    a, b = side.array(rng.standard_normal((2048, 2048), dtype=np.float32)), side.array(
        rng.standard_normal((2048, 2048), dtype=np.float32))
    out["sgemm_gflops"] = 2 * 2048**3 / alternate({"mm": lambda: side.run(lambda: a @ b)}, 5, 1)["mm"] / 1e9

    def record(case: str, secs: float, gflop: float) -> None:
        out["cases"][case] = {"seconds": secs, "gflop": gflop, "peak_gb": side.peak_gb()}
        print(f"  {side.name} {case}: {secs:.2f} s", flush=True)

    main, guide = side.build(get_model("dit-dh-xl-256").config), side.build(get_model("dit-dh-s-256-guidance").config)
    for batch, mode in dit_cases(args.quick):
        x = rng.standard_normal((batch, 768, 16, 16), dtype=np.float32)
        labels = side.array(rng.integers(0, 1000, batch))
        guidance = GuidanceConfig(mode, 1.5) if mode != "none" else None
        v = side.guided(main, labels, guidance, guide if mode == "autoguidance" else None)
        xs, ts = side.array(x), side.array(np.full((batch,), 0.5, np.float32))
        side.reset_peak()
        reps, warm = (3, 1) if batch == 1 else (1, 0)
        secs = alternate({"f": lambda v=v, xs=xs, ts=ts: side.run(lambda: v(xs, ts))}, reps, warm)["f"]
        record(f"dit b{batch} {mode}", secs, flops("dit", batch, mode))

    if side.name == "mlx":  # mx.compile of the per-step function: three Euler steps with CFG, eager vs compiled
        from rae_mlx.sampling import Sampler

        x = side.array(rng.standard_normal((1, 768, 16, 16), dtype=np.float32))
        g = GuidanceConfig("cfg", 1.5)
        runs = {c: (lambda c=c, m=main: Sampler(SamplerConfig(num_steps=4), 6.928, compile=c).sample(
            x, side.guided(m, side.array(np.array([207])), g))) for c in (False, True)}
        secs = alternate(runs, 2, 1)
        out["compile"] = {"eager_s": secs[False], "compiled_s": secs[True], "gflop": 3 * flops("dit", 1, "cfg")}
        print(f"  3 CFG steps: eager {secs[False]:.2f} s, compiled {secs[True]:.2f} s", flush=True)
    del main, guide

    dec = side.build(get_model("decoder-dinov2-b-xl-256").config)
    for batch in ([1] if args.quick else [1, 8]):
        tokens = side.array(rng.standard_normal((batch, 256, 768), dtype=np.float32))
        side.reset_peak()
        reps, warm = (3, 1) if batch == 1 else (1, 0)
        secs = alternate({"f": lambda t=tokens: side.run(lambda: dec.unpatchify(dec(t)))}, reps, warm)["f"]
        record(f"decoder b{batch}", secs, flops("decoder", batch))
    return out


def child_mlx_reference_blas(args) -> dict:
    """MLX with the BLAS bundled in its wheel (RAE_MLX_OPENBLAS=0): sgemm, one DiT forward, one decode."""
    import rae_mlx  # noqa: I001
    import mlx.core as mx

    from rae_spec import get_model

    out: dict = {"blas": rae_mlx.blas.status, "cases": {}}
    a, b = mx.random.normal((2048, 2048)), mx.random.normal((2048, 2048))
    mx.eval(a, b)
    out["sgemm_gflops"] = 2 * 2048**3 / timeit(lambda: mx.eval(a @ b), 2) / 1e9
    main = rae_mlx.build_model(get_model("dit-dh-xl-256").config)
    mx.eval(main.parameters())
    x, t, y = mx.random.normal((1, 768, 16, 16)), mx.array([0.5]), mx.array([207])
    mx.reset_peak_memory()
    sec = timeit(lambda m=main: mx.eval(m(x, t, y)), 1, 0)
    out["cases"]["dit b1 none"] = {"seconds": sec, "gflop": flops("dit", 1), "peak_gb": mx.get_peak_memory() / 1e9}
    del main
    mx.clear_cache()
    dec = rae_mlx.build_model(get_model("decoder-dinov2-b-xl-256").config)
    tokens = mx.random.normal((1, 256, 768))
    mx.eval(dec.parameters(), tokens)
    mx.reset_peak_memory()
    sec = timeit(lambda: mx.eval(dec.unpatchify(dec(tokens))), 1, 0)
    out["cases"]["decoder b1"] = {"seconds": sec, "gflop": flops("decoder", 1), "peak_gb": mx.get_peak_memory() / 1e9}
    return out


# ---------------------------------------------------------------------------------------------- parent


def run_child(kind: str, args, env_extra: dict[str, str], extra: list[str]) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        path = f.name
    env = {**os.environ, **env_extra}
    cmd = [sys.executable, __file__, "--child", kind, "--out", path] + (["--quick"] if args.quick else []) + extra
    print(f"[{time.strftime('%H:%M:%S')}] {kind} {' '.join(f'{k}={v}' for k, v in env_extra.items())} ...",
          flush=True)
    subprocess.run(cmd, env=env, check=True)
    result = json.loads(Path(path).read_text())
    os.unlink(path)
    return result


def report(results: dict[str, dict]) -> str:
    compile_row = results["mlx"].get("compile")
    torch_r, mlx_r, ref_r = results["torch"], results["mlx"], results.get("mlx-reference-blas")
    lines = [f"machine: {platform.machine()} {platform.system()}, {os.cpu_count()} CPUs, load {load_average()}",
             f"torch threads {torch_r['threads']}; MLX BLAS: {mlx_r['blas']}; each backend in its own process",
             "sgemm 2048^3 float32: " + ", ".join(
                 f"{name} {r['sgemm_gflops']:.1f} GFLOP/s" for name, r in results.items()), ""]
    head = (f"{'case':32s} {'torch s':>8s} {'mlx s':>8s} {'mlx/torch':>9s} {'torch GF/s':>10s} {'mlx GF/s':>9s} "
            f"{'%sgemm t/m':>11s} {'torch RSS':>9s} {'mlx peak':>8s}")
    if ref_r:
        head += f" {'mlx refBLAS s':>13s}"
    lines += [head, "-" * len(head)]
    for case, m in mlx_r["cases"].items():
        t = torch_r["cases"].get(case)
        tg = t["gflop"] / t["seconds"] if t else float("nan")
        mg = m["gflop"] / m["seconds"]
        row = (f"{case:32s} {t['seconds'] if t else float('nan'):8.2f} {m['seconds']:8.2f} "
               f"{(m['seconds'] / t['seconds']) if t else float('nan'):9.2f} {tg:10.1f} {mg:9.1f} "
               f"{100 * tg / torch_r['sgemm_gflops']:5.0f}/{100 * mg / mlx_r['sgemm_gflops']:<5.0f} "
               f"{t['peak_gb'] if t else float('nan'):8.2f}G {m['peak_gb']:7.2f}G")
        if ref_r:
            r = ref_r["cases"].get(case)
            row += f" {r['seconds']:13.2f}" if r else f" {'-':>13s}"
        lines.append(row)
    if compile_row:
        eager, compiled = compile_row["eager_s"], compile_row["compiled_s"]
        lines.append(f"{'MLX sampler, 3 CFG steps b1':32s} eager {eager:.2f} s, mx.compile {compiled:.2f} s "
                     f"(compiled/eager {compiled / eager:.2f})")
    lines.append("")
    lines.append("mlx/torch < 1 means MLX is faster. GF/s = GFLOP per second achieved; %sgemm = that as a share of "
                 "the same backend's 2048^3 sgemm. torch RSS = max RSS so far of the torch process (CPU torch has no "
                 "allocator statistics); mlx peak = MLX allocator peak during the case.")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="batch 1 only")
    ap.add_argument("--no-reference-blas", action="store_true", help="skip the MLX run with its bundled BLAS")
    ap.add_argument("--json", default=None, help="also write the raw results here")
    ap.add_argument("--child", choices=["torch", "mlx", "reference-blas"], help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    setup_paths()
    if args.child:
        if args.child == "reference-blas":
            result = child_mlx_reference_blas(args)
        else:
            result = child_backend(args, TorchSide() if args.child == "torch" else MLXSide())
        Path(args.out).write_text(json.dumps(result))
        return
    results = {name: run_child(name, args, {}, []) for name in ("torch", "mlx")}
    if not args.no_reference_blas and sys.platform.startswith("linux"):
        results["mlx-reference-blas"] = run_child("reference-blas", args, {"RAE_MLX_OPENBLAS": "0"}, [])
    print()
    print(report(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
