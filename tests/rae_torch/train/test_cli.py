"""The command line: a real SIGTERM from outside, resume, bit-identical result; errors without
tracebacks; reference training YAMLs accepted."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

torch = pytest.importorskip("torch")
from click.testing import CliRunner  # noqa: E402

from rae_torch.train import checkpoints as ckpt  # noqa: E402
from rae_torch.train import load_config  # noqa: E402
from rae_torch.train.cli import train_cli  # noqa: E402

from .conftest import stage2_data, state_equal  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
ENV = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def cli(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "rae_torch.train", *args], cwd=REPO, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_sigterm_from_outside_then_resume_is_bit_identical(assets, tmp_path):
    steps = 40
    configs = {}
    for name in ("straight", "killed"):
        data = stage2_data(assets, tmp_path / name, max_steps=steps, log_every=1, checkpoint_every=1000)
        configs[name] = tmp_path / f"{name}.yaml"
        configs[name].write_text(yaml.safe_dump(data))
    straight = cli("stage2", "--config", str(configs["straight"]))
    killed = cli("stage2", "--config", str(configs["killed"]))
    log = tmp_path / "killed" / "log.txt"
    deadline = time.time() + 120
    while time.time() < deadline and not (log.is_file() and "step 5:" in log.read_text()):
        time.sleep(0.05)
    killed.send_signal(signal.SIGTERM)
    assert killed.wait(120) == 0, killed.stderr.read()
    assert straight.wait(120) == 0, straight.stderr.read()
    saved = [s for s, _ in ckpt.list_checkpoints(tmp_path / "killed")]
    assert len(saved) == 1 and 5 <= saved[0] < steps, saved
    resumed = cli("stage2", "--config", str(configs["killed"]))
    assert resumed.wait(120) == 0, resumed.stderr.read()
    a = ckpt.load(ckpt.checkpoint_path(tmp_path / "straight", steps))
    b = ckpt.load(ckpt.checkpoint_path(tmp_path / "killed", steps))
    for key in ("model", "ema", "optimizer", "scheduler", "data", "rng"):
        assert state_equal(a[key], b[key]), key


def test_config_errors_are_one_line(assets, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump({"train": {"max_stepz": 3}}))
    result = CliRunner().invoke(train_cli, ["stage2", "--config", str(bad)])
    assert result.exit_code == 2
    assert "unknown stage2.train keys ['max_stepz']" in result.output and "Traceback" not in result.output
    missing = tmp_path / "missing.yaml"
    missing.write_text(yaml.safe_dump({"encoder": "dinov2-b-reg", "data": {"path": str(assets["data"])},
                                       "model": "dit-dh-xl-256", "train": {"max_steps": 1}}))
    result = CliRunner().invoke(train_cli, ["stage2", "--config", str(missing)])
    assert result.exit_code == 2 and "huggingface-cli download facebook/dinov2-with-registers-base" in result.output


REFERENCE_STAGE2 = """
stage_1:
  target: stage1.RAE
  params:
    encoder_cls: 'Dinov2withNorm'
    encoder_config_path: 'facebook/dinov2-with-registers-base'
    encoder_input_size: 224
    encoder_params: {dinov2_path: 'facebook/dinov2-with-registers-base', normalize: true}
    decoder_config_path: 'configs/decoder/ViTXL'
    pretrained_decoder_path: 'models/decoders/dinov2/wReg_base/ViTXL_n08/model.pt'
    noise_tau: 0.0
    normalization_stat_path: 'models/stats/dinov2/wReg_base/imagenet1k/stat.pt'
stage_2:
  target: stage2.models.DDT.DiTwDDTHead
  params: {input_size: 16, patch_size: 1, in_channels: 768, hidden_size: [1152, 2048], depth: [28, 2],
           num_heads: [16, 16], mlp_ratio: 4.0, class_dropout_prob: 0.1, num_classes: 1000}
transport:
  params: {path_type: 'Linear', prediction: 'velocity', loss_weight: null, time_dist_type: 'logit-normal_0_1'}
sampler:
  mode: ODE
  params: {sampling_method: 'euler', num_steps: 50}
