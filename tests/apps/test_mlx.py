"""The CLI on the MLX backend: same seed -> same image as torch, torch checkpoints converted once and cached by
sha256, quantization, dtypes, reconstruction, `rae convert`, and sampling with torch absent."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("rae_mlx")
pytest.importorskip("rae_convert")

from rae_apps.metadata import read_record, sha256  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SAMPLE = ("sample", "--seed", "3", "--class", "otter", "--class", "12", "-q")


def pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path)).astype(int)


def close(a, b, within: float = 0.999) -> bool:
    d = np.abs(pixels(a) - pixels(b))
    return d.max() <= 2 and (d <= 1).mean() >= within


def test_same_seed_same_image_on_both_backends(rae):
    rae(*SAMPLE, "--backend", "torch", "--output", "t{index}.png")
    result = rae(*SAMPLE, "--backend", "mlx", "--output", "m{index}.png")
    assert "backend: mlx on " in result.stderr
    for i in range(2):
        assert close(f"t{i}.png", f"m{i}.png")
    rec = read_record("m0.png")
    assert rec["backend"] == "mlx" and rec["dtype"] == "float32" and rec["quantize"] is None
    again = rae("sample", "--from-metadata", "m1.png", "-q", "--output", "again.png")  # replays on mlx
    assert np.array_equal(pixels("again.png"), pixels("m1.png"))
    assert "backend: mlx on cpu, float32 (the recorded backend)" in again.stderr  # not "auto: torch is not installed"


def test_torch_checkpoints_are_converted_once_and_cached_by_sha256(rae, env, tmp_path):
    first = rae(*SAMPLE, "--backend", "mlx", "--output", "a{index}.png")
    assert first.stderr.count("for MLX once") == 3  # the DiT, the guide and the decoder (.pt files)
    cache = tmp_path / "rae-cache" / "mlx"
    keys = {p.name for p in cache.iterdir()}
    assert keys == {sha256(env.files[k]) for k in ("dit", "guide", "decoder")}
    entries = [e for k in keys for e in (cache / k).iterdir() if not e.name.startswith(".")]
    assert len(entries) == 3 and all(e.name.startswith("float32-") for e in entries)
    assert all((e / "model.safetensors").is_file() and (e / "config.json").is_file() for e in entries)
    stamp = {e: (e / "model.safetensors").stat().st_mtime_ns for e in entries}
    second = rae(*SAMPLE, "--backend", "mlx", "--output", "b{index}.png")
    assert "for MLX once" not in second.stderr
    assert stamp == {e: (e / "model.safetensors").stat().st_mtime_ns for e in entries}
    assert np.array_equal(pixels("a0.png"), pixels("b0.png"))


@pytest.mark.parametrize("bits", ["8", "4"])
def test_quantized_mlx_sampling(rae, bits):
    rae(*SAMPLE, "--backend", "mlx", "--output", "f{index}.png")
    rae(*SAMPLE, "--backend", "mlx", "--quantize", bits, "--output", f"q{bits}-{{index}}.png")
    assert read_record(f"q{bits}-0.png")["quantize"] == int(bits)
    d = np.abs(pixels(f"q{bits}-0.png") - pixels("f0.png"))
    assert 0 < d.mean() < 40  # close to float32, but not the same weights


def test_mlx_half_precision(rae):
    rae(*SAMPLE, "--backend", "mlx", "--output", "f{index}.png")
    rae(*SAMPLE, "--backend", "mlx", "--dtype", "bfloat16", "--output", "h{index}.png")
    assert read_record("h0.png")["dtype"] == "bfloat16"
    assert np.abs(pixels("h0.png") - pixels("f0.png")).mean() < 5


def test_reconstruct_on_mlx_matches_torch(rae, tmp_path):
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (20, 24, 3), dtype=np.uint8)).save(tmp_path / "x.png")
    for backend in ("torch", "mlx"):
        rae("reconstruct", tmp_path / "x.png", "--backend", backend, "--save-latents", "--output", f"{backend}.png",
            "-q")
    assert close("torch.png", "mlx.png")
    assert np.abs(np.load("torch.npy") - np.load("mlx.npy")).max() < 1e-3


def test_convert_dry_run_convert_verify_and_back(rae, env, tmp_path):
    out = rae("convert", "dit-dh-xl-256", tmp_path / "plan", "--dry-run").stdout
    assert "torch -> mlx layout" in out and "x_embedder.proj.weight" in out and not (tmp_path / "plan").exists()
    out = rae("convert", env.files["dit"], tmp_path / "dit-mlx", "--verify").stdout
    assert "wrote" in out and "model.safetensors" in out and "max |torch - mlx|" in out
    out = rae("convert", tmp_path / "dit-mlx", tmp_path / "dit-torch", "--to", "torch").stdout
    assert (tmp_path / "dit-torch" / "config.json").is_file()
    out = rae("convert", env.files["decoder"], tmp_path / "dec-q", "--quantize", "8", "--dtype", "bfloat16").stdout
    assert "wrote" in out
    # a converted folder samples like the original checkpoint, on both backends
    rae("sample", "--preset", "dit-dh-xl-256", "--class", "5", "--seed", "0", "--steps", "6", "-q", "--output", "o.png")
    for backend in ("torch", "mlx"):
        rae("sample", "--preset", "dit-dh-xl-256", "--model", tmp_path / "dit-mlx", "--class", "5", "--seed", "0",
            "--steps", "6", "-q", "--backend", backend, "--output", f"{backend}.png")
        assert close("o.png", f"{backend}.png")


def test_convert_errors(rae, env, tmp_path):
    result = rae("convert", env.files["dit"], tmp_path / "x", "--to", "torch", "--quantize", "4", ok=False)
    assert result.exit_code == 2 and "--quantize writes MLX layout only" in result.stderr
    result = rae("convert", "no-such-thing", ok=False)
    assert result.exit_code == 2 and "neither a file, a folder nor a model preset" in result.stderr
    result = rae("convert", env.files["dit"], tmp_path / "y", "--model", "decoder-dinov2-b-xl-256", ok=False)
    assert result.exit_code == 2 and "error: " in result.stderr and "Traceback" not in result.stderr


TORCH_FREE_MLX = """
import sys
sys.modules["torch"] = None  # as if torch were not installed
sys.path.insert(0, {repo!r})
import tests.conftest  # maps apps/ and convert/ to their import names in an uninstalled checkout
from rae_apps.cli import cli
try:
    cli.main(["sample", "--class", "7", "--seed", "0", "--steps", "5", "-q", "--output", "nt.png"], prog_name="rae")
except SystemExit as e:
    print("EXIT", e.code)
print("torch imported:", sys.modules.get("torch") is not None)
"""


def test_mlx_sampling_without_torch(rae, env, tmp_path):
    done = subprocess.run([sys.executable, "-c", TORCH_FREE_MLX.format(repo=str(REPO))], capture_output=True,
                          text=True, env=dict(os.environ), cwd=tmp_path, timeout=300)
    assert "EXIT 0" in done.stdout, done.stderr
    assert "backend: mlx on cpu, float32 (auto: torch is not installed)" in done.stderr
    assert "torch imported: False" in done.stdout
    rae("sample", "--class", "7", "--seed", "0", "--steps", "5", "-q", "--output", "with-torch.png",
        "--backend", "mlx")
    assert np.array_equal(pixels(tmp_path / "nt.png"), pixels("with-torch.png"))
