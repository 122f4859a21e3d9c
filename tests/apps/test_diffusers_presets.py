"""The diffusers-format autoencoder presets end to end, offline: a tiny folder per released repo, written as
diffusers writes it (tests/diffusers_format.py) and laid out in a Hugging Face cache exactly as the hub download
would be (blobs named by sha256, refs/main, snapshots/<revision>/...), with a presets file giving the preset names
tiny configs. `rae reconstruct`, `rae info`, `rae download`, `rae convert` and training's loaders use them."""

from __future__ import annotations

import dataclasses
import json
import re

import numpy as np
import pytest
from PIL import Image

from rae_spec.configs import DecoderConfig, EncoderConfig, RAEConfig, StatsConfig, to_dict
from rae_spec.parameters import parameter_count
from rae_spec.presets import AUTOENCODERS, DIFFUSERS_RAES, diffusers_rae
from tests import diffusers_format

from . import tiny
from .conftest import rae_runner

WEIGHTS = "diffusion_pytorch_model.safetensors"
ENCODERS = {  # diffusers builds width / 64 heads and fixed position tables, so 64 wide with the real patch sizes
    "dinov2": EncoderConfig(kind="dinov2", hidden_size=64, num_layers=1, num_heads=1, intermediate_size=256,
                            patch_size=14, image_size=518),
    "siglip2": EncoderConfig(kind="siglip2", hidden_size=64, num_layers=1, num_heads=1, intermediate_size=3072,
                             patch_size=16, image_size=256, num_register_tokens=0, hidden_act="gelu_tanh",
                             image_mean=(0.5, 0.5, 0.5), image_std=(0.5, 0.5, 0.5)),
    "mae": EncoderConfig(kind="mae", hidden_size=64, num_layers=1, num_heads=1, intermediate_size=3072, patch_size=16,
                         image_size=224, num_register_tokens=0, layer_norm_eps=1e-12),
}
# Each repo in one of the variants a real folder may have (attention names, SigLIP wrapper, statistics place).
VARIANTS = {"dinov2-s": dict(v5_names=True), "dinov2-l": dict(stats_in_config=True),
            "siglip2-b-diffusers": dict(siglip_wrapper=False), "mae-b-diffusers": dict(v5_names=True)}


def tiny_rae(name: str) -> RAEConfig:
    """The preset's RAE in miniature: same encoder kind and patch, 64 wide, a 4 x 4 latent grid (8 x 8 for 512 px)."""
    real = diffusers_rae(name)
    grid = 8 if real.latent_grid == 32 else 4
    encoder = ENCODERS[real.encoder.kind]
    if name == "dinov2-l":
        encoder = EncoderConfig(**{**encoder.__dict__, "num_layers": 2})
    decoder = DecoderConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, latent_dim=64,
                            num_patches=grid * grid, patch_size=4)
    return RAEConfig(encoder=encoder, decoder=decoder, encoder_input_size=grid * encoder.patch_size)


def presets_override(raes: dict[str, RAEConfig]) -> dict:
    models, aes = {}, {}
    for name, rae in raes.items():
        has_mean = DIFFUSERS_RAES[name][3]
        models[f"{name}.encoder"] = {"config": to_dict(rae.encoder)}
        models[f"{name}.decoder"] = {"config": to_dict(rae.decoder)}
        models[f"{name}.stats"] = {"config": to_dict(StatsConfig(64, rae.latent_grid, has_mean))}
        aes[name] = {"encoder_input_size": rae.encoder_input_size}
    return {"models": models, "autoencoders": aes}


@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """{"cache": HF cache, "presets": presets file, "raes": tiny configs, "written": tensors per preset}."""
    root = tmp_path_factory.mktemp("diffusers-hub")
    raes = {name: tiny_rae(name) for name in DIFFUSERS_RAES}
    written = {}
    for k, (name, rae) in enumerate(raes.items()):
        folder = root / "src" / name
        written[name] = diffusers_format.write(folder, rae, seed=20 + k, has_mean=DIFFUSERS_RAES[name][3],
                                               **VARIANTS.get(name, {}))
        tiny.hub_cache_put(root / "hub", DIFFUSERS_RAES[name][0], {n: folder / n for n in ("config.json", WEIGHTS)})
    (root / "presets.json").write_text(json.dumps(presets_override(raes)))
    return {"root": root, "cache": root / "hub", "presets": root / "presets.json", "raes": raes, "written": written}


