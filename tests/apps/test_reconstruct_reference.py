"""`rae reconstruct --config` gives what the reference's src/stage1_sample.py gives for the same YAML and
image: the golden images below redo that script's steps independently (torchvision's ToTensor, torch's
bicubic F.interpolate to the encoder's square input, the processor's mean/std, the RAE, clamp, and
torchvision's save_image rounding), on images that need no resize, non-square ones and tiny ones."""

import importlib.util
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from rae_torch import load_model, load_stats

from . import tiny

SIZES = {"square56": (56, 56), "wide": (40, 64), "tall": (90, 70), "small": (16, 16), "odd": (33, 47)}
MATCH = {}  # (backend, image) -> (fraction within one level, fraction equal), for the summary below


@pytest.fixture
def pictures(tmp_path):
    rng = np.random.default_rng(3)
    out = {}
    for name, (h, w) in SIZES.items():
        smooth = np.kron(rng.uniform(0, 255, (math.ceil(h / 8), math.ceil(w / 8), 3)), np.ones((8, 8, 1)))[:h, :w]
        noisy = np.clip(smooth + rng.normal(0, 12, (h, w, 3)), 0, 255).astype(np.uint8)
        out[name] = tmp_path / f"{name}.png"
        Image.fromarray(noisy).save(out[name])
    return out


def stage1_sample(path, files) -> np.ndarray:
    """What src/stage1_sample.py writes for the tiny world's stage_1 block, step by step."""
    x = torch.from_numpy(np.array(Image.open(path).convert("RGB"))).permute(2, 0, 1)[None].float().div(255)
    size = tiny.RAE.encoder_input_size  # RAE.encode: resize unless already size x size, stretching
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bicubic", align_corners=False)
    mean = torch.tensor(tiny.PREPROCESSOR["image_mean"]).view(1, 3, 1, 1)
    std = torch.tensor(tiny.PREPROCESSOR["image_std"]).view(1, 3, 1, 1)
    encoder = load_model(files["encoder"]).eval()
    decoder = load_model(files["decoder"], tiny.DECODER).eval()
    _, var = load_stats(files["stats"], tiny.STATS.shape)
    with torch.no_grad():
        z = encoder((x - mean) / std)  # patch tokens after the non-affine final LayerNorm
        b, n, c = z.shape
        z = z.transpose(1, 2).reshape(b, c, math.isqrt(n), math.isqrt(n)) / torch.sqrt(var + 1e-5)
        tokens = (z * torch.sqrt(var + 1e-5)).reshape(b, c, n).transpose(1, 2)
        recon = (decoder.unpatchify(decoder(tokens)) * std + mean).clamp(0.0, 1.0)
    return recon.mul(255).add_(0.5).clamp_(0, 255).to(torch.uint8)[0].permute(1, 2, 0).numpy()  # save_image


@pytest.mark.parametrize("backend", ["torch", "mlx"])
def test_reconstruct_config_matches_stage1_sample(rae, env, pictures, backend):
    if backend == "mlx" and importlib.util.find_spec("rae_mlx") is None:
        pytest.skip("MLX is not installed")
    result = rae("reconstruct", *pictures.values(), "--config", env.yaml("stage1.yaml"), "--backend", backend,
                 "--output", "{name}-ref.png", "-q")
    assert "note: preprocess stretch" in result.stderr
    assert "note: PSNR / SSIM compare with each input resized" in result.stderr
    for name, path in pictures.items():
        want = stage1_sample(path, env.files)
        got = np.asarray(Image.open(f"{name}-ref.png"))
        assert got.shape == want.shape == (16, 16, 3)
        diff = np.abs(got.astype(int) - want.astype(int))
        MATCH[backend, name] = (float((diff <= 1).mean()), float((diff == 0).mean()))
        assert (diff <= 1).mean() >= 0.999, (backend, name, MATCH[backend, name])
    print(f"\n{backend}: within one level / equal: "
          + ", ".join(f"{n} {a:.4f}/{e:.4f}" for (b, n), (a, e) in MATCH.items() if b == backend))


def test_crop_mode_is_the_evaluation_and_psnr_compares_the_output_size(rae, env, pictures):
    """--preprocess crop feeds the ADM crop (and truncates, as the evaluation does); stretch compares with the
    input stretched to the output size, so PSNR is measured on images of the output's size either way."""
    from rae_apps.images import center_crop, psnr, stretch

    cfg = env.yaml("stage1.yaml")
    crop = rae("reconstruct", pictures["wide"], "--config", cfg, "--preprocess", "crop", "-o", "c.png", "-q")
    assert "ADM center crop" in crop.stderr
    stretched = rae("reconstruct", pictures["wide"], "--config", cfg, "-o", "s.png", "-q")
    image = Image.open(pictures["wide"]).convert("RGB")
    for result, out, reference in ((crop, "c.png", center_crop(image, 16)), (stretched, "s.png", stretch(image, 16))):
        printed = float(result.stdout.split("PSNR")[1].split("dB")[0])
        assert printed == pytest.approx(psnr(np.asarray(reference), np.asarray(Image.open(out))), abs=0.01)
        record = Image.open(out).text["rae"]
        assert ('"preprocess": "crop"' in record) == (out == "c.png")
