"""Tiny on-disk fixtures for the training tests: an image folder, a random encoder, a random decoder."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from rae_spec import DecoderConfig, EncoderConfig, to_dict  # noqa: E402
from rae_torch.decoder import ViTDecoder  # noqa: E402
from rae_torch.train.export import save_model_folder  # noqa: E402
from tests.toy import make_image_folder, save_random_encoder  # noqa: E402

ENCODER = EncoderConfig(kind="dinov2", hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32, patch_size=8,
                        image_size=32)
DECODER = DecoderConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, latent_dim=16, num_patches=16,
                        patch_size=8)
DIT = dict(type="DiTDHConfig", input_size=4, in_channels=16, hidden_size=[32, 48], depth=[1, 1], num_heads=[2, 2],
           num_classes=3)


@pytest.fixture(scope="session")
def assets(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("train_assets")
    make_image_folder(root / "data", classes=3, per_class=8, size=(40, 36))
    save_random_encoder(ENCODER, root / "encoder", seed=1)
    torch.manual_seed(2)
    save_model_folder(ViTDecoder(DECODER).state_dict(), DECODER, root / "decoder")
    return {"root": root, "data": root / "data", "encoder": root / "encoder", "decoder": root / "decoder"}


def stage2_data(assets, out: Path, **train) -> dict:
    """A tiny stage-2 config (plain data) on the fixtures."""
    run = dict(global_batch_size=8, max_steps=6, log_every=3, checkpoint_every=100, progress=False,
               tensorboard=False, seed=3)
    run.update(train)
    return dict(output_dir=str(out), model=dict(DIT), encoder=str(assets["encoder"]), encoder_input_size=32,
                decoder=str(assets["decoder"]), sampler=dict(num_steps=4),
                data=dict(path=str(assets["data"]), image_size=32, num_workers=0), train=run)


def stage1_data(assets, out: Path, **train) -> dict:
    run = dict(global_batch_size=4, max_steps=6, log_every=3, checkpoint_every=100, progress=False,
               tensorboard=False, seed=5)
    run.update(train)
    return dict(output_dir=str(out), encoder=str(assets["encoder"]), encoder_input_size=32,
                decoder=to_dict(DECODER), noise_tau=0.5,
                data=dict(path=str(assets["data"]), image_size=32, num_workers=0),
                loss=dict(lpips_start_steps=0, disc_start_steps=3, disc_update_start_steps=2),
                lpips=dict(random_init=True),
                disc=dict(random_init=True, embed_dim=32, depth=2, num_heads=2, patch_size=8, input_size=32,
                          key_depths=[0]),
                schedule=dict(type="constant", warmup_epochs=0), disc_schedule=dict(type="constant", warmup_epochs=0),
                train=run)


def state_equal(a: dict, b: dict) -> bool:
    """Bitwise equality of two (nested) state dicts."""
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(state_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(state_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b
