"""Presets that ship inside the package (the digits demo trained by rae_torch.train) and the mounted `rae train`.
These run once the training branch's preset and CLI are installed; they need no download."""

import importlib.util

import numpy as np
import pytest
from PIL import Image
from rae_apps.engines import has_mlx_engine
from rae_apps.metadata import read_record

import rae_spec

needs_digits = pytest.mark.skipif("digits-demo" not in rae_spec.PIPELINES, reason="no digits-demo preset here")


@needs_digits
@pytest.mark.parametrize("backend", ["torch"] + (["mlx"] if has_mlx_engine() else []))
def test_digits_demo_samples_offline(rae, monkeypatch, tmp_path, backend):
    monkeypatch.delenv("RAE_PRESETS")  # the real built-in presets
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))  # nothing downloaded, nothing needed
    rae("sample", "--preset", "digits-demo", "--class", "3", "--class", "7", "--seed", "0", "-q", "--backend", backend,
        "--output", f"{backend}-{{index}}.png")
    for i, digit in enumerate((3, 7)):
        image = np.asarray(Image.open(f"{backend}-{i}.png"))
        assert image.std() > 20  # a drawn digit on a dark background, not noise or a flat image
        rec = read_record(f"{backend}-{i}.png")
        assert rec["source"] == {"preset": "digits-demo"} and rec["class"] == digit
    out = rae("download", "digits-demo").stdout
    assert "all local" in out


@needs_digits
def test_digits_demo_same_image_on_both_backends(rae, monkeypatch):
    if not has_mlx_engine():
        pytest.skip("no MLX backend")
    monkeypatch.delenv("RAE_PRESETS")
    for backend in ("torch", "mlx"):
        rae("sample", "--preset", "digits-demo", "--class", "5", "--seed", "1", "-q", "--backend", backend,
            "--output", f"{backend}.png")
    d = np.abs(np.asarray(Image.open("torch.png")).astype(int) - np.asarray(Image.open("mlx.png")).astype(int))
    assert (d <= 1).mean() >= 0.999


@pytest.mark.skipif(importlib.util.find_spec("rae_torch.train") is None, reason="no rae_torch.train here")
def test_rae_train_is_mounted(rae):
    assert "train" in rae("--help").stdout.split("Commands:")[1]
    assert rae("train", "--help").exit_code == 0