@pytest.fixture
def drae(hub, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(hub["cache"]))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("RAE_PRESETS", str(hub["presets"]))
    monkeypatch.setenv("RAE_CACHE", str(tmp_path / "rae-cache"))
    monkeypatch.delenv("RAE_MODELS_DIR", raising=False)
    monkeypatch.chdir(tmp_path)
    return rae_runner()


@pytest.fixture
def photo(tmp_path):
    rng = np.random.default_rng(1)
    Image.fromarray(np.kron(rng.uniform(0, 255, (5, 5, 3)), np.ones((8, 8, 1))).astype(np.uint8)).save(
        tmp_path / "cat.png")
    return tmp_path / "cat.png"


def _backends() -> list[str]:
    from rae_apps.engines import has_mlx_engine

    return ["torch"] + (["mlx"] if has_mlx_engine() else [])


@pytest.mark.parametrize("name", list(DIFFUSERS_RAES))
def test_reconstruct_offline_from_the_hub_cache_on_both_backends(drae, hub, photo, tmp_path, name):
    repo = DIFFUSERS_RAES[name][0]
    rae = hub["raes"][name]
    images = {}
    for backend in _backends():
        result = drae("reconstruct", photo, "--autoencoder", name, "--backend", backend, "-q",
                      "--output", f"{backend}.png", "--save-latents")
        assert re.search(r"PSNR +[\d.]+ dB  SSIM", result.stdout)
        images[backend] = np.asarray(Image.open(f"{backend}.png")).astype(int)
        assert images[backend].shape == (rae.image_size, rae.image_size, 3)
        assert np.load(f"{backend}.npy").shape == rae.latent_shape
        record = json.loads(Image.open(f"{backend}.png").text["rae"])
        assert record["source"] == {"autoencoder": name}
        assert {role: f["origin"] for role, f in record["files"].items()} == {
            role: f"{repo}/{WEIGHTS}" for role in ("encoder", "decoder", "stats")}
    if "mlx" in images:
        assert (np.abs(images["torch"] - images["mlx"]) <= 1).mean() > 0.99
        sources = [p for p in (tmp_path / "rae-cache" / "mlx").iterdir() if not p.name.startswith(".")]
        cached = [e for p in sources for e in p.iterdir() if not e.name.startswith(".")]
        assert len(sources) == 1 and len(cached) == 2  # encoder and decoder, each converted once from the file
        again = drae("reconstruct", photo, "--autoencoder", name, "--backend", "mlx", "-q", "--output", "again.png")
        assert "converting" not in again.stderr


