"""MLX vs torch on this machine, in one run: full-size DiT^DH-XL forward and ViT-XL decoder.

    python bench/bench_mlx_torch.py                 # everything (about 10 minutes on 2 CPU cores)
    python bench/bench_mlx_torch.py --quick         # batch 1 only

torch and MLX (with the system OpenBLAS on Linux, rae_mlx.blas) run in one child process and are timed in
turns (best of 3 at batch 1, one run at batch 8), so a machine shared with other work slows both alike; a
second child runs MLX with the BLAS bundled in its wheel (RAE_MLX_OPENBLAS=0; a reduced set because it is
slow). Each measures its sgemm throughput (2048^3 float32 matmul) in the same way, so the achieved GFLOP/s
of each model can be read against what the machine's BLAS does.
FLOPs per image (reference-spec §10): DiT^DH-XL forward 323.2 GFLOP, DiT^DH-S 97 (autoguidance guide),
ViT-XL decoder 221.6; classifier-free guidance runs the doubled batch. One "step" is one guided velocity
evaluation, as a sampler calls it. Peak memory: MLX's allocator peak per phase (mx.get_peak_memory);
torch on CPU has no allocator statistics, so the shared process's max RSS so far is shown instead.
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


def child_pair(args) -> dict:
    """torch and MLX (with the system OpenBLAS) in one process, measured in turns."""
    import rae_mlx  # noqa: I001  (first: picks the BLAS)
    import mlx.core as mx
    import torch

    from rae_mlx.sampling import Sampler
    from rae_mlx.sampling import guided_velocity as mlx_guided
    from rae_spec import GuidanceConfig, SamplerConfig, get_model
    from rae_torch.sampling import guided_velocity as torch_guided

    torch.set_grad_enabled(False)
    out: dict = {"torch": {"threads": torch.get_num_threads(), "cases": {}},
                 "mlx": {"blas": rae_mlx.blas.status, "blas_library": rae_mlx.blas.loaded, "cases": {}}}
    ta, tb = torch.randn(2048, 2048), torch.randn(2048, 2048)
    ma, mb = mx.random.normal((2048, 2048)), mx.random.normal((2048, 2048))
    mx.eval(ma, mb)
    sg = alternate({"torch": lambda: torch.mm(ta, tb), "mlx": lambda: mx.eval(ma @ mb)}, 5, 1)
    for k in sg:
        out[k]["sgemm_gflops"] = 2 * 2048**3 / sg[k] / 1e9

    def rss() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # GB (ru_maxrss is KiB on Linux)

    def record(case: str, secs: dict[str, float], gflop: float, mlx_peak: float) -> None:
        out["torch"]["cases"][case] = {"seconds": secs["torch"], "gflop": gflop, "peak_gb": rss()}
        out["mlx"]["cases"][case] = {"seconds": secs["mlx"], "gflop": gflop, "peak_gb": mlx_peak}
        print(f"  {case}: torch {secs['torch']:.2f} s, mlx {secs['mlx']:.2f} s", flush=True)

    models = {}
    for name in ("dit-dh-xl-256", "dit-dh-s-256-guidance"):
        config = get_model(name).config
        models[name] = (rae_torch_build(config), rae_mlx.build_model(config))
        mx.eval(models[name][1].parameters())
    (t_main, m_main), (t_guide, m_guide) = models["dit-dh-xl-256"], models["dit-dh-s-256-guidance"]
    rng = np.random.default_rng(0)
    for batch, mode in dit_cases(args.quick):
        x = rng.standard_normal((batch, 768, 16, 16), dtype=np.float32)
        labels = rng.integers(0, 1000, batch)
        guidance = GuidanceConfig(mode, 1.5) if mode != "none" else None
        tv = torch_guided(t_main, torch.from_numpy(labels), guidance, t_guide if mode == "autoguidance" else None)
        mv = mlx_guided(m_main, mx.array(labels), guidance, m_guide if mode == "autoguidance" else None)
        tx, tt = torch.from_numpy(x), torch.full((batch,), 0.5)
        mxx, mt = mx.array(x), mx.full((batch,), 0.5)
        mx.reset_peak_memory()
        reps, warm = (3, 1) if batch == 1 else (1, 0)
        secs = alternate({"torch": lambda tv=tv, tx=tx, tt=tt: tv(tx, tt),
                          "mlx": lambda mv=mv, mxx=mxx, mt=mt: mx.eval(mv(mxx, mt))}, reps, warm)
        record(f"dit b{batch} {mode}", secs, flops("dit", batch, mode), mx.get_peak_memory() / 1e9)

    # mx.compile of the per-step function: three Euler steps with CFG, eager vs compiled, in turns.
    x = mx.array(rng.standard_normal((1, 768, 16, 16), dtype=np.float32))
    guidance = GuidanceConfig("cfg", 1.5)
    runs = {c: (lambda c=c, m=m_main: Sampler(SamplerConfig(num_steps=4), 6.928, compile=c).sample(
        x, mlx_guided(m, mx.array([207]), guidance))) for c in (False, True)}
    secs = alternate(runs, 2, 1)
    out["mlx"]["compile"] = {"eager_s": secs[False], "compiled_s": secs[True], "gflop": 3 * flops("dit", 1, "cfg")}
    print(f"  3 CFG steps: eager {secs[False]:.2f} s, compiled {secs[True]:.2f} s", flush=True)
    del models, t_main, m_main, t_guide, m_guide, runs
    mx.clear_cache()

    config = get_model("decoder-dinov2-b-xl-256").config
    t_dec, m_dec = rae_torch_build(config), rae_mlx.build_model(config)
    mx.eval(m_dec.parameters())
    for batch in ([1] if args.quick else [1, 8]):
        tokens = rng.standard_normal((batch, 256, 768), dtype=np.float32)
        tt, mt = torch.from_numpy(tokens), mx.array(tokens)
        mx.reset_peak_memory()
        reps, warm = (3, 1) if batch == 1 else (1, 0)
        secs = alternate({"torch": lambda tt=tt: t_dec.unpatchify(t_dec(tt)),
                          "mlx": lambda mt=mt: mx.eval(m_dec.unpatchify(m_dec(mt)))}, reps, warm)
        record(f"decoder b{batch}", secs, flops("decoder", batch), mx.get_peak_memory() / 1e9)
    return out


def rae_torch_build(config):
    from rae_torch import build_model

    return build_model(config).eval()


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
    if compile_row:
        eager, compiled = compile_row["eager_s"], compile_row["compiled_s"]
        lines.append(f"{'MLX sampler, 3 CFG steps b1':32s} eager {eager:.2f} s, mx.compile {compiled:.2f} s "
                     f"(compiled/eager {compiled / eager:.2f})")
    lines.append("")
    lines.append("mlx/torch < 1 means MLX is faster. GF/s = GFLOP per second achieved; %sgemm = that as a share of "
                 "the same backend's 2048^3 sgemm. torch RSS = max RSS so far of the process that holds both backends' "
                 "models (CPU torch has no allocator statistics); mlx peak = MLX allocator peak during the case.")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="batch 1 only")
    ap.add_argument("--no-reference-blas", action="store_true", help="skip the MLX run with its bundled BLAS")
    ap.add_argument("--json", default=None, help="also write the raw results here")
    ap.add_argument("--child", choices=["pair", "reference-blas"], help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    setup_paths()
    if args.child:
        result = child_pair(args) if args.child == "pair" else child_mlx_reference_blas(args)
        Path(args.out).write_text(json.dumps(result))
        return
    pair = run_child("pair", args, {}, [])
    results = {"torch": pair["torch"], "mlx": pair["mlx"]}
    if not args.no_reference_blas and sys.platform.startswith("linux"):
        results["mlx-reference-blas"] = run_child("reference-blas", args, {"RAE_MLX_OPENBLAS": "0"}, [])
    print()
    print(report(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
