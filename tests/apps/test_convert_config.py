"""`rae convert SRC DST --config <reference YAML>`: the DiT's config comes from the YAML (stage_2, or the
guidance model when the file is the guide), a training checkpoint ({'model', 'ema', 'optimizer', ...})
converts its EMA weights as the reference's loader picks them, and torch -> MLX -> torch gives every
tensor back bit for bit."""

import hashlib
import importlib.util
import json

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from . import tiny

pytestmark = pytest.mark.skipif(importlib.util.find_spec("rae_mlx") is None, reason="rae convert needs rae_convert")


def digest(a: np.ndarray) -> str:
    a = np.ascontiguousarray(a)
    return hashlib.sha256(f"{a.dtype}{a.shape}".encode() + a.tobytes()).hexdigest()


def training_checkpoint(path, config, seed: int):
    """What the reference's train.py writes: step, epoch, model, ema, optimizer and scheduler states."""
    from rae_torch import build_model

    torch.manual_seed(seed)
    model = build_model(config)
    ema = {k: v + 0.01 * torch.randn_like(v) for k, v in model.state_dict().items()}
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95))
    model(torch.randn(2, *config.latent_shape), torch.rand(2), torch.tensor([0, 1])).square().mean().backward()
    optimizer.step()
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    torch.save({"step": 7, "epoch": 1, "model": model.state_dict(), "ema": ema, "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict()}, path)
    return {k: v.numpy() for k, v in ema.items()}


@pytest.mark.parametrize("which", ["dit", "guide"])
def test_training_checkpoints_convert_their_ema_and_round_trip_bit_for_bit(rae, env, tmp_path, which):
    config = tiny.DIT if which == "dit" else tiny.GUIDE
    ema = training_checkpoint(tmp_path / "ep-0000001.pt", config, seed=5)
    cfg = env.yaml("ag.yaml")
    rae("convert", tmp_path / "ep-0000001.pt", tmp_path / "mlx", "--config", cfg)
    written = json.loads((tmp_path / "mlx" / "config.json").read_text())
    assert written["hidden_size"] == list(config.hidden_size)  # stage_2, or the guide the tensors fit
    rae("convert", tmp_path / "mlx", tmp_path / "back", "--to", "torch")
    back = load_file(str(tmp_path / "back" / "model.safetensors"))
    assert set(back) == set(ema)
    assert all(digest(back[k]) == digest(v) for k, v in ema.items())  # the EMA weights, bit for bit
    mlx_layout = load_file(str(tmp_path / "mlx" / "model.safetensors"))
    assert mlx_layout["x_embedder.proj.weight"].shape != ema["x_embedder.proj.weight"].shape  # OHWI there


def test_released_files_and_errors(rae, env, tmp_path):
    """A raw released state dict converts with stage_2's config; a file that fits neither model is refused."""
    cfg = env.yaml("ag.yaml")
    out = rae("convert", env.files["dit"], tmp_path / "raw", "--config", cfg, "--dry-run").stdout
    assert "DiTDHConfig(hidden [32, 48]" in out
    bad = rae("convert", env.files["decoder"], tmp_path / "x", "--config", cfg, ok=False)
    assert bad.exit_code == 2 and "does not match the expected DiTDHConfig" in bad.stderr
    both = rae("convert", env.files["dit"], tmp_path / "y", "--config", cfg, "--model", "dit-dh-xl-256", ok=False)
    assert both.exit_code == 2 and "give one of --model, --config-json and --config" in both.stderr
