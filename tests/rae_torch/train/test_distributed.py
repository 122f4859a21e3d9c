"""torchrun with 2 CPU processes (gloo) against one process at the same global batch: stage 2 under DDP
(with gradient accumulation, so no_sync is exercised) and FSDP2, stage 1 under DDP, latent stats."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from rae_torch.train import Stage1Trainer, Stage2Trainer, compute_stats, load_config  # noqa: E402
from rae_torch.train import checkpoints as ckpt  # noqa: E402

from .conftest import stage1_data, stage2_data  # noqa: E402

REPO = Path(__file__).resolve().parents[3]


def torchrun(tasks: list[dict], folder: Path) -> None:
    spec = folder / "tasks.json"
    spec.write_text(json.dumps(tasks))
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
           "-m", "tests.rae_torch.train.dist_worker", str(spec)]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]


def close(a: dict, b: dict, rtol=1e-4, atol=1e-6) -> None:
    for k in a:
        torch.testing.assert_close(b[k], a[k], rtol=rtol, atol=atol, msg=k)


@pytest.fixture(scope="module")
def launched(assets, tmp_path_factory):
    """One torchrun launch running every distributed task; returns the folder and the task list."""
    root = tmp_path_factory.mktemp("dist")
    s2 = stage2_data(assets, root / "ddp", max_steps=3, global_batch_size=8, grad_accum_steps=2)
    fsdp = stage2_data(assets, root / "fsdp", max_steps=3, global_batch_size=8, parallel="fsdp")
    s1 = stage1_data(assets, root / "stage1", max_steps=4, global_batch_size=4)
    # Adam's first steps move each weight by ~lr * sign(grad), which turns float noise in near-zero
    # gradients into lr-sized differences; a large eps makes the discriminator's AdamW SGD-like, so the
    # comparison below can tell synchronized gradients from unsynchronized ones.
    s1["disc_optim"] = {"lr": 0.05, "eps": 1.0}
    s1["loss"] = {**s1["loss"], "perceptual_weight": 0.0}
    stats = dict(output=str(root / "stat.pt"), encoder=str(assets["encoder"]), encoder_input_size=32, flips="both",
                 batch_size=3, progress=False, data=dict(path=str(assets["data"]), image_size=32, num_workers=0))
    tasks = [{"stage": "stage2", "data": s2}, {"stage": "stage2", "data": fsdp}, {"stage": "stage1", "data": s1},
             {"stage": "stats", "data": stats}]
    torchrun(tasks, root)
    return root, tasks


def single(stage: str, data: dict, out: Path):
    data = {**data, "output_dir": str(out), "train": {**data["train"], "grad_accum_steps": 1, "parallel": "ddp"}}
    trainer = (Stage2Trainer if stage == "stage2" else Stage1Trainer)(load_config(stage, data=data))
    trainer.fit()
    return ckpt.load(ckpt.checkpoint_path(out, trainer.step))


@pytest.mark.parametrize("index", [0, 1], ids=["ddp", "fsdp2"])
def test_stage2_two_processes_equal_one(launched, tmp_path, index):
    root, tasks = launched
    data = tasks[index]["data"]
    two = ckpt.load(ckpt.checkpoint_path(data["output_dir"], 3))
    one = single("stage2", data, tmp_path)
    assert two["world_size"] == 2 and len(two["rng"]) == 2
    close(one["model"], two["model"])
    close(one["ema"], two["ema"])
    assert set(one["optimizer"]["state"]) == set(two["optimizer"]["state"])
    for name, state in one["optimizer"]["state"].items():
        close(state, two["optimizer"]["state"][name], rtol=1e-3, atol=1e-8)


def test_stage1_two_processes_equal_one(launched, tmp_path):
    root, tasks = launched
    data = tasks[2]["data"]
    two = ckpt.load(ckpt.checkpoint_path(data["output_dir"], 4))
    one = single("stage1", data, tmp_path)
    close(one["model"], two["model"], rtol=1e-4, atol=1e-6)
    close(one["disc"], two["disc"], rtol=1e-4, atol=1e-6)


def test_stats_two_processes_equal_one(launched, tmp_path):
    root, tasks = launched
    data = {**tasks[3]["data"], "output": str(tmp_path / "one.pt")}
    mean, var, count = compute_stats(load_config("stats", data=data))
    m2 = torch.load(root / "stat.pt", weights_only=True)
    assert count == 48
    torch.testing.assert_close(m2["mean"], mean, rtol=1e-6, atol=1e-7)
    torch.testing.assert_close(m2["var"], var, rtol=1e-6, atol=1e-7)
