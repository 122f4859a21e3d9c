"""The installed `rae` console script, the CLI without torch, and the lazily mounted `rae train`."""

import os
import subprocess
import sys
import types
from pathlib import Path

import click
import numpy as np
import pytest
from PIL import Image

REPO = Path(__file__).resolve().parents[2]
EXE = Path(sys.executable).parent / ("rae.exe" if os.name == "nt" else "rae")


@pytest.mark.skipif(not EXE.is_file(), reason=f"no installed rae next to {sys.executable} (pip install -e .)")
def test_installed_rae_executable(rae, env, tmp_path):
    run_env = dict(os.environ, OMP_NUM_THREADS="1")
    args = ["sample", "--class", "otter", "--seed", "3", "--steps", "6", "-q"]
    done = subprocess.run([str(EXE), *args, "--output", "exe.png"], capture_output=True, text=True, env=run_env,
                          cwd=tmp_path, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "exe.png"
    rae(*args, "--output", "inproc.png")
    assert np.array_equal(np.asarray(Image.open(tmp_path / "exe.png")), np.asarray(Image.open("inproc.png")))
    bad = subprocess.run([str(EXE), "sample", "--class", "1000"], capture_output=True, text=True, env=run_env,
                         cwd=tmp_path, timeout=300)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines()[-1].startswith("error: class 1000 is out of range")
    assert "Traceback" not in bad.stderr


TORCH_FREE = """
import sys
sys.modules["torch"] = None  # as if torch were not installed: import fails, find_spec returns None
sys.path.insert(0, {repo!r})
import tests.conftest  # maps apps/ to rae_apps in an uninstalled checkout
from rae_apps.cli import cli
for args in (["--help"], ["info"], ["info", "dit-dh-xl-256-ag"], ["classes", "otter"], ["download"],
             ["sample", "--class", "1", "--backend", "torch"]):
    try:
        cli.main(args, prog_name="rae")
    except SystemExit as e:
        print("EXIT", args[0], e.code)
print("torch imported:", "torch" in sys.modules and sys.modules["torch"] is not None)
"""


def test_the_cli_does_not_need_torch(env):
    done = subprocess.run([sys.executable, "-c", TORCH_FREE.format(repo=str(REPO))], capture_output=True, text=True,
                          env=dict(os.environ), timeout=300)
    out = done.stdout
    assert "EXIT --help 0" in out and "EXIT info 0" in out and "EXIT classes 0" in out and "EXIT download 0" in out
    assert " 360  otter" in out and "4 files" in out
    assert "EXIT sample 2" in out and "--backend torch needs PyTorch" in done.stderr
    assert "torch imported: False" in out


def test_train_group_is_mounted_lazily_when_present(rae, monkeypatch):
    from rae_apps import cli as cli_module

    @click.group("train")
    def train_cli():
        """Train stage 1 / stage 2 models."""

    @train_cli.command("stage2")
    def stage2():
        click.echo("training stage 2")

    fake = types.ModuleType("rae_torch.train.cli")
    fake.train_cli = train_cli
    monkeypatch.setitem(sys.modules, "rae_torch.train", types.ModuleType("rae_torch.train"))
    monkeypatch.setitem(sys.modules, "rae_torch.train.cli", fake)
    monkeypatch.setattr(cli_module, "_train_available", lambda: True)
    assert "train" in rae("--help").stdout
    assert rae("train", "stage2").stdout.strip() == "training stage 2"
    monkeypatch.setattr(cli_module, "_train_available", lambda: False)
    assert "train" not in rae("--help").stdout.split("Commands:")[1]
