"""The built-in `digits-demo` preset: its shipped files match the preset configs, load with rae_torch, and
generate the digit each class asks for (judged by an SVM trained on sklearn's real digits)."""

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
sklearn = pytest.importorskip("sklearn")

from PIL import Image  # noqa: E402

from rae_spec import PipelineConfig, from_json, get_model, get_pipeline  # noqa: E402
from rae_spec.presets import local_path  # noqa: E402
from rae_torch import Sampler, guided_velocity, load_model, load_stats  # noqa: E402
from rae_torch.rae import denormalize, latent_to_tokens  # noqa: E402


def test_files_match_the_preset_configs():
    pipe = get_pipeline("digits-demo")
    folder = local_path("digits-demo")
    assert folder.is_dir() and sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) <= 5 * 2**20
    spec = PipelineConfig.load(folder)
    assert isinstance(spec, PipelineConfig)
    assert spec.sampler == pipe.sampler and spec.guidance == pipe.guidance and spec.transport == pipe.transport
    for name in pipe.sampling_models() + (pipe.encoder,):
        preset = get_model(name)
        path = local_path(name)
        assert path.exists(), path
        if preset.kind == "stats":
            mean, var = load_stats(path, preset.config.shape)
            assert mean is not None and torch.all(var > 0)
        else:
            assert from_json((path / "config.json").read_text()) == preset.config
            assert load_model(path).config == preset.config


def real_digit_classifier():
    from sklearn.datasets import load_digits
    from sklearn.svm import SVC

    digits = load_digits()
    big = np.stack([np.asarray(Image.fromarray((d * 255 / 16).round().astype(np.uint8)).resize((32, 32), Image.BICUBIC),
                               dtype=np.float32) / 255 for d in digits.images])
    return SVC(gamma=0.001, C=10.0).fit(pool(torch.from_numpy(big)[:, None]), digits.target)


def pool(images: torch.Tensor) -> np.ndarray:
    """(B, C, 32, 32) in [0, 1] -> (B, 64) grey 4x4-average-pooled, in the digits' 0..16 scale."""
    return (torch.nn.functional.avg_pool2d(images.mean(dim=1, keepdim=True), 4) * 16).flatten(1).numpy()


def test_generates_the_requested_digits():
    folder = local_path("digits-demo")
    spec = PipelineConfig.load(folder)
    dit, decoder = load_model(folder / spec.dit), load_model(folder / spec.decoder)
    encoder_cfg = get_model("digits-demo-encoder").config
    mean, var = load_stats(folder / spec.stats, dit.config.latent_shape)
    labels = torch.arange(10).repeat_interleave(3)
    x = torch.from_numpy(np.random.default_rng(7).standard_normal((30, *dit.config.latent_shape), dtype=np.float32))
    with torch.no_grad():
        z = Sampler(spec.sampler, spec.transport.time_dist_shift).sample(x, guided_velocity(dit, labels, spec.guidance))
        pixels = decoder.unpatchify(decoder(latent_to_tokens(denormalize(z, mean, var, 1e-5))))
        std = torch.tensor(encoder_cfg.image_std).view(1, 3, 1, 1)
        images = (pixels * std + torch.tensor(encoder_cfg.image_mean).view(1, 3, 1, 1)).clamp(0, 1)
    accuracy = (real_digit_classifier().predict(pool(images)) == labels.numpy()).mean()
    assert accuracy >= 0.8, accuracy
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["digits_accuracy"] >= 0.8
