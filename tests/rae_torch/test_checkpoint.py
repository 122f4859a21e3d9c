"""Loading released-format files, and every error path a user can hit."""

import pickle

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from safetensors.torch import save_file  # noqa: E402

from rae_spec import StatsConfig, expected_parameters  # noqa: E402
from rae_torch import CheckpointError, build_model, load_model, load_stats  # noqa: E402
from rae_torch.checkpoint import match_state_dict, read_checkpoint, unwrap_state_dict  # noqa: E402
from tests.twins import OTHER_DIT, SIGLIP_HF_CONFIG, TINY_DEC, TINY_DIT, TINY_SIGLIP, Evil  # noqa: E402


def _state(config):
    torch.manual_seed(0)
    return {k: v.clone() for k, v in build_model(config).state_dict().items()}


def test_raw_state_dict_loads(tmp_path):
    sd = _state(TINY_DIT)
    torch.save(sd, tmp_path / "stage2_model.pt")
    model = load_model(tmp_path / "stage2_model.pt", TINY_DIT)
    for k, v in model.state_dict().items():
        assert torch.equal(v, sd[k])


def test_wrapped_checkpoint_prefers_ema_and_strips_prefixes(tmp_path):
    ema, raw = _state(TINY_DIT), {k: v + 1 for k, v in _state(TINY_DIT).items()}
    ckpt = {"model": {f"module.{k}": v for k, v in raw.items()},
            "ema": {f"_orig_mod.{k}": v for k, v in ema.items()}, "step": 10}
    torch.save(ckpt, tmp_path / "ep-0000010.pt")
    model = load_model(tmp_path / "ep-0000010.pt", TINY_DIT)
    assert torch.equal(model.state_dict()["s_projector.weight"], ema["s_projector.weight"])
    torch.save({"model": raw}, tmp_path / "model_only.pt")
    model = load_model(tmp_path / "model_only.pt", TINY_DIT)
    assert torch.equal(model.state_dict()["s_projector.weight"], raw["s_projector.weight"])


def test_decoder_inside_a_whole_rae_checkpoint(tmp_path):
    sd = _state(TINY_DEC)
    whole = {f"decoder.{k}": v for k, v in sd.items()}
    whole["encoder.encoder.embeddings.cls_token"] = torch.zeros(1, 1, 8)
    torch.save({"ema": whole}, tmp_path / "stage1.pt")
    model = load_model(tmp_path / "stage1.pt", TINY_DEC)
    assert torch.equal(model.state_dict()["decoder_pred.weight"], sd["decoder_pred.weight"])


def test_missing_cls_token_decodes_with_zeros(tmp_path):
    sd = _state(TINY_DEC)
    del sd["trainable_cls_token"]
    torch.save(sd, tmp_path / "model.pt")
    model = load_model(tmp_path / "model.pt", TINY_DEC)
    assert torch.count_nonzero(model.trainable_cls_token) == 0


def test_wrong_architecture_names_keys_shapes_and_counts(tmp_path):
    torch.save(_state(OTHER_DIT), tmp_path / "other.pt")
    with pytest.raises(CheckpointError) as err:
        load_model(tmp_path / "other.pt", TINY_DIT)
    msg = str(err.value)
    assert "other.pt" in msg and "DiTDHConfig(hidden [32, 48], depth [2, 1]" in msg
    assert "missing keys (first: blocks.1." in msg or "missing keys" in msg
    assert "shape mismatches" in msg and "file (16,) vs expected (32,)" in msg


def test_missing_and_unexpected_keys_are_counted():
    sd = _state(TINY_DIT)
    sd.pop("final_layer.linear.bias")
    sd["extra.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match=r"1 missing keys \(first: final_layer.linear.bias\); "
                                             r"1 unexpected keys \(first: extra.weight\)"):
        match_state_dict(sd, TINY_DIT)


@pytest.mark.parametrize("suffix", [".pt", ".safetensors"])
def test_truncated_file_is_reported_as_corrupt(tmp_path, suffix):
    path = tmp_path / f"model{suffix}"
    sd = _state(TINY_DIT)
    if suffix == ".pt":
        torch.save(sd, path)
    else:
        save_file(sd, str(path))
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_model(path, TINY_DIT)


def test_pickle_that_needs_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"weights": torch.zeros(2), "payload": Evil()}, path)
    with pytest.raises(CheckpointError, match="needs arbitrary code") as err:
        read_checkpoint(path)
    assert "weights_only" in str(err.value)
    with open(tmp_path / "plain.pkl", "wb") as f:
        pickle.dump({"a": Evil()}, f)
    with pytest.raises(CheckpointError):
        read_checkpoint(tmp_path / "plain.pkl")


def test_missing_file():
    with pytest.raises(CheckpointError, match="does not exist"):
        read_checkpoint("/nonexistent/model.pt")


def test_not_a_state_dict(tmp_path):
    torch.save([1, 2, 3], tmp_path / "list.pt")
    with pytest.raises(CheckpointError, match="not a state dict"):
        unwrap_state_dict(read_checkpoint(tmp_path / "list.pt"), "list.pt")


def test_stats_layouts(tmp_path):
    shape = StatsConfig(8, 2).shape
    var = torch.rand(1, *shape) + 0.5
    torch.save({"mean": None, "var": var}, tmp_path / "stat.pt")
    mean, v = load_stats(tmp_path / "stat.pt", shape)
    assert mean is None and v.shape == shape and torch.equal(v, var[0])
    save_file({"mean": torch.ones(shape), "var": var[0]}, str(tmp_path / "stat.safetensors"))
    mean, v = load_stats(tmp_path / "stat.safetensors", shape)
    assert mean.shape == shape
    with pytest.raises(CheckpointError, match="expected \\(8, 3, 3\\)"):
        load_stats(tmp_path / "stat.pt", (8, 3, 3))
    torch.save({"weights": var}, tmp_path / "notstats.pt")
    with pytest.raises(CheckpointError, match="not a latent statistics file"):
        load_stats(tmp_path / "notstats.pt")


def test_hf_encoder_folder(tmp_path):
    import json

    (tmp_path / "config.json").write_text(json.dumps(SIGLIP_HF_CONFIG))
    enc_cfg = TINY_SIGLIP
    tensors = {k: torch.randn(s) for k, s in expected_parameters(enc_cfg).items()}
    tensors["text_model.embeddings.token_embedding.weight"] = torch.zeros(4, 16)
    tensors["logit_scale"] = torch.zeros(1)
    save_file(tensors, str(tmp_path / "model.safetensors"))
    enc = load_model(tmp_path)
    x = torch.rand(1, 3, 32, 32)
    assert enc(x).shape == (1, 16, 16)
    w = enc.state_dict()["vision_model.embeddings.patch_embedding.weight"]
    assert np.array_equal(w.numpy(), tensors["vision_model.embeddings.patch_embedding.weight"].numpy())