guidance: {method: 'cfg', scale: 1.0, t-min: 0.0, t-max: 1.0}
misc: {latent_size: [768, 16, 16], num_classes: 1000, time_dist_shift_dim: 196608, time_dist_shift_base: 4096}
training:
  epochs: 1400
  global_batch_size: 1024
  grad_accum_steps: 1
  ema_decay: 0.9995
  num_workers: 16
  log_interval: 100
  checkpoint_interval: 10
  sample_every: 10000
  clip_grad: 1.0
  global_seed: 42
  optimizer: {lr: 2.0e-4, betas: [0.9, 0.95], weight_decay: 0.0}
  scheduler: {type: linear, warmup_epochs: 40, decay_end_epoch: 800, base_lr: 2.0e-4, final_lr: 2.0e-5,
              warmup_from_zero: false}
"""

REFERENCE_STAGE1 = """
stage_1:
  target: stage1.RAE
  params:
    encoder_cls: 'Dinov2withNorm'
    encoder_config_path: 'facebook/dinov2-with-registers-base'
    encoder_input_size: 224
    decoder_config_path: 'configs/decoder/ViTXL'
    noise_tau: 0.8
training:
  epochs: 16
  ema_decay: 0.9978
  global_batch_size: 512
  clip_grad: 0.0
  checkpoint_interval: 1
  optimizer: {lr: 2.0e-4, betas: [0.9, 0.95], weight_decay: 0.0}
  scheduler: {type: cosine, warmup_epochs: 1, decay_end_epoch: 16, base_lr: 2.0e-4, final_lr: 2.0e-5,
              warmup_from_zero: true}
gan:
  disc:
    arch: {dino_ckpt_path: 'models/discs/dino_vit_small_patch8_224.pth', ks: 9, norm_type: 'bn',
           using_spec_norm: true, recipe: 'S_8'}
    optimizer: {lr: 2.0e-4, betas: [0.9, 0.95], weight_decay: 0.0}
    scheduler: {type: cosine, warmup_epochs: 1, decay_end_epoch: 16, base_lr: 2.0e-4, final_lr: 2.0e-5,
                warmup_from_zero: true}
    augment: {prob: 1.0, cutout: 0.0}
  loss: {disc_loss: hinge, gen_loss: vanilla, disc_weight: 0.75, perceptual_weight: 1.0, disc_start: 8,
         disc_upd_start: 6, lpips_start: 0, max_d_weight: 10000.0, disc_updates: 1}
"""


def test_reference_yamls_map_onto_our_configs(tmp_path):
    path = tmp_path / "ref2.yaml"
    path.write_text(REFERENCE_STAGE2)
    cfg = load_config("stage2", path, ["data.path=/data/train"])
    assert cfg.encoder == "dinov2-b-reg" and cfg.stats.endswith("imagenet1k/stat.pt") and cfg.decoder_config == "XL"
    assert cfg.model["hidden_size"] == [1152, 2048] and cfg.transport.time_dist_shift == pytest.approx(48 ** 0.5)
    assert cfg.train.global_batch_size == 1024 and cfg.train.seed == 42 and cfg.train.checkpoint_every_epochs == 10
    assert cfg.schedule.type == "linear" and cfg.schedule.warmup_epochs == 40 and cfg.schedule.final_lr == 2e-5
    assert cfg.optim.betas == (0.9, 0.95) and cfg.guidance.method == "cfg" and cfg.data.path == "/data/train"
    path = tmp_path / "ref1.yaml"
    path.write_text(REFERENCE_STAGE1)
    cfg = load_config("stage1", path)
    assert cfg.noise_tau == 0.8 and cfg.decoder == "XL" and cfg.train.clip_grad is None
    assert cfg.loss.disc_start_epoch == 8 and cfg.loss.disc_update_start_epoch == 6
    assert cfg.disc.backbone.endswith("dino_vit_small_patch8_224.pth") and cfg.disc.ks == 9
    assert cfg.schedule.type == "cosine" and cfg.schedule.warmup_from_zero and cfg.train.ema_decay == 0.9978


def test_our_yaml_round_trips(tmp_path):
    from rae_torch.train.config import dump_config

    cfg = load_config("stage2", data={"train": {"max_steps": 5}, "sampler": {"num_steps": 7}})
    again = load_config("stage2", data=yaml.safe_load(dump_config(cfg)))
    assert again == cfg
