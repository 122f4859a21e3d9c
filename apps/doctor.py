"""`rae doctor`: a short report of this machine, for a user deciding what to run and for a bug report.

It says which backend `rae sample` would use and on what device, the BLAS MLX uses on Linux (and the fix when
it is the slow reference one), the memory available, the versions, which presets are downloaded and converted
for MLX, and it times a few sampling steps and one decode of the default pipeline at the chosen dtype, with
the peak memory: on the real weights when they are downloaded, else on random weights of the same shapes
(the same work and memory). It ends with what to change when the pipeline will not fit.
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import numpy as np

from . import __version__
from .engines import auto_reason, choose_backend, installed, make_engine
from .hub import Store, human_size
from .job import load_models
from .machine import (
    HEADROOM,
    advice,
    available_memory,
    estimate,
    machine_line,
    os_available,
    precision_of,
    slow_path,
)
from .options import backend_options, debug_option, models_dir_option, presets_option
from .pipeline import SamplingPipeline, Weights, from_preset
from .registry import load_registry

PACKAGES = ("mlx", "torch", "numpy", "safetensors", "huggingface_hub", "pillow", "click")


def versions() -> str:
    out = []
    for name in PACKAGES:
        try:
            out.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            out.append(f"{name} -")
    return ", ".join(out)


def blas_line() -> str | None:
    """The BLAS MLX's CPU backend uses (Linux only: macOS uses Accelerate)."""
    import sys

    if not sys.platform.startswith("linux") or not installed("mlx"):
        return None
    from rae_mlx import blas

    if blas.loaded:
        return f"BLAS for MLX: OpenBLAS at {blas.loaded}"
    return f"BLAS for MLX: MLX's bundled reference BLAS; {blas.status}"


def preset_status(registry, store: Store) -> list[str]:
    """Each sampling preset: downloaded files, and the settings its models are converted to for MLX."""
    from .engines.mlx_cache import converted

    lines = []
    for name, p in registry.pipelines.items():
        models = [m for m in p.sampling_models() if m]
        files = [(m, store.find(registry.model(m).repo, f)) for m in models for f in registry.model(m).files]
        have = sum(path is not None for _, path in files)
        state = "downloaded" if have == len(files) else f"{have}/{len(files)} files"
        conv = set()
        if installed("mlx") and have == len(files):
            per_model = [converted(path) for m, path in files if registry.model(m).kind in ("dit", "decoder")]
            if all(c is not None for c in per_model) and per_model:
                conv = set.intersection(*(set(c) for c in per_model))
        mark = " (default)" if name == registry.default_pipeline else ""
        mlx = f"; converted for MLX: {', '.join(sorted(conv))}" if conv else ""
        lines.append(f"  {name}{mark}: {state}{mlx}")
    return lines


def timing_pipeline(registry, store: Store, name: str, random: bool) -> tuple[SamplingPipeline, str]:
    """The preset's pipeline with its files, or with random weights of the same shapes where files are missing."""
    if not random:
        try:
            return from_preset(registry, store, name, download=False), "downloaded weights"
        except Exception:  # noqa: BLE001 - missing files: fall back to random weights
            pass
    p = registry.pipeline(name)

    def blank(model: str | None) -> Weights | None:
        return Weights(registry.model(model).config, None, "random") if model else None

    pipe = SamplingPipeline(dit=blank(p.dit), decoder=blank(p.decoder), stats=None, guide=blank(p.guide),
                            rae=registry.rae_config(p.encoder, p.decoder, p.encoder_input_size), sampler=p.sampler,
                            guidance=p.guidance, shift=p.transport.time_dist_shift, source={"preset": name})
    return pipe, "random weights of the same shapes (the files are not downloaded)"


def measured_run(engine, pipe: SamplingPipeline, phase: Callable[[str, Callable[[], Any]], Any], batch: int = 1,
                 label: int = 0, low_memory: bool = False) -> np.ndarray:
    """What a measurement runs (rae doctor, bench/memory.py), each phase inside `phase(name, fn)`: load
    (apps.job.load_models), sample `batch` images of class `label` from seeded noise, with low_memory free the
    DiT and load the decoder, decode. Returns the images."""
    phase("load", lambda: load_models(engine, pipe, low_memory))
    noise = np.random.default_rng(0).standard_normal((batch, *pipe.latent_shape), dtype=np.float32)
    labels = np.full(batch, label, dtype=np.int64)
    latents = phase("sample", lambda: engine.sample(noise, labels, pipe.sampler, pipe.guidance, pipe.shift,
                                                    np.random.default_rng(1)))
    if low_memory:
        engine.release("dit")
        phase("load decoder", lambda: engine.load_decoder(pipe))
    return phase("decode", lambda: engine.decode(latents))


