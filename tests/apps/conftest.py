"""A tiny offline world for the CLI: released-format files under the real hub repo ids, in a Hugging Face
cache laid out as huggingface_hub lays it out and in a plain models folder, a presets file that gives the
released preset names the tiny configs, and reference-style YAMLs."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from click.testing import CliRunner  # noqa: E402

from rae_spec.presets import RAE_REPO  # noqa: E402

from . import tiny  # noqa: E402

ENCODER_REPO = "facebook/dinov2-with-registers-base"
ENCODER_FILES = ("config.json", "preprocessor_config.json", "model.safetensors")


@dataclass
class World:
    root: Path
    files: dict[str, Path]  # the released artifacts
    cache: Path  # HF hub cache
    models_dir: Path  # plain models folder
    presets: Path  # presets override (tiny configs)

    others: dict[str, dict[str, Path]]  # SigLIP2 and MAE autoencoders

    def repo_files(self) -> dict[str, dict[str, Path]]:
        base = self.files["encoder"].parent
        rae = {str(self.files[k].relative_to(base)): self.files[k] for k in ("dit", "guide", "decoder", "stats")}
        out = {ENCODER_REPO: {n: self.files["encoder"] / n for n in ENCODER_FILES}}
        for name, paths in self.others.items():
            rae.update({str(paths[k].relative_to(base)): paths[k] for k in ("decoder", "stats")})
            repo = tiny.OTHER_ENCODERS[name][0].hf_repo
            out[repo] = {n: paths["encoder"] / n for n in ("config.json", "model.safetensors")}
        return {RAE_REPO: rae, **out}

    def yaml(self, name: str = "ag.yaml", **variant) -> Path:
        return tiny.write_yaml(self.root / name, tiny.sampling_yaml(self.files, **variant))


@pytest.fixture(scope="session", autouse=True)
def one_thread():
    """The tiny models are far too small to gain from intra-op threads; on a 2-core machine the thread
    hand-offs cost up to 50x per step."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def build_world(root: Path) -> World:
    """The tiny released files under `root`, in an HF cache and a models folder, with the presets file."""
    files = tiny.write_released(root / "files", seed=0)
    others = tiny.write_other_autoencoders(root / "files")
    w = World(root, files, root / "hf" / "hub", root / "models", root / "presets.json", others)
    for repo, entries in w.repo_files().items():
        tiny.hub_cache_put(w.cache, repo, entries)
        for name, src in entries.items():
            dst = w.models_dir / repo / name
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dst)
    w.presets.write_text(json.dumps(tiny.presets_override(), indent=2))
    return w


_BUILT: dict[str, World] = {}


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> World:
    """Built once per session, also when another test folder's conftest imports this fixture."""
    if "world" not in _BUILT:
        _BUILT["world"] = build_world(tmp_path_factory.mktemp("world"))
    return _BUILT["world"]


@pytest.fixture
def env(world, tmp_path, monkeypatch) -> World:
    """Offline, the tiny cache as the HF cache, the tiny presets, a fresh rae cache; run in tmp_path."""
    monkeypatch.setenv("HF_HUB_CACHE", str(world.cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("RAE_PRESETS", str(world.presets))
    monkeypatch.setenv("RAE_CACHE", str(tmp_path / "rae-cache"))
    monkeypatch.delenv("RAE_MODELS_DIR", raising=False)
    monkeypatch.delenv("HF_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    return world


def rae_runner():
    """`run(*args, ok=True)`: `rae ARGS...` in-process, returning click's Result (stdout, stderr, exit_code); with
    `ok` a non-zero exit fails the test with rae's stderr."""
    from rae_apps.cli import cli

    runner = CliRunner()

    def run(*args: str, ok: bool = True):
        result = runner.invoke(cli, [str(a) for a in args], catch_exceptions=False)
        if ok and result.exit_code != 0:
            raise AssertionError(f"rae {' '.join(map(str, args))} exited {result.exit_code}:\n{result.stderr}")
        return result

    return run


@pytest.fixture
def rae(env):
    """Run `rae ARGS...` in-process in the tiny world (rae_runner)."""
    return rae_runner()
