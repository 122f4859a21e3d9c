"""Stage 1 on tiny models (random LPIPS and discriminator weights): learning, exact resume with the
GAN active, and checkpoints that rae_torch loads as a decoder."""

from __future__ import annotations

import os
import signal

import pytest

torch = pytest.importorskip("torch")

from rae_torch import load_model  # noqa: E402
from rae_torch.train import checkpoints as ckpt  # noqa: E402
from rae_torch.train import load_config  # noqa: E402
from rae_torch.train.stage1 import Stage1Trainer, quantize  # noqa: E402

from .conftest import DECODER, stage1_data, state_equal  # noqa: E402


def run(assets, out, callbacks=None, optim=None, **train):
    data = stage1_data(assets, out, **train)
    if optim:
        data["optim"] = optim
    trainer = Stage1Trainer(load_config("stage1", data=data), callbacks=callbacks)
    trainer.fit()
    return trainer


def logged(path, key):
    out = []
    for line in (path / "log.txt").read_text().splitlines():
        if f" {key} " in line and "step " in line:
            out.append(float(line.split(f" {key} ")[1].split(",")[0]))
    return out


def test_reconstruction_loss_decreases_with_lpips_and_gan(assets, tmp_path):
    run(assets, tmp_path, optim={"lr": 2e-3}, max_steps=24, log_every=1)
    rec = logged(tmp_path, "rec")
    assert len(rec) == 24
    assert sum(rec[-6:]) / 6 < 0.8 * sum(rec[:6]) / 6, rec
    d_loss = logged(tmp_path, "d_loss")
    assert len(d_loss) == 22 and all(0 < v < 5 for v in d_loss)  # discriminator trains from step 2
    gan = logged(tmp_path, "d_weight")
    assert all(v == 0 for v in gan[:3]) and all(v > 0 for v in gan[3:])  # adaptive weight from step 3


def test_resume_after_sigterm_is_bit_identical(assets, tmp_path):
    straight = run(assets, tmp_path / "a", max_steps=6)

    def kill_at_3(trainer, step):
        if step == 3:
            os.kill(os.getpid(), signal.SIGTERM)

    stopped = run(assets, tmp_path / "b", callbacks=[kill_at_3], max_steps=6)
    assert stopped.step == 3
    run(assets, tmp_path / "b", max_steps=6)
    a = ckpt.load(ckpt.checkpoint_path(tmp_path / "a", 6))
    b = ckpt.load(ckpt.checkpoint_path(tmp_path / "b", 6))
    for key in ("model", "ema", "optimizer", "disc", "disc_optimizer", "disc_scheduler", "data", "rng"):
        assert state_equal(a[key], b[key]), key
    assert straight.step == 6


def test_checkpoint_and_export_load_as_decoder(assets, tmp_path):
    run(assets, tmp_path, max_steps=2)
    path = ckpt.checkpoint_path(tmp_path, 2)
    state = ckpt.load(path)
    decoder = load_model(path, DECODER)
    for k, v in decoder.state_dict().items():
        assert torch.equal(v, state["ema"][k]), k
    exported = load_model(tmp_path / "export" / "decoder")
    assert exported.config == DECODER
    for k, v in exported.state_dict().items():
        assert torch.equal(v, state["ema"][k]), k
    assert set(state["disc"]) >= {"heads.0.0.0.weight_orig", "heads.0.0.0.weight_u", "heads.0.1.fn.0.weight_orig"}


def test_quantize_is_8_bit():
    x = torch.linspace(-1.2, 1.2, 1001)
    q = quantize(x)
    levels = torch.round((q + 1) * 127.5)
    assert torch.allclose((q + 1) * 127.5, levels, atol=1e-4) and q.min() == -1 and q.max() == 1