def time_pipeline(engine, pipe: SamplingPipeline, steps: int, low_memory: bool) -> dict[str, Any]:
    """Load, sampling on `steps` time-grid points (as `rae sample --steps` counts them: steps - 1 model steps)
    and one decode of one image; seconds and the engine's peak memory."""
    pipe = dataclasses.replace(pipe, sampler=dataclasses.replace(pipe.sampler, num_steps=steps))
    out: dict[str, Any] = {}
    peak = 0

    def phase(name, fn):
        nonlocal peak
        engine.reset_peak_memory()
        start = time.perf_counter()
        result = fn()
        out[name] = time.perf_counter() - start
        peak = max(peak, engine.peak_memory() or 0)
        return result

    images = measured_run(engine, pipe, phase, low_memory=low_memory)
    out["finite"] = bool(np.isfinite(images).all())
    out["peak"] = peak
    return out


@click.command("doctor", epilog="""
\b
Examples:
  rae doctor                              the default pipeline at float32, on the backend auto picks
  rae doctor --dtype bfloat16 --low-memory
  rae doctor --backend mlx --quantize 4 --steps 2
  rae doctor --no-timing                  only the machine, versions and presets (a second)
""")
@click.option("--preset", default=None, help="Pipeline to time [default: the default pipeline].")
@backend_options
@click.option("--low-memory", is_flag=True, help="Time with the DiT freed before the decoder loads.")
@click.option("--steps", type=click.IntRange(2, 51), default=4, show_default=True,
              help="Time-grid points to time, counted as `rae sample --steps` counts them (4 points = 3 model steps).")
@click.option("--random-weights", is_flag=True, help="Time random weights even when the files are downloaded.")
@click.option("--no-timing", is_flag=True, help="Skip the timing run.")
@models_dir_option
@presets_option
@debug_option
def doctor(preset: str | None, backend: str, dtype: str | None, quantize: str | None, low_memory: bool,
           steps: int, random_weights: bool, no_timing: bool, models_dir: Path | None,
           presets_file: Path | None) -> None:
    """Check this machine: backend, device, BLAS, memory, versions, presets; time a few sampling steps."""
    registry = load_registry(presets_file)
    store = Store(models_dir)
    name = preset or registry.default_pipeline
    echo = click.echo
    echo(f"rae {__version__} doctor: {machine_line()}")
    echo(f"versions: {versions()}")
    chosen = choose_backend(backend)
    bits = int(quantize) if quantize else None
    engine = make_engine(chosen, dtype or "float32", bits)
    why = f" (auto: {auto_reason(engine.name, engine.device)})" if backend == "auto" else ""
    echo(f"backend: {engine.name} on {engine.device}{why}")
    if (line := blas_line()) is not None:
        echo(line)
    slow = slow_path(engine.name, engine.device)
    if slow:
        echo(f"slow path: {slow}")
    memory = available_memory(engine.name, engine.device)
    system = os_available()
    echo(f"memory: {memory.describe()}" + (f"; system {system.describe()}" if memory != system else ""))
    echo(f"presets ({store.location}):")
    for line in preset_status(registry, store):
        echo(line)
    precision = precision_of(engine.dtype, bits)
    pipe, weights = timing_pipeline(registry, store, name, random_weights)
    guess = estimate(pipe, precision, 1, low_memory, engine.name).peak
    setting = f"{precision.label}{', --low-memory' if low_memory else ''}"
    echo(f"estimate: {name} at {setting} on {engine.name}: peak {human_size(guess)} for one image")
    if not no_timing:
        if memory.available is not None and guess > memory.available:
            echo(f"timing: skipped, the estimated {human_size(guess)} do not fit")
        else:
            echo(f"timing: {name} at {setting} on {engine.name} ({engine.device}), {weights}, one image ...")
            t = time_pipeline(engine, pipe, steps, low_memory)
            load = t["load"] + t.get("load decoder", 0.0)
            kind = getattr(engine, "memory_kind", lambda: "peak memory")()
            model_steps = steps - 1
            echo(f"  load {load:.1f} s; {model_steps} step{'s' * (model_steps != 1)} ({steps} grid points) "
                 f"{t['sample']:.1f} s ({t['sample'] / model_steps:.1f} s/step); "
                 f"decode {t['decode']:.1f} s; {kind} {human_size(t['peak'])}"
                 + ("" if t["finite"] else "; WARNING: the image is not finite"))
    if memory.available is None:
        echo("fit: unknown (memory available unknown)")
    elif guess <= memory.available * HEADROOM:
        echo(f"fit: yes, {human_size(guess)} of {human_size(memory.available)}")
    else:
        echo(f"fit: no, {human_size(guess)} of {human_size(memory.available)}; "
             + advice(pipe, precision, low_memory, memory.available * HEADROOM, engine.name))
