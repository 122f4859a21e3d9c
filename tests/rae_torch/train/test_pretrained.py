"""Training finds pretrained files through the CLI's store: `--models-dir` (or RAE_MODELS_DIR) and the
Hugging Face cache, for presets, repo ids and the reference YAMLs' `models/<path>` / `hf://` references."""

import shutil

import pytest

torch = pytest.importorskip("torch")
import yaml  # noqa: E402
from click.testing import CliRunner  # noqa: E402

from rae_spec.presets import RAE_REPO  # noqa: E402
from rae_torch.train import pretrained  # noqa: E402
from rae_torch.train.cli import train_cli  # noqa: E402
from rae_torch.train.export import save_stats  # noqa: E402

from .conftest import stage2_data  # noqa: E402


@pytest.fixture
def models_dir(assets, tmp_path, monkeypatch):
    """A plain models folder (DIR/<org>/<repo>/<file>) holding the tiny encoder, decoder and stats."""
    root = tmp_path / "models"
    shutil.copytree(assets["encoder"], root / "someone/tiny-encoder")
    shutil.copytree(assets["decoder"], root / "someone/tiny-decoder")
    save_stats(torch.zeros(16, 4, 4), torch.ones(16, 4, 4), root / RAE_REPO / "stats/tiny/stat.pt")
    monkeypatch.setenv(pretrained.MODELS_DIR_ENV, "")  # restored after the test, whatever the CLI sets
    monkeypatch.delenv(pretrained.MODELS_DIR_ENV)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))
    return root


def test_pieces_resolve_in_the_models_folder(models_dir, monkeypatch):
    with pytest.raises(pretrained.MissingWeightsError, match="huggingface-cli download someone/tiny-encoder"):
        pretrained.load_encoder("someone/tiny-encoder")
    monkeypatch.setenv(pretrained.MODELS_DIR_ENV, str(models_dir))
    module, config = pretrained.load_encoder("someone/tiny-encoder")
    assert config.hidden_size == 16
    mean, var = pretrained.load_latent_stats("models/stats/tiny/stat.pt", (16, 4, 4))  # a reference YAML path
    assert torch.equal(var, torch.ones(16, 4, 4))
    decoder = pretrained.load_decoder("hf://someone/tiny-decoder/model.safetensors", pretrained.decoder_config(
        {"type": "DecoderConfig", "hidden_size": 32, "num_layers": 1, "num_heads": 2, "intermediate_size": 64,
         "latent_dim": 16, "num_patches": 16, "patch_size": 8}, config, 32, 32))
    assert decoder.config.hidden_size == 32


def test_the_training_cli_takes_models_dir(assets, models_dir, tmp_path, monkeypatch):
    data = stage2_data(assets, tmp_path / "run", max_steps=1)
    data.update(encoder="someone/tiny-encoder", stats="models/stats/tiny/stat.pt", decoder=None)
    cfg = tmp_path / "run.yaml"
    cfg.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(train_cli, ["stage2", "--config", str(cfg)])
    assert result.exit_code == 2 and "is not in the Hugging Face cache" in result.output
    result = CliRunner().invoke(train_cli, ["stage2", "--config", str(cfg), "--models-dir", str(models_dir)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "run" / "export" / "stats.safetensors").is_file()
