"""MLX vs torch on this machine, in one run: full-size DiT^DH-XL forward and ViT-XL decoder.

    python bench/bench_mlx_torch.py                 # everything (about 10 minutes on 2 CPU cores)
    python bench/bench_mlx_torch.py --quick         # batch 1 only

Each backend runs in its own child process, one after the other (same machine, same run): torch, MLX with
the system OpenBLAS (rae_mlx.blas, Linux), and MLX with the BLAS bundled in its wheel (RAE_MLX_OPENBLAS=0,
a reduced set because it is slow). Every child first measures its own sgemm throughput (2048^3 float32
matmul), so the achieved GFLOP/s of each model can be read against what the machine's BLAS does.
FLOPs per image (reference-spec §10): DiT^DH-XL forward 323.2 GFLOP, DiT^DH-S 97 (autoguidance guide),
ViT-XL decoder 221.6; classifier-free guidance runs the doubled batch. One "step" is one guided velocity
evaluation, as a sampler calls it. Peak memory: MLX's allocator peak per phase (mx.get_peak_memory);
torch on CPU has no allocator statistics, so the process's max RSS so far is shown instead.
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


def child_torch(args) -> dict:
    import torch

    from rae_spec import GuidanceConfig, get_model
    from rae_torch import build_model
    from rae_torch.sampling import guided_velocity

    torch.set_grad_enabled(False)
    out: dict = {"backend": "torch", "threads": torch.get_num_threads(), "cases": {}}
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    out["sgemm_gflops"] = 2 * 2048**3 / timeit(lambda: torch.mm(a, b), 3) / 1e9

    def rss() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # GB (ru_maxrss is KiB on Linux)

    main = build_model(get_model("dit-dh-xl-256").config).eval()
    guide = build_model(get_model("dit-dh-s-256-guidance").config).eval()
    rng = torch.Generator().manual_seed(0)
    for batch, mode in dit_cases(args.quick) if not args.dit_batch1_only else [(1, "none")]:
        x = torch.randn(batch, 768, 16, 16, generator=rng)
        t = torch.full((batch,), 0.5)
        labels = torch.randint(0, 1000, (batch,), generator=rng)
        v = guided_velocity(main, labels, GuidanceConfig(mode, 1.5) if mode != "none" else None,
                            guide if mode == "autoguidance" else None)
        reps, warm = (2, 1) if batch == 1 else (1, 0)
        sec = timeit(lambda v=v, x=x, t=t: v(x, t), reps, warm)
        out["cases"][f"dit b{batch} {mode}"] = {"seconds": sec, "gflop": flops("dit", batch, mode), "peak_gb": rss()}
    del main, guide
    dec = build_model(get_model("decoder-dinov2-b-xl-256").config).eval()
    for batch in ([1] if args.quick or args.dit_batch1_only else [1, 8]):
        tokens = torch.randn(batch, 256, 768, generator=rng)
        reps, warm = (2, 1) if batch == 1 else (1, 0)
        sec = timeit(lambda tk=tokens: dec.unpatchify(dec(tk)), reps, warm)
        out["cases"][f"decoder b{batch}"] = {"seconds": sec, "gflop": flops("decoder", batch), "peak_gb": rss()}
    return out


def child_mlx(args) -> dict:
    import rae_mlx  # noqa: I001  (first: picks the BLAS)
    import mlx.core as mx

    from rae_mlx import build_model
    from rae_mlx.sampling import Sampler, guided_velocity
    from rae_spec import GuidanceConfig, SamplerConfig, get_model

    out: dict = {"backend": "mlx", "blas": rae_mlx.blas.status, "blas_library": rae_mlx.blas.loaded, "cases": {}}
    a, b = mx.random.normal((2048, 2048)), mx.random.normal((2048, 2048))
    mx.eval(a, b)
    out["sgemm_gflops"] = 2 * 2048**3 / timeit(lambda: mx.eval(a @ b), 3) / 1e9

    def run(fn) -> None:
        mx.eval(fn())

    main = build_model(get_model("dit-dh-xl-256").config)
    guide = build_model(get_model("dit-dh-s-256-guidance").config)
    mx.eval(main.parameters(), guide.parameters())
    cases = dit_cases(args.quick) if not args.dit_batch1_only else [(1, "none")]
    for batch, mode in cases:
        x = mx.random.normal((batch, 768, 16, 16))
        t = mx.full((batch,), 0.5)
        labels = mx.random.randint(0, 1000, (batch,))
        v = guided_velocity(main, labels, GuidanceConfig(mode, 1.5) if mode != "none" else None,
                            guide if mode == "autoguidance" else None)
        mx.eval(x, t, labels)
        mx.reset_peak_memory()
        reps, warm = (2, 1) if batch == 1 else (1, 0)
        sec = timeit(lambda v=v, x=x, t=t: run(lambda: v(x, t)), reps, warm)
        out["cases"][f"dit b{batch} {mode}"] = {"seconds": sec, "gflop": flops("dit", batch, mode),
                                                "peak_gb": mx.get_peak_memory() / 1e9}
    if not args.dit_batch1_only:
        # mx.compile of the per-step function: three Euler steps, eager vs compiled.
        x = mx.random.normal((1, 768, 16, 16))
        labels = mx.array([207])
        for compiled in (False, True):
            sampler = Sampler(SamplerConfig(num_steps=4), 6.928, compile=compiled)
            sec = timeit(lambda s=sampler, m=main: s.sample(x, guided_velocity(m, labels)), 1, 1)
            out["cases"][f"sampler 3 steps b1 compile={compiled}"] = {"seconds": sec, "gflop": 3 * GFLOP["dit"],
                                                                      "peak_gb": mx.get_peak_memory() / 1e9}
    del main, guide
    mx.clear_cache()
    dec = build_model(get_model("decoder-dinov2-b-xl-256").config)
    mx.eval(dec.parameters())
    for batch in ([1] if args.quick or args.dit_batch1_only else [1, 8]):
        tokens = mx.random.normal((batch, 256, 768))
        mx.eval(tokens)
        mx.reset_peak_memory()
        reps, warm = (2, 1) if batch == 1 else (1, 0)
        sec = timeit(lambda tk=tokens: run(lambda: dec.unpatchify(dec(tk))), reps, warm)
        out["cases"][f"decoder b{batch}"] = {"seconds": sec, "gflop": flops("decoder", batch),
                                             "peak_gb": mx.get_peak_memory() / 1e9}
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
    torch_r, mlx_r, ref_r = results["torch"], results["mlx"], results.get("mlx-reference-blas")
    lines = [f"machine: {platform.machine()} {platform.system()}, {os.cpu_count()} CPUs, load {load_average()}",
             f"torch threads {torch_r['threads']}; MLX BLAS: {mlx_r['blas']}",
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
    lines.append("")
    lines.append("mlx/torch < 1 means MLX is faster. GF/s = GFLOP per second achieved; %sgemm = that as a share of "
                 "the same backend's 2048^3 sgemm. torch RSS = process max RSS so far; mlx peak = MLX allocator peak "
                 "during the case.")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="batch 1 only")
    ap.add_argument("--no-reference-blas", action="store_true", help="skip the MLX run with its bundled BLAS")
    ap.add_argument("--json", default=None, help="also write the raw results here")
    ap.add_argument("--child", choices=["torch", "mlx"], help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--dit-batch1-only", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    setup_paths()
    if args.child:
        result = child_torch(args) if args.child == "torch" else child_mlx(args)
        Path(args.out).write_text(json.dumps(result))
        return
    results = {"torch": run_child("torch", args, {}, []),
               "mlx": run_child("mlx", args, {"RAE_MLX_OPENBLAS": "1"}, [])}
    if not args.no_reference_blas and sys.platform.startswith("linux"):
        results["mlx-reference-blas"] = run_child("mlx", args, {"RAE_MLX_OPENBLAS": "0"}, ["--dit-batch1-only"])
    print()
    print(report(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