def test_download_info_convert_and_training_use_the_same_files(drae, hub, tmp_path, monkeypatch):
    import torch
    from rae_apps.download import preset_files
    from rae_apps.registry import load_registry

    import rae_torch
    from rae_torch.train import pretrained

    repo = DIFFUSERS_RAES["dinov2-s"][0]  # one file for encoder, decoder and stats (and the app's models page)
    assert [f[1:] for f in preset_files(load_registry(), "dinov2-s")] == [(repo, "config.json"), (repo, WEIGHTS)]
    out = drae("download", "dinov2-s").stdout
    assert out.count("cached") == 2 and "2 files" in out
    snapshot = next((hub["cache"] / "models--nyu-visionx--RAE-dinov2-wReg-small-ViTXL-n08" / "snapshots").iterdir())
    info = drae("info", "dinov2-s").stdout
    assert "source: nyu-visionx/RAE-dinov2-wReg-small-ViTXL-n08 in diffusers' format" in info
    assert info.count(f"{WEIGHTS}: ") == 1 and str(snapshot / WEIGHTS) in info
    assert "matches autoencoder presets: dinov2-s" in drae("info", snapshot).stdout

    drae("convert", "dinov2-s")  # the whole RAE, statistics included, into one folder
    folder = tmp_path / "dinov2-s-mlx"
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors", "stats.safetensors"]
    converted, direct = rae_torch.load_model(folder), rae_torch.load_model(snapshot / WEIGHTS)
    assert converted.config == direct.config == hub["raes"]["dinov2-s"]
    x = torch_images(2)
    assert np.allclose(converted(x).detach().numpy(), direct(x).detach().numpy(), atol=1e-5)

    # training's encoder / decoder / stats: the parts, by model preset name, from the hub cache. Training reads
    # rae_spec's presets (full size), so the tiny file is refused, naming the fields ...
    import huggingface_hub

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(hub["cache"]))  # read at its import
    with pytest.raises(pretrained.CheckpointError, match="encoder_hidden_size 64, expected 384"):
        pretrained.load_encoder("dinov2-s.encoder")
    # ... and loads once the presets say what the file holds.
    rae = hub["raes"]["dinov2-s"]
    for part, config in (("encoder", rae.encoder), ("decoder", rae.decoder),
                         ("stats", StatsConfig(64, rae.latent_grid, True))):
        monkeypatch.setitem(pretrained.MODELS, f"dinov2-s.{part}",
                            dataclasses.replace(pretrained.MODELS[f"dinov2-s.{part}"], config=config))
    encoder, config = pretrained.load_encoder("dinov2-s.encoder")
    assert config == rae.encoder and all(torch.equal(v, direct.encoder.state_dict()[k])
                                         for k, v in encoder.state_dict().items())
    decoder = pretrained.load_decoder("dinov2-s.decoder")
    assert all(torch.equal(v, direct.decoder.state_dict()[k]) for k, v in decoder.state_dict().items())
    mean, var = pretrained.load_latent_stats("dinov2-s.stats", rae.latent_shape)
    assert torch.equal(mean, direct.latent_mean) and torch.equal(var, direct.latent_var)


def torch_images(n: int):
    import torch

    return torch.from_numpy(np.random.default_rng(2).random((n, 3, 32, 32), dtype=np.float32))


def test_a_repo_that_is_not_the_preset_is_refused_naming_the_fields(drae, hub, photo, tmp_path):
    data = json.loads(hub["presets"].read_text())
    data["models"]["dinov2-l.encoder"]["config"]["num_layers"] = 24
    (tmp_path / "wrong.json").write_text(json.dumps(data))
    result = drae("reconstruct", photo, "--autoencoder", "dinov2-l", "--presets", tmp_path / "wrong.json", ok=False)
    assert result.exit_code == 2
    error = result.stderr.strip()
    assert "\n" not in error and "encoder_num_hidden_layers 2, expected 24" in error
    assert "models--nyu-visionx--RAE-dinov2-wReg-large-ViTXL-n08" in error


def test_info_lists_every_repo_as_an_autoencoder_with_parameters_and_sizes(drae, monkeypatch, tmp_path):
    monkeypatch.delenv("RAE_PRESETS")  # the released presets, full size
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty"))
    listing = drae("info").stdout
    section = listing.split("autoencoders (")[1].split("\nmodels:")[0]
    for name in DIFFUSERS_RAES:
        rae = diffusers_rae(name)
        params = parameter_count(rae.encoder) + parameter_count(rae.decoder)
        line = next(line for line in section.splitlines() if line.split()[:1] == [name])
        assert f"{params / 1e6:.1f} M parameters" in line and "GB in float32" in line and "0/2 files" in line
    assert "dinov2-s.encoder" not in listing.split("\nmodels:")[1].split("and the parts")[0]
    detail = drae("info", "dinov2-l").stdout
    assert "DINOv2-L" in detail and "latents [1024, 16, 16]" in detail and "width 1024, 24 layers" in detail
    assert f"nyu-visionx/RAE-dinov2-wReg-large-ViTXL-n08/{WEIGHTS}: not downloaded" in detail
    assert "source: nyu-visionx/RAE-collections" in drae("info", "dinov2-b").stdout
    assert set(AUTOENCODERS) >= set(DIFFUSERS_RAES)
