"""Stage 2 on tiny models: learning, exact resume, gradient accumulation, export and sampling."""

from __future__ import annotations

import os
import signal

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from rae_spec import PipelineConfig  # noqa: E402
from rae_torch import Sampler, guided_velocity, load_model, load_stats  # noqa: E402
from rae_torch.train import checkpoints as ckpt  # noqa: E402
from rae_torch.train import load_config, train_stage2  # noqa: E402
from rae_torch.train.stage2 import Stage2Trainer, export_checkpoint  # noqa: E402

from .conftest import stage2_data, state_equal  # noqa: E402


def run(assets, out, callbacks=None, **train):
    cfg = load_config("stage2", data=stage2_data(assets, out, **train))
    trainer = Stage2Trainer(cfg, callbacks=callbacks)
    metrics = trainer.fit()
    return trainer, metrics


def test_loss_decreases(assets, tmp_path):
    losses = []
    data = stage2_data(assets, tmp_path, max_steps=40, log_every=1, global_batch_size=16)
    data["optim"] = {"lr": 2e-3}
    train_stage2(load_config("stage2", data=data))
    for line in (tmp_path / "log.txt").read_text().splitlines():
        if "step " in line and "loss " in line:
            losses.append(float(line.split("loss ")[1].split(",")[0]))
    assert len(losses) == 40
    first, last = sum(losses[:8]) / 8, sum(losses[-8:]) / 8
    assert last < 0.8 * first, (first, last)


def test_resume_after_sigterm_is_bit_identical(assets, tmp_path):
    """2N steps straight == N steps, SIGTERM, resume, N more steps: every tensor of the final checkpoint."""
    straight, _ = run(assets, tmp_path / "a", max_steps=8)

    def kill_at_4(trainer, step):
        if step == 4:
            os.kill(os.getpid(), signal.SIGTERM)

    stopped, _ = run(assets, tmp_path / "b", callbacks=[kill_at_4], max_steps=8)
    assert stopped.step == 4 and [s for s, _ in ckpt.list_checkpoints(tmp_path / "b")] == [4]
    assert not (tmp_path / "b" / "export").exists()
    resumed, _ = run(assets, tmp_path / "b", max_steps=8)
    assert resumed.step == 8
    a = ckpt.load(ckpt.checkpoint_path(tmp_path / "a", 8))
    b = ckpt.load(ckpt.checkpoint_path(tmp_path / "b", 8))
    for key in ("model", "ema", "optimizer", "scheduler", "data", "step"):
        assert state_equal(a[key], b[key]), key
    assert state_equal(a["rng"], b["rng"])


def record_grads(trainer):
    """Wrap the optimizer step to keep a copy of the (clipped) gradients it was given."""
    seen = []
    step = trainer.optimizer.step

    def recording(*args, **kwargs):
        seen.append([p.grad.detach().clone() for p in trainer.model.parameters() if p.grad is not None])
        return step(*args, **kwargs)

    trainer.optimizer.step = recording
    return seen


def test_grad_accumulation_equals_full_batch(assets, tmp_path):
    """k micro-batches of b == one batch of k*b: the gradients handed to the optimizer (after clipping,
    loss scaled by 1/k, no zero_grad between micro-batches, one clip per step) and the weights after."""
    trainers, grads = [], []
    for k in (1, 4):
        cfg = load_config("stage2", data=stage2_data(assets, tmp_path / f"k{k}", max_steps=3, global_batch_size=8,
                                                     grad_accum_steps=k, clip_grad=None))
        trainer = Stage2Trainer(cfg)
        trainer.build()
        grads.append(record_grads(trainer))
        trainer.build = lambda: None
        trainer.fit()
        trainers.append(trainer)
    assert trainers[1].micro_batch == 2
    for g1, g4 in zip(grads[0], grads[1], strict=True):
        for a, b in zip(g1, g4, strict=True):
            torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-7)
    sd1, sd4 = trainers[0].model.state_dict(), trainers[1].model.state_dict()
    for key in sd1:
        torch.testing.assert_close(sd4[key], sd1[key], rtol=1e-5, atol=1e-6, msg=key)


def test_checkpoint_and_export_load_and_sample(assets, tmp_path):
    trainer, _ = run(assets, tmp_path, max_steps=4, sample_every=2)
    assert (tmp_path / "samples" / "step-0000002.png").is_file()
    path = ckpt.checkpoint_path(tmp_path, 4)
    state = ckpt.load(path)
    model = load_model(path, trainer.model_config)  # the EMA weights, via rae_torch's loader
    assert torch.equal(model.state_dict()["final_layer.linear.weight"], state["ema"]["final_layer.linear.weight"])
    assert not torch.equal(state["ema"]["final_layer.linear.weight"], state["model"]["final_layer.linear.weight"])

    folder = tmp_path / "export"
    pipe = PipelineConfig.load(folder)
    assert isinstance(pipe, PipelineConfig) and pipe.class_names == ("class_00", "class_01", "class_02")
    dit = load_model(folder / pipe.dit)
    decoder = load_model(folder / pipe.decoder)
    encoder = load_model(folder / pipe.encoder)
    assert encoder.config.hidden_size == dit.config.in_channels
    for k, v in dit.state_dict().items():
        assert torch.equal(v, state["ema"][k]), k
    again = export_checkpoint(path, tmp_path / "again")  # the `export` command: same folder from the checkpoint
    assert PipelineConfig.load(again).class_names == pipe.class_names
    for k, v in load_model(again / "dit").state_dict().items():
        assert torch.equal(v, state["ema"][k]), k
    x = torch.randn(3, *dit.config.latent_shape)
    shift = pipe.transport.time_dist_shift
    z = Sampler(pipe.sampler, shift).sample(x, guided_velocity(dit, torch.tensor([0, 1, 2]), pipe.guidance))
    images = decoder.unpatchify(decoder(z.flatten(2).transpose(1, 2)))
    assert images.shape == (3, 3, 32, 32) and torch.isfinite(images).all()


