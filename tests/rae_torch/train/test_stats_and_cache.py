"""Latent statistics against numpy, the latent cache against online encoding."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from rae_torch import load_stats  # noqa: E402
from rae_torch.train import LatentCache, Stage2Trainer, build_cache, compute_stats, load_config  # noqa: E402
from rae_torch.train.codec import LatentEncoder  # noqa: E402
from rae_torch.train.data import ImageDataset, ImageFolder, flip_of  # noqa: E402
from rae_torch.train.pretrained import load_encoder  # noqa: E402
from rae_torch.train.randomness import mix_seed  # noqa: E402
from rae_torch.train.stats import Moments  # noqa: E402

from .conftest import stage2_data  # noqa: E402


def numpy_latents(assets, flips: str, seed: int = 0) -> np.ndarray:
    """Every image's latent, one at a time, as float64 numpy."""
    encoder, cfg = load_encoder(str(assets["encoder"]))
    codec = LatentEncoder(encoder, cfg, 32)
    folder = ImageFolder(assets["data"])
    ds = ImageDataset(folder, 32, mode="adm_both")
    out = []
    for i in range(len(folder)):
        item = ds[(i, mix_seed(seed, 0, i))]
        if flips in ("none", "both"):
            out.append(codec.raw(item["image"][None]))
        if flips == "both":
            out.append(codec.raw(item["image_flip"][None]))
        if flips == "random":
            out.append(codec.raw(item["image_flip" if flip_of(item["seed"]) else "image"][None]))
    return torch.cat(out).double().numpy()


@pytest.mark.parametrize("flips", ["none", "both", "random"])
def test_stats_match_numpy(assets, tmp_path, flips):
    cfg = load_config("stats", data=dict(output=str(tmp_path / "stat.pt"), encoder=str(assets["encoder"]),
                                         encoder_input_size=32, flips=flips, batch_size=5, progress=False,
                                         data=dict(path=str(assets["data"]), image_size=32, num_workers=0)))
    mean, var, count = compute_stats(cfg)
    z = numpy_latents(assets, flips)
    assert count == len(z) == (48 if flips == "both" else 24)
    np.testing.assert_allclose(mean.numpy(), z.mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(var.numpy(), z.var(axis=0), rtol=1e-5, atol=1e-6)
    m, v = load_stats(tmp_path / "stat.pt", mean.shape)  # the stat.pt format rae_torch reads
    assert torch.equal(m, mean) and torch.equal(v, var)
    assert (tmp_path / "stat.pt.json").is_file()


def test_moments_merge_is_order_independent():
    rng = np.random.default_rng(0)
    z = torch.from_numpy(rng.normal(3.0, 2.0, (37, 2, 3, 3)))
    a, b = Moments(), Moments()
    for chunk in torch.split(z, 5):
        a.update(chunk)
    for chunk in torch.split(z.flip(0), 11):
        b.update(chunk)
    np.testing.assert_allclose(a.var.numpy(), z.numpy().var(axis=0), rtol=1e-12)
    np.testing.assert_allclose(a.mean.numpy(), b.mean.numpy(), rtol=1e-12)
    np.testing.assert_allclose(a.var.numpy(), b.var.numpy(), rtol=1e-12)


@pytest.fixture(scope="module")
def cache(assets, tmp_path_factory):
    out = tmp_path_factory.mktemp("cache")
    cfg = load_config("cache", data=dict(output_dir=str(out), encoder=str(assets["encoder"]), encoder_input_size=32,
                                         batch_size=5, shard_size=10, dtype="float32", progress=False,
                                         data=dict(path=str(assets["data"]), image_size=32, num_workers=0)))
    return build_cache(cfg)


def test_cache_holds_both_flips(assets, cache):
    ds = LatentCache(cache)
    assert len(ds) == 24 and ds.latent_shape == (16, 4, 4) and len(ds.meta["shards"]) == 3
    z = numpy_latents(assets, "both")
    for i in (0, 7, 23):
        np.testing.assert_allclose(ds.read(i, False).numpy(), z[2 * i], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(ds.read(i, True).numpy(), z[2 * i + 1], rtol=1e-5, atol=1e-6)


def test_stage2_from_cache_matches_online_encoding(assets, cache, tmp_path):
    results = []
    for name, cached in (("online", None), ("cached", str(cache))):
        data = stage2_data(assets, tmp_path / name, max_steps=3)
        data["data"]["cache"] = cached
        trainer = Stage2Trainer(load_config("stage2", data=data))
        trainer.fit()
        results.append(trainer.model.state_dict())
    for k in results[0]:
        torch.testing.assert_close(results[1][k], results[0][k], rtol=1e-4, atol=1e-6, msg=k)


def test_stats_from_cache_equal_stats_from_images(assets, cache, tmp_path):
    common = dict(encoder=str(assets["encoder"]), encoder_input_size=32, flips="random", batch_size=7,
                  progress=False)
    images = compute_stats(load_config("stats", data=dict(output=str(tmp_path / "a.safetensors"), **common,
                                                          data=dict(path=str(assets["data"]), image_size=32,
                                                                    num_workers=0))))
    cached = compute_stats(load_config("stats", data=dict(output=str(tmp_path / "b.safetensors"), **common,
                                                          data=dict(cache=str(cache)))))
    torch.testing.assert_close(cached[0], images[0], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(cached[1], images[1], rtol=1e-5, atol=1e-6)
