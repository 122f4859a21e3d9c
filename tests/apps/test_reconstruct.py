"""`rae reconstruct`: encode + decode with an RAE from the cache or a reference YAML; PSNR and SSIM."""

import json
import re

import numpy as np
import pytest
from PIL import Image
from rae_apps.images import center_crop, psnr, ssim, to_uint8

from . import tiny


@pytest.fixture
def photos(tmp_path):
    rng = np.random.default_rng(0)
    smooth = np.kron(rng.uniform(0, 255, (6, 8, 3)), np.ones((8, 8, 1))).astype(np.uint8)  # 48 x 64
    Image.fromarray(smooth).save(tmp_path / "cat.png")
    Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).convert("L").save(tmp_path / "dog.jpg")
    return [tmp_path / "cat.png", tmp_path / "dog.jpg"]


def test_reconstruct_prints_psnr_ssim_and_writes_pngs_and_latents(rae, photos):
    result = rae("reconstruct", *photos, "--save-latents", "--batch-size", "1", "-q")
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2
    for line, photo in zip(lines, photos, strict=True):
        m = re.fullmatch(rf"{re.escape(str(photo))}  PSNR +([\d.]+) dB  SSIM (-?[\d.]+)  -> {photo.stem}-recon.png",
                         line)
        assert m, line
        recon = np.asarray(Image.open(f"{photo.stem}-recon.png"))
        assert recon.shape == (16, 16, 3)
        crop = np.asarray(center_crop(Image.open(photo).convert("RGB"), 16))
        assert float(m.group(1)) == pytest.approx(psnr(crop, recon), abs=0.01)
        assert float(m.group(2)) == pytest.approx(ssim(crop, recon), abs=1e-4)
        latent = np.load(f"{photo.stem}-recon.npy")
        assert latent.shape == tiny.DIT.latent_shape and latent.dtype == np.float32
        record = json.loads(Image.open(f"{photo.stem}-recon.png").text["rae"])
        assert record["source"] == {"autoencoder": "dinov2-b"}
        assert set(record["files"]) == {"encoder", "decoder", "stats"}


def test_reconstruct_matches_decoding_the_saved_latents(rae, photos, env):
    """The .npy holds the normalized latents: decoding them gives the written reconstruction."""
    from rae_apps.engines.torch_engine import TorchEngine
    from rae_apps.hub import Store
    from rae_apps.pipeline import autoencoder_from_preset
    from rae_apps.registry import load_registry

    rae("reconstruct", photos[0], "--save-latents", "-q")
    engine = TorchEngine()
    engine.load_autoencoder(autoencoder_from_preset(load_registry(env.presets), Store(), "dinov2-b"))
    again = to_uint8(engine.decode(np.load("cat-recon.npy")[None]))[0]
    assert np.array_equal(again, np.asarray(Image.open("cat-recon.png")))


@pytest.mark.parametrize("name", ["siglip2-b", "mae-b"])
def test_reconstruct_with_the_other_autoencoders(rae, photos, env, name):
    """SigLIP2 (mean/std 0.5, no CLS) and MAE (CLS dropped) RAEs, with mean-and-var stats, from the cache."""
    import torch
    from rae_apps.engines.torch_engine import TorchEngine
    from rae_apps.hub import Store
    from rae_apps.pipeline import autoencoder_from_preset
    from rae_apps.registry import load_registry

    result = rae("reconstruct", photos[0], "--autoencoder", name, "--output", f"{name}.png", "-q")
    assert "PSNR" in result.stdout and "SSIM" in result.stdout
    pipe = autoencoder_from_preset(load_registry(env.presets), Store(), name)
    assert pipe.rae.encoder.kind == {"siglip2-b": "siglip2", "mae-b": "mae"}[name]
    engine = TorchEngine()
    engine.load_autoencoder(pipe)
    crop = np.asarray(center_crop(Image.open(photos[0]).convert("RGB"), 16), dtype=np.float32) / 255
    with torch.inference_mode():
        expected = engine.rae(torch.from_numpy(crop.transpose(2, 0, 1)[None].copy()))
    assert np.array_equal(to_uint8(expected.numpy())[0], np.asarray(Image.open(f"{name}.png")))
    assert engine.rae.latent_mean is not None  # these stats carry a mean


def test_reconstruct_from_a_reference_stage1_yaml(rae, photos, env):
    cfg = env.yaml("stage1.yaml")
    rae("reconstruct", photos[0], "--output", "yaml-{name}.png", "-q")
    rae("reconstruct", photos[0], "--config", cfg, "--preprocess", "crop", "--output", "ref-{index}.png", "-q")
    # the YAML names the same tiny files as the (redirected) dinov2-b preset (a YAML defaults to the
    # reference's stretch; with the same crop the two give the same image)
    assert np.array_equal(np.asarray(Image.open("yaml-cat.png")), np.asarray(Image.open("ref-0.png")))


def test_psnr_and_ssim_of_identical_and_different_images():
    a = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert psnr(a, a) == pytest.approx(100.0) and ssim(a, a) == pytest.approx(1.0)
    b = np.clip(a.astype(int) + 8, 0, 255).astype(np.uint8)
    mse = np.mean(((a.astype(float) - b) / 255) ** 2)
    assert psnr(a, b) == pytest.approx(10 * np.log10(1 / mse))
    assert 0.5 < ssim(a, b) < 1.0 and ssim(a, 255 - a) < 0


def test_reconstruct_errors(rae, photos):
    result = rae("reconstruct", photos[0], photos[0], "-q", ok=False)
    assert result.exit_code == 2 and "same file name; add {index}" in result.stderr
    result = rae("reconstruct", photos[0], "--autoencoder", "dinov3", ok=False)
    assert result.exit_code == 2 and "unknown autoencoder 'dinov3'" in result.stderr