def test_stats_are_exported_and_normalize(assets, tmp_path):
    from rae_torch.train.export import save_stats

    shape = (16, 4, 4)
    mean, var = torch.randn(shape), torch.rand(shape) + 0.5
    save_stats(mean, var, tmp_path / "stat.pt")
    trainer, _ = run(assets, tmp_path / "run", max_steps=2, global_batch_size=8)
    data = stage2_data(assets, tmp_path / "run2", max_steps=2)
    data["stats"] = str(tmp_path / "stat.pt")
    train_stage2(load_config("stage2", data=data))
    m, v = load_stats(tmp_path / "run2" / "export" / "stats.safetensors", shape)
    assert torch.equal(m, mean) and torch.equal(v, var)
    pipe = PipelineConfig.load(tmp_path / "run2" / "export")
    assert pipe.stats == "stats.safetensors"


def test_lightningdit_bf16_and_compile_switches(assets, tmp_path):
    """LightningDiT trains too; bf16 autocast (CPU here) tracks fp32; torch.compile keeps plain key names."""
    losses = {}
    for name, extra in (("fp32", {}), ("bf16", {"precision": "bf16"}),
                        ("compiled", {"compile": True, "compile_backend": "eager"})):
        data = stage2_data(assets, tmp_path / name, max_steps=2, log_every=1, **extra)
        data["model"] = dict(type="LightningDiTConfig", input_size=4, in_channels=16, hidden_size=32, depth=1,
                             num_heads=2, num_classes=3)
        trainer = Stage2Trainer(load_config("stage2", data=data))
        losses[name] = trainer.fit()["loss"]
        state = ckpt.load(ckpt.checkpoint_path(tmp_path / name, 2))
        assert not any(k.startswith(("_orig_mod", "module")) for k in state["model"])
        assert load_model(tmp_path / name / "export" / "dit").config.hidden_size == 32
    assert losses["compiled"] == pytest.approx(losses["fp32"], rel=1e-5)
    assert losses["bf16"] == pytest.approx(losses["fp32"], rel=0.05)


@pytest.mark.parametrize("backend", ["torch", "mlx"])
def test_trained_model_samples_through_the_cli(assets, tmp_path, monkeypatch, backend):
    """A finished stage-2 run's export/ folder samples with `rae sample --model DIR` on both backends,
    and one seed gives the same image on both."""
    if backend == "mlx":
        pytest.importorskip("rae_mlx")
    import numpy as np
    from click.testing import CliRunner
    from PIL import Image
    from rae_apps.cli import cli

    run(assets, tmp_path / "run", max_steps=4)
    export = tmp_path / "run" / "export"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RAE_CACHE", str(tmp_path / "rae-cache"))
    images = {}
    for b in dict.fromkeys(["torch", backend]):
        result = CliRunner().invoke(cli, ["sample", "--model", str(export), "--class", "1", "--class", "2",
                                          "--seed", "7", "-q", "--backend", b, "--output", f"{b}-{{index}}.png"])
        assert result.exit_code == 0, result.stderr
        images[b] = [np.asarray(Image.open(tmp_path / f"{b}-{i}.png")).astype(int) for i in range(2)]
        assert images[b][0].shape == (32, 32, 3)
    for a, b in zip(images["torch"], images[backend], strict=True):
        assert np.abs(a - b).max() <= 1 and (a == b).mean() > 0.99


def test_the_step_is_transport_loss_with_per_sample_draws(assets, tmp_path):
    """train_step calls Transport.loss (the one stage-2 loss) with the per-sample seeded noise, uniforms
    and label dropout; the same draws and weights give the same loss outside the trainer."""
    from rae_torch.train.randomness import Stream, normals, uniforms

    trainer = Stage2Trainer(load_config("stage2", data=stage2_data(assets, tmp_path, max_steps=1)))
    trainer.build()
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    calls, seeds = [], []
    loss, step = trainer.transport.loss, trainer.train_step

    def recording(model, data, labels, **kw):
        out = loss(model, data, labels, **kw)
        calls.append((data.clone(), labels.clone(), kw, out["loss"].detach().clone()))
        return out

    def capturing(batches):
        seeds.extend(b["seed"] for b in batches)
        return step(batches)

    trainer.transport.loss, trainer.train_step, trainer.build = recording, capturing, lambda: None
    trainer.fit()
    (z, labels, kw, value), = calls
    s = seeds[0]
    assert np.array_equal(kw["uniforms"], uniforms(s, Stream.TIME)[:, 0])
    assert torch.equal(kw["noise"], normals(s, Stream.NOISE, z.shape[1:], "cpu"))
    p = trainer.model_config.class_dropout_prob
    assert torch.equal(kw["force_drop_ids"], torch.from_numpy(uniforms(s, Stream.LABEL_DROP)[:, 0] < p).long())
    trainer.model.load_state_dict(before)
    assert torch.equal(loss(trainer._forward, z, labels, **kw)["loss"], value)
