"""rae_mlx loading released-format files (written by torch), and every error path a user can hit; the
messages are the ones rae_torch gives."""

import json
import pickle

import mlx.core as mx
import numpy as np
import pytest
from mlx.utils import tree_flatten

from rae_mlx import CheckpointError, load_model, load_stats
from rae_mlx.checkpoint import read_checkpoint
from rae_spec import StatsConfig, expected_parameters
from tests.twins import (
    OTHER_DIT,
    SIGLIP_HF_CONFIG,
    TINY_DEC,
    TINY_DIT,
    TINY_SIGLIP,
    Evil,
    random_torch_model,
)

torch = pytest.importorskip("torch")
from safetensors.torch import save_file  # noqa: E402


def _state(config):
    return {k: v.clone() for k, v in random_torch_model(config).state_dict().items()}


def _params(model):
    return {k: np.asarray(v) for k, v in tree_flatten(model.parameters())}


def test_wrapped_checkpoint_prefers_ema_strips_prefixes_and_transposes_convs(tmp_path):
    ema, raw = _state(TINY_DIT), {k: v + 1 for k, v in _state(TINY_DIT).items()}
    ckpt = {"model": {f"module.{k}": v for k, v in raw.items()},
            "ema": {f"_orig_mod.{k}": v for k, v in ema.items()}, "step": 10}
    torch.save(ckpt, tmp_path / "ep-0000010.pt")
    params = _params(load_model(tmp_path / "ep-0000010.pt", TINY_DIT))
    assert np.array_equal(params["s_projector.weight"], ema["s_projector.weight"].numpy())
    assert np.array_equal(params["x_embedder.proj.weight"], ema["x_embedder.proj.weight"].numpy().transpose(0, 2, 3, 1))


def test_decoder_inside_a_whole_rae_checkpoint_and_missing_cls_token(tmp_path):
    sd = _state(TINY_DEC)
    whole = {f"decoder.{k}": v for k, v in sd.items() if k != "trainable_cls_token"}
    whole["encoder.encoder.embeddings.cls_token"] = torch.zeros(1, 1, 8)
    torch.save({"ema": whole}, tmp_path / "stage1.pt")
    params = _params(load_model(tmp_path / "stage1.pt", TINY_DEC))
    assert np.array_equal(params["decoder_pred.weight"], sd["decoder_pred.weight"].numpy())
    assert not params["trainable_cls_token"].any()


def test_wrong_architecture_names_keys_shapes_and_counts(tmp_path):
    torch.save(_state(OTHER_DIT), tmp_path / "other.pt")
    with pytest.raises(CheckpointError) as err:
        load_model(tmp_path / "other.pt", TINY_DIT)
    msg = str(err.value)
    assert "other.pt" in msg and "DiTDHConfig(hidden [32, 48], depth [2, 1]" in msg
    assert "missing keys" in msg and "shape mismatches" in msg and "file (16,) vs expected (32,)" in msg


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_truncated_file_is_reported_as_corrupt(tmp_path, suffix):
    path = tmp_path / f"model{suffix}"
    sd = _state(TINY_DIT)
    torch.save(sd, path) if suffix == ".pt" else save_file(sd, str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_model(path, TINY_DIT)


def test_pickle_that_needs_code_is_refused(tmp_path):
    torch.save({"weights": torch.zeros(2), "payload": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError, match=r"needs arbitrary code .*builtins\.print"):
        read_checkpoint(tmp_path / "evil.pt")
    with open(tmp_path / "plain.pkl", "wb") as f:
        pickle.dump({"a": Evil()}, f)
    with pytest.raises(CheckpointError):
        read_checkpoint(tmp_path / "plain.pkl")


def test_missing_file_and_missing_config(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        read_checkpoint("/nonexistent/model.pt")
    torch.save(_state(TINY_DIT), tmp_path / "m.pt")
    with pytest.raises(CheckpointError, match="needs its config"):
        load_model(tmp_path / "m.pt")


def test_stats_layouts(tmp_path):
    shape = StatsConfig(8, 2).shape
    var = torch.rand(1, *shape) + 0.5
    torch.save({"mean": None, "var": var}, tmp_path / "stat.pt")
    mean, v = load_stats(tmp_path / "stat.pt", shape)
    assert mean is None and v.shape == shape and np.array_equal(np.asarray(v), var[0].numpy())
    save_file({"mean": torch.ones(shape), "var": var[0].to(torch.bfloat16)}, str(tmp_path / "stat.safetensors"))
    mean, v = load_stats(tmp_path / "stat.safetensors", shape)
    assert mean.shape == shape and v.dtype == mx.float32
    with pytest.raises(CheckpointError, match="expected \\(8, 3, 3\\)"):
        load_stats(tmp_path / "stat.pt", (8, 3, 3))
    torch.save({"weights": var}, tmp_path / "notstats.pt")
    with pytest.raises(CheckpointError, match="not a latent statistics file"):
        load_stats(tmp_path / "notstats.pt")


def test_hf_encoder_folder_with_bf16_weights(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(SIGLIP_HF_CONFIG))
    enc_cfg = TINY_SIGLIP
    tensors = {k: torch.randn(s).to(torch.bfloat16) for k, s in expected_parameters(enc_cfg).items()}
    tensors["text_model.embeddings.token_embedding.weight"] = torch.zeros(4, 16)
    save_file(tensors, str(tmp_path / "model.safetensors"))
    enc = load_model(tmp_path)
    assert enc(mx.random.uniform(shape=(1, 3, 32, 32))).shape == (1, 16, 16)
    w = _params(enc)["vision_model.embeddings.patch_embedding.weight"]
    want = tensors["vision_model.embeddings.patch_embedding.weight"].float().numpy().transpose(0, 2, 3, 1)
    assert np.array_equal(w, want)
