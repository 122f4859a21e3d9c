"""Peak memory of the released 256-px autoguidance pipeline, per phase, dtype and quantization, in fresh processes.

The pipeline is `dit-dh-xl-256-ag` at full size: DiT^DH-XL (839 M parameters), the DiT^DH-S guide (196 M) and
the ViT-XL decoder (415 M), with random weights written in the released file formats (`stage2_model.pt`,
`model.pt`, `stat.pt`, under their hub paths in a Hugging Face cache laid out as `rae download` leaves it).
The script generates them once (with torch) and keeps them, and the MLX conversion cache it fills, outside
git: --weights, default $RAE_BENCH_WEIGHTS or ~/.cache/rae/bench/xl-256-ag (about 6 GB of sources, up to
14 GB of conversions).

Each setting runs in its own process, through the `rae sample` engine: load the DiT and guide (and the decoder,
unless --low-memory), sample one image with 2 grid points (one Euler step, autoguidance), then (after freeing
the DiT and guide, with --low-memory) load the decoder and decode. For each phase it records MLX's own peak
(`mx.get_peak_memory`, reset at the start of the phase) and the process's peak RSS in the phase (VmHWM, reset
through /proc/self/clear_refs on Linux); at the end the process's max RSS. The MLX settings are float32,
bfloat16, float16, and 8- and 4-bit quantized linear layers (float32 elsewhere, the default of
`--quantize`), each with and without --low-memory, from a warm conversion cache; "cold" rows convert first
(load phase only). Torch (CPU) runs float32, bfloat16 and float16 (autocast) with RSS as its measure.

    python bench/memory.py                         # everything (about an hour on 2 CPU cores)
    python bench/memory.py --settings float32,q4 --no-torch --record out.json
    python bench/memory.py --fast-start            # also: time to the first image, cold and warm cache

The last line is `xl_peak_gb float32=<x> bfloat16=<x> float16=<x> q8=<x> q4=<x>`: for each MLX setting the
lowest whole-run peak (the largest phase peak) in GB (1e9 bytes), --low-memory allowed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from rae_spec.memory import SETTINGS

REPO = Path(__file__).resolve().parents[1]
PRESET = "dit-dh-xl-256-ag"
MLX_SETTINGS = {name: (p.dtype, p.bits) for name, p in SETTINGS.items()}
TORCH_SETTINGS = ("float32", "bfloat16", "float16")
GENERATOR = "bench/memory.py weights v2 (HF cache)"


def default_weights() -> Path:
    return Path(os.environ.get("RAE_BENCH_WEIGHTS", "~/.cache/rae/bench/xl-256-ag")).expanduser()


# ---------------------------------------------------------------------------------------------- weights


def ensure_weights(root: Path) -> Path:
    """The HF cache folder with random full-size weights in the released formats (generated once, with torch)."""
    hub = root / "hub"
    stamp = root / "weights.json"
    if stamp.is_file() and json.loads(stamp.read_text()).get("generator") == GENERATOR:
        return hub
    import torch

    sys.path.insert(0, str(REPO / "bench"))
    from common import randomize_torch

    from rae_spec.presets import MODELS, PIPELINES
    from rae_torch import build_model

    p = PIPELINES[PRESET]
    files = {}
    staging = root / "models"
    for seed, name in enumerate((p.dit, p.guide, p.decoder, p.stats)):
        preset = MODELS[name]
        target = staging / preset.repo / preset.filename
        if not target.is_file():
            target.parent.mkdir(parents=True, exist_ok=True)
            print(f"writing random {name} -> {target}", file=sys.stderr, flush=True)
            if name == p.stats:
                c = preset.config
                g = torch.Generator().manual_seed(9)
                torch.save({"mean": None, "var": 0.5 + torch.rand((c.channels, c.grid_size, c.grid_size),
                                                                  generator=g)}, target)
            else:
                model = randomize_torch(build_model(preset.config), seed)
                torch.save(model.state_dict(), target)  # the released layout: a raw state dict
                del model
        files[name] = target.stat().st_size
        publish(hub, preset.repo, preset.filename, target)
    stamp.write_text(json.dumps({"generator": GENERATOR, "files": files}, indent=1))
    return hub


def publish(hub: Path, repo: str, filename: str, src: Path) -> None:
    """Move `src` into `hub` as huggingface_hub stores a download: blobs/<sha256>, a snapshot symlink, refs/main."""
    from rae_spec.files import sha256_file

    if src.is_symlink():  # published by an earlier run
        return
    folder = hub / f"models--{repo.replace('/', '--')}"
    commit = "0" * 40
    (folder / "blobs").mkdir(parents=True, exist_ok=True)
    (folder / "refs").mkdir(exist_ok=True)
    (folder / "refs" / "main").write_text(commit)
    blob = folder / "blobs" / sha256_file(src)
    os.replace(src, blob)
    link = folder / "snapshots" / commit / filename
    link.parent.mkdir(parents=True, exist_ok=True)
    link.unlink(missing_ok=True)
    link.symlink_to(os.path.relpath(blob, link.parent))
    src.symlink_to(blob)  # the staging path stays valid (and marks the file as written)


# ---------------------------------------------------------------------------------------------- one run


def _rss_hwm() -> int | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _reset_hwm() -> None:
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def child(spec: dict) -> dict:
    """One run in this (fresh) process: the phases of `rae sample` with one image and 2 grid points."""
    if spec["backend"] == "mlx":
        import rae_mlx  # noqa: F401, I001  (first: the system OpenBLAS)
        import mlx.core as mx

        def reset():
            mx.synchronize()
            mx.reset_peak_memory()

        def peaks():
            mx.synchronize()
            return {"mlx_peak": int(mx.get_peak_memory()), "mlx_active": int(mx.get_active_memory()),
                    "mlx_cache": int(mx.get_cache_memory())}
    else:
        def reset():
            pass

        def peaks():
            return {}
    import dataclasses

    import numpy as np
    from rae_apps.doctor import measured_run
    from rae_apps.engines import make_engine
    from rae_apps.hub import Store
    from rae_apps.job import load_models
    from rae_apps.pipeline import from_preset
    from rae_apps.registry import load_registry

    t0 = time.perf_counter()
    pipe = from_preset(load_registry(None), Store(), PRESET, download=False)
    pipe = dataclasses.replace(pipe, sampler=dataclasses.replace(pipe.sampler, num_steps=2))
    engine = make_engine(spec["backend"], spec["dtype"], spec.get("quantize"),
                         log=lambda m: print(m, file=sys.stderr, flush=True))
    for change in spec.get("without", ()):  # ablations: run without one of the memory measures
        if change == "clear_cache":
            import gc

            import rae_apps.engines.mlx_engine as mlx_engine

            mlx_engine.release = gc.collect  # still drops Python garbage, but keeps MLX's buffer cache
        elif change == "micro_batch":
            engine.decode_batch_size = None  # decode the whole batch at once
        else:
            raise SystemExit(f"unknown ablation {change}")
    phases: dict[str, dict] = {}

    def phase(name, fn):
        reset()
        _reset_hwm()
        start = time.perf_counter()
        out = fn()
        phases[name] = {"seconds": time.perf_counter() - start, "rss_peak": _rss_hwm(), **peaks()}
        print(f"  {name}: {json.dumps(phases[name])}", file=sys.stderr, flush=True)
        return out

    low = spec["low_memory"]
    if spec.get("load_only"):
        phase("load", lambda: load_models(engine, pipe, low))
        return {"phases": phases, "max_rss": _max_rss(phases), "total_seconds": time.perf_counter() - t0}
    images = measured_run(engine, pipe, phase, batch=spec.get("batch", 1), label=207, low_memory=low)
    if not np.isfinite(images).all():
        raise SystemExit("non-finite image")
    return {"phases": phases, "max_rss": _max_rss(phases), "total_seconds": time.perf_counter() - t0}


def _max_rss(phases: dict[str, dict]) -> int:
    """The process's peak RSS: getrusage's, or the largest phase peak where resetting VmHWM reset it too."""
    from rae_apps.machine import process_peak_rss

    return max([process_peak_rss()] + [p["rss_peak"] for p in phases.values() if p.get("rss_peak")])


def run_child(spec: dict, env: dict) -> dict:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    done = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        return {"error": f"exit {done.returncode}"}
    return json.loads(lines[-1][len("RESULT "):])


# ---------------------------------------------------------------------------------------------- fast start


def fast_start(env: dict, cache: Path) -> list[dict]:
    """Time from starting `rae sample` to the PNG written: with a cold conversion cache (cleared), warm, and warm
    with the hash index deleted (the cache check then reads and hashes the cached files once)."""
    rows = []
    for dtype in ("float32", "bfloat16"):
        shutil.rmtree(cache, ignore_errors=True)
        for state in ("cold", "warm", "warm, hashes forgotten"):
            if state == "warm, hashes forgotten":
                (cache / "sha256.json").unlink(missing_ok=True)
            out = cache.parent / f"fast-{dtype}.png"
            cmd = [str(Path(sys.executable).with_name("rae")), "sample", "--preset", PRESET, "--backend", "mlx",
                   "--dtype", dtype, "--steps", "2", "--class", "207", "--seed", "0", "-v", "-q", "--output",
                   str(out), "--batch-size", "1"]
            start = time.perf_counter()
            done = subprocess.run(cmd, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
            wall = time.perf_counter() - start
            load = sum(float(line.split(":")[1].split(" s")[0]) for line in done.stderr.splitlines()
                       if line.startswith(("load:", "load decoder:")))
            rows.append({"dtype": dtype, "cache": state, "seconds": wall, "load_seconds": load,
                         "ok": done.returncode == 0})
            print(f"fast start {dtype} {state}: {wall:.1f} s to the first image, load {load:.1f} s "
                  f"({100 * load / wall:.0f} %)", file=sys.stderr, flush=True)
            out.unlink(missing_ok=True)
    return rows


# ---------------------------------------------------------------------------------------------- report


def whole_run(result: dict, key: str) -> float | None:
    values = [p.get(key) for p in result.get("phases", {}).values() if p.get(key) is not None]
    return max(values) / 1e9 if values else None


def table(rows: list[dict]) -> list[str]:
    names = ("load", "sample", "load decoder", "decode")
    head = f"{'backend':7s} {'setting':9s} {'low-mem':7s} {'cache':5s} " + " ".join(f"{n:>12s}" for n in names)
    out = [head + f" {'whole run':>10s} {'max RSS':>8s} {'seconds':>8s}"]
    for r in rows:
        res = r["result"]
        if "error" in res:
            out.append(f"{r['backend']:7s} {r['setting']:9s} {str(r['low_memory']):7s} {r['cache']:5s} {res['error']}")
            continue
        key = "mlx_peak" if r["backend"] == "mlx" else "rss_peak"
        cells = []
        for n in names:
            p = res["phases"].get(n)
            if p is None:
                cells.append(f"{'-':>12s}")
            else:
                rss = p.get("rss_peak")
                mem = f"{p[key] / 1e9:.2f}" + (f"/{rss / 1e9:.2f}" if key == "mlx_peak" and rss else "")
                cells.append(f"{mem:>12s}")
        whole = whole_run(res, key)
        out.append(f"{r['backend']:7s} {r['setting']:9s} {str(r['low_memory']):7s} {r['cache']:5s} " + " ".join(cells)
                   + f" {whole:10.2f} {res['max_rss'] / 1e9:8.2f} {res['total_seconds']:8.1f}")
    return out


def lowest(rows: list[dict], backend: str, settings) -> dict[str, float]:
    key = "mlx_peak" if backend == "mlx" else "rss_peak"
    out = {}
    for s in settings:
        values = [whole_run(r["result"], key) for r in rows if r["backend"] == backend and r["setting"] == s
                  and r["cache"] == "warm" and "error" not in r["result"]]
        values = [v for v in values if v is not None]
        if values:
            out[s] = min(values)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, default=default_weights())
    ap.add_argument("--settings", default=",".join(MLX_SETTINGS), help="MLX settings to run")
    ap.add_argument("--low-memory", choices=("both", "on", "off"), default="both")
    ap.add_argument("--no-torch", action="store_true", help="skip the torch (CPU) runs")
    ap.add_argument("--no-mlx", action="store_true", help="skip the MLX runs")
    ap.add_argument("--no-cold", action="store_true", help="skip the cold-cache load runs")
    ap.add_argument("--fast-start", action="store_true", help="also time the first image, cold and warm")
    ap.add_argument("--batch", type=int, default=4, help="an extra float32 --low-memory MLX run at this batch "
                                                         "(checks how the estimate scales; 1: none)")
    ap.add_argument("--ablations", action="store_true",
                    help="float32 runs without mx.clear_cache between phases, and at --batch without micro-batched "
                         "decoding, to show what each bought")
    ap.add_argument("--cache", type=Path, default=None, help="the rae cache to use [default: WEIGHTS/rae-cache]")
    ap.add_argument("--record", type=Path, default=None, help="write every measurement as JSON")
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child is not None:
        print("RESULT " + json.dumps(child(json.loads(args.child))), flush=True)
        return

    hub = ensure_weights(args.weights)
    cache = args.cache or args.weights / "rae-cache"
    env = {**os.environ, "RAE_CACHE": str(cache), "HF_HUB_CACHE": str(hub), "HF_HUB_OFFLINE": "1"}
    lows = {"both": (False, True), "on": (True,), "off": (False,)}[args.low_memory]
    settings = [s for s in args.settings.split(",") if s]
    rows: list[dict] = []

    def record(backend, setting, low, state, spec):
        print(f"{backend} {setting} low-memory={low} {state} ...", file=sys.stderr, flush=True)
        rows.append({"backend": backend, "setting": setting, "low_memory": low, "cache": state,
                     "batch": spec.get("batch", 1), "result": run_child(spec, env)})

    if not args.no_mlx:
        for s in settings:
            dtype, bits = MLX_SETTINGS[s]
            base = {"backend": "mlx", "dtype": dtype, "quantize": bits}
            if not args.no_cold:
                q = f"-q{bits}g64" if bits else ""
                for old in cache.glob(f"mlx/*/{dtype}{q}-*"):
                    shutil.rmtree(old)
                record("mlx", s, False, "cold", {**base, "low_memory": False, "load_only": True})
            for low in lows:
                record("mlx", s, low, "warm", {**base, "low_memory": low})
        f32 = {"backend": "mlx", "dtype": "float32", "quantize": None, "low_memory": True}
        if args.batch > 1:
            record("mlx", "float32", True, f"b{args.batch}", {**f32, "batch": args.batch})
        if args.ablations:
            record("mlx", "float32", True, "no-clear-cache", {**f32, "without": ["clear_cache"]})
            record("mlx", "float32", True, f"b{args.batch}-no-micro", {**f32, "batch": args.batch,
                                                                       "without": ["micro_batch"]})
    if not args.no_torch:
        for s in TORCH_SETTINGS:
            for low in lows:
                record("torch", s, low, "warm", {"backend": "torch", "dtype": s, "low_memory": low})
    starts = fast_start(env, cache) if args.fast_start else []

    print("peak per phase in GB: MLX rows show mx.get_peak_memory / process RSS peak; torch rows RSS peak")
    for line in table(rows):
        print(line)
    for r in starts:
        print(f"first image {r['dtype']:8s} {r['cache']:19s} {r['seconds']:7.1f} s, load {r['load_seconds']:.1f} s "
              f"({100 * r['load_seconds'] / r['seconds']:.0f} % of it)" + ("" if r["ok"] else " FAILED"))
    if args.record is not None:
        args.record.write_text(json.dumps({"preset": PRESET, "rows": rows, "fast_start": starts}, indent=1))
    torch_low = lowest(rows, "torch", TORCH_SETTINGS)
    if torch_low:
        print("torch_peak_gb " + " ".join(f"{k}={v:.2f}" for k, v in torch_low.items()))
    mlx_low = lowest(rows, "mlx", MLX_SETTINGS)
    print("xl_peak_gb " + " ".join(f"{k}={mlx_low[k]:.2f}" if k in mlx_low else f"{k}=nan" for k in MLX_SETTINGS))


if __name__ == "__main__":
    main()
