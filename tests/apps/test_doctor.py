"""`rae doctor`, the slow-path notice, and the batch size `rae sample` chooses from the memory it can see."""

import sys

import pytest

pytest.importorskip("rae_mlx")

from rae_apps import machine  # noqa: E402
from rae_apps.machine import Memory  # noqa: E402
from rae_apps.metadata import read_record  # noqa: E402

SAMPLE = ("sample", "--class", "3", "--seed", "0", "-n", "5", "-q", "--backend", "mlx", "--steps", "3")


def test_doctor_reports_machine_presets_timing_and_fit(rae):
    rae("sample", "--class", "3", "--seed", "0", "-q", "--backend", "mlx", "--steps", "2")  # converts for MLX
    out = rae("doctor", "--backend", "mlx", "--steps", "2").stdout
    for expected in ("doctor:", "versions: mlx", "backend: mlx on cpu", "memory: ", "GB available",
                     "dit-dh-xl-256-ag (default): downloaded; converted for MLX: float32",
                     "downloaded weights, one image", "1 step (2 grid points)", "peak MLX memory", "fit: yes"):
        assert expected in out, (expected, out)
    out = rae("doctor", "--backend", "torch", "--dtype", "bfloat16", "--random-weights", "--low-memory").stdout
    assert "random weights of the same shapes" in out and "process peak RSS" in out and "--low-memory" in out
    assert "at bfloat16, --low-memory on torch: peak" in out  # torch's own estimate (float32 weights, autocast)


def test_the_slow_path_is_named_with_its_fix(rae, monkeypatch):
    from rae_mlx import blas

    monkeypatch.setattr(blas, "loaded", None)
    monkeypatch.setattr(blas, "status", "no system OpenBLAS found")
    monkeypatch.setattr(sys, "platform", "linux")
    line = machine.slow_path("mlx", "cpu")
    assert "reference BLAS" in line and "libopenblas0-pthread" in line and "rae-mlx[torch]" in line
    assert machine.slow_path("torch", "cpu") is None and machine.slow_path("mlx", "gpu") is None
    assert "slow path: MLX on this Linux machine" in rae("doctor", "--backend", "mlx", "--no-timing").stdout
    monkeypatch.setattr(machine, "FULL_SIZE_PARAMETERS", 0)  # the tiny DiT counts as full size here
    from rae_apps import sample

    monkeypatch.setattr(sample, "FULL_SIZE_PARAMETERS", 0)
    result = rae("sample", "--class", "3", "--seed", "0", "-q", "--backend", "mlx", "--steps", "2")
    assert result.stderr.count("warning: MLX on this Linux machine uses its slow reference BLAS") == 1


def test_sample_chooses_a_batch_that_fits_and_says_so(rae, env, monkeypatch):
    from rae_apps import sample
    from rae_apps.hub import Store
    from rae_apps.pipeline import from_preset
    from rae_apps.registry import load_registry

    from rae_spec.memory import Precision

    pipe = from_preset(load_registry(env.presets), Store(), "dit-dh-xl-256-ag")
    peaks = [machine.estimate(pipe, Precision(), b).peak for b in (1, 2, 3)]
    assert peaks[0] < peaks[1] < peaks[2]
    room = (peaks[1] + peaks[2]) / 2 / machine.HEADROOM  # two images fit, three do not
    monkeypatch.setattr(sample, "available_memory", lambda backend, device: Memory(int(room), "test"))
    result = rae(*SAMPLE, "--output", "a{index}.png")
    assert "batch size 2: estimated peak" in result.stderr and "available (test)" in result.stderr
    assert read_record("a0.png")["batch"]["batch_size"] == 2
    result = rae(*SAMPLE, "--batch-size", "4", "--output", "b{index}.png")  # --batch-size wins, silently
    assert "batch size" not in result.stderr and read_record("b0.png")["batch"]["batch_size"] == 4
    low = machine.estimate(pipe, Precision(), 1, low_memory=True).peak
    assert low < peaks[0]
    room = (low + peaks[0]) / 2 / machine.HEADROOM  # one image fits only with --low-memory
    monkeypatch.setattr(sample, "available_memory", lambda backend, device: Memory(int(room), "test"))
    result = rae(*SAMPLE, "--output", "c{index}.png")
    assert "batch size 1" in result.stderr and "may not fit" in result.stderr and "try --low-memory" in result.stderr
