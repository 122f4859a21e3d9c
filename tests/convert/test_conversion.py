"""rae_convert end to end: plans, lossless torch <-> MLX round trips, provenance, diffusers folders,
verification across backends, and nothing written when a check fails."""

import dataclasses
import hashlib
import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("mlx")

from rae_convert import CheckpointError, convert_file, layout_plan, plan, verify  # noqa: E402
from rae_convert import layout as layout_module  # noqa: E402
from rae_convert.safetensors_io import read  # noqa: E402

import rae_mlx  # noqa: E402
from rae_spec import (  # noqa: E402
    DecoderConfig,
    DiTDHConfig,
    EncoderConfig,
    LightningDiTConfig,
    RAEConfig,
    StatsConfig,
)
from rae_torch import build_model  # noqa: E402

DIT = DiTDHConfig(input_size=4, in_channels=8, hidden_size=(32, 48), depth=(1, 1), num_heads=(2, 3), num_classes=5,
                  patch_size=2)
DEC = DecoderConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, latent_dim=16, num_patches=16,
                    patch_size=4)
DINO = EncoderConfig(kind="dinov2", hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32, patch_size=14,
                     image_size=56)
SIGLIP = EncoderConfig(kind="siglip2", hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32, patch_size=8,
                       image_size=32, num_register_tokens=0, hidden_act="gelu_tanh")
MAE = EncoderConfig(kind="mae", hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32, patch_size=8,
                    image_size=32, num_register_tokens=0, layer_norm_eps=1e-12)
RAE_CFG = RAEConfig(encoder=DINO, decoder=DEC, encoder_input_size=56)
# diffusers' AutoencoderRAE builds encoders with 64-wide heads, so its folders hold widths of 64k.
DINO64 = EncoderConfig(kind="dinov2", hidden_size=64, num_layers=1, num_heads=1, intermediate_size=256, patch_size=14,
                       image_size=56)
RAE64 = RAEConfig(encoder=DINO64, decoder=DecoderConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64,
                                                        latent_dim=64, num_patches=16, patch_size=4),
                  encoder_input_size=56)
LDIT = LightningDiTConfig(input_size=4, in_channels=8, hidden_size=32, depth=1, num_heads=2, num_classes=5)


def random_state(config, seed=0):
    torch.manual_seed(seed)
    model = build_model(config)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.2)
    return model.state_dict()


@pytest.mark.parametrize("config", [DIT, LDIT, DEC, DINO, SIGLIP, MAE, RAE_CFG],
                         ids=["ditdh", "lightning", "decoder", "dinov2", "siglip2", "mae", "rae"])
def test_float32_round_trip_is_bit_identical(tmp_path, config):
    sd = random_state(config)
    torch.save({"ema": sd}, tmp_path / "src.pt")
    convert_file(tmp_path / "src.pt", tmp_path / "mlx", config, "torch->mlx")
    mlx_tensors, meta = read(tmp_path / "mlx" / "model.safetensors")
    assert meta["layout"] == "mlx"
    for key, entry in layout_plan(config).items():
        assert mlx_tensors[key].shape == entry.mlx_shape
    convert_file(tmp_path / "mlx", tmp_path / "back", direction="mlx->torch")
    back, meta = read(tmp_path / "back" / "model.safetensors")
    assert meta["layout"] == "torch"
    for key in layout_plan(config):
        want = sd[key].numpy()
        assert back[key].dtype == want.dtype and np.array_equal(back[key], want), key


def test_plan_is_a_dry_run_and_describes_the_work(tmp_path):
    torch.save(random_state(DIT), tmp_path / "stage2_model.pt")
    p = convert_file(tmp_path / "stage2_model.pt", tmp_path / "out", DIT, "torch->mlx", dtype="bfloat16", dry_run=True)
    assert not (tmp_path / "out").exists()
    text = p.describe()
    assert "2 re-laid out" in text and "x_embedder.proj.weight: (48, 8, 2, 2) -> (48, 2, 2, 8)" in text
    assert "float32 -> bfloat16" in text and "out/model.safetensors" in text
    assert len(p.rows) == len(layout_plan(DIT))
    as_stored = convert_file(tmp_path / "stage2_model.pt", tmp_path / "out", DIT, "torch->mlx", dry_run=True)
    assert "dtype       as stored\n" in as_stored.describe()  # float32 stays float32: no bfloat16 is mentioned
    sd = random_state(DIT)
    torch.save({k: v.to(torch.bfloat16) if v.is_floating_point() else v for k, v in sd.items()}, tmp_path / "h.pt")
    text = convert_file(tmp_path / "h.pt", tmp_path / "out", DIT, "torch->mlx", dry_run=True).describe()
    bf16 = sum(v.is_floating_point() for v in sd.values())
    assert f"as stored ({bf16} bfloat16 tensors written as float32, exactly)" in text


def test_provenance_and_half_precision(tmp_path):
    sd = random_state(DIT)
    torch.save(sd, tmp_path / "m.pt")
    convert_file(tmp_path / "m.pt", tmp_path / "bf16", DIT, "torch->mlx", dtype="bfloat16")
    tensors, meta = read(tmp_path / "bf16" / "model.safetensors", keep_bf16_bits=True)
    assert meta["source_sha256"] == hashlib.sha256((tmp_path / "m.pt").read_bytes()).hexdigest()
    assert meta["source"] == "m.pt" and meta["dtype"] == "bfloat16" and meta["quantization"] == "none"
    assert meta["converter_version"] and json.loads(meta["config"])["type"] == "DiTDHConfig"
    want = sd["blocks.0.attn.qkv.weight"].to(torch.bfloat16).view(torch.int16).numpy().view(np.uint16)
    assert np.array_equal(tensors["blocks.0.attn.qkv.weight"], want)  # torch's rounding, bit for bit
    assert tensors["enc_feat_rope.freqs_cos"].dtype == np.float32  # tables stay float32
    assert json.loads((tmp_path / "bf16" / "config.json").read_text())["type"] == "DiTDHConfig"


def test_checks_fail_before_anything_is_written(tmp_path):
    sd = random_state(DIT)
    sd.pop("blocks.1.mlp.w3.bias")
    torch.save(sd, tmp_path / "bad.pt")
    with pytest.raises(CheckpointError, match=r"1 missing keys \(first: blocks.1.mlp.w3.bias\)"):
        convert_file(tmp_path / "bad.pt", tmp_path / "out", DIT, "torch->mlx")
    assert not (tmp_path / "out").exists()
    torch.save(random_state(DIT), tmp_path / "ok.pt")
    with pytest.raises(CheckpointError, match="in torch layout, not mlx"):
        plan(tmp_path / "ok.pt", DIT, "mlx->torch")
    with pytest.raises(ValueError, match="direction"):
        plan(tmp_path / "ok.pt", DIT, "sideways")


def test_the_table_must_cover_every_conv(monkeypatch):
    monkeypatch.setitem(layout_module.TABLE, "DiTDHConfig", {"x_embedder.proj.weight": layout_module.CONV2D})
    with pytest.raises(layout_module.LayoutError, match="s_embedder.proj.weight is a 4-D"):
        layout_plan(DIT)
    monkeypatch.setitem(layout_module.TABLE, "DecoderConfig", {"decoder_embed.bias": layout_module.CONV2D})
    with pytest.raises(layout_module.LayoutError, match="expects a 4-D tensor"):
        layout_plan(DEC)


def test_verify_runs_both_backends(tmp_path):
    torch.save(random_state(DIT), tmp_path / "m.pt")
    convert_file(tmp_path / "m.pt", tmp_path / "mlx", DIT, "torch->mlx")
    report = verify(tmp_path / "mlx")
    assert report.what == "DiT forward" and report.output_shape == (2, 8, 4, 4)
    assert report.relative < 1e-5 and "max |torch - mlx|" in str(report)
    torch.save(random_state(RAE_CFG), tmp_path / "rae.pt")
    convert_file(tmp_path / "rae.pt", tmp_path / "rae", RAE_CFG, "torch")
    assert verify(tmp_path / "rae").relative < 1e-5


def test_quantized_conversion_loads_in_mlx_and_is_refused_by_torch(tmp_path):
    import rae_torch

    config = DiTDHConfig(input_size=4, in_channels=64, hidden_size=(64, 128), depth=(1, 1), num_heads=(2, 2),
                         num_classes=5)
    torch.save(random_state(config), tmp_path / "m.pt")
    convert_file(tmp_path / "m.pt", tmp_path / "q8", config, "torch->mlx", quantize={"bits": 8, "group_size": 64})
    _, meta = read(tmp_path / "q8" / "model.safetensors")
    quant = json.loads(meta["quantization"])
    assert quant["bits"] == 8 and "blocks.0.attn.qkv" in quant["layers"] and meta["source"] == "m.pt"
    model = rae_mlx.load_model(tmp_path / "q8")
    assert type(model.blocks[0].attn.qkv).__name__ == "QuantizedLinear"
    with pytest.raises(rae_torch.CheckpointError, match="quantized MLX weights"):
        rae_torch.load_model(tmp_path / "q8")
    with pytest.raises(CheckpointError, match="cannot be undone"):
        plan(tmp_path / "q8", direction="mlx->torch")


def test_stats_files(tmp_path):
    var = torch.rand(1, 16, 4, 4) + 0.5
    torch.save({"mean": None, "var": var}, tmp_path / "stat.pt")
    p = convert_file(tmp_path / "stat.pt", tmp_path / "stats", direction="mlx")
    assert p.config == StatsConfig(16, 4, has_mean=False)
    import rae_torch

    mean, v = rae_mlx.load_stats(tmp_path / "stats")
    tmean, tv = rae_torch.load_stats(tmp_path / "stats")
    assert mean is None and tmean is None
    assert np.array_equal(np.asarray(v), var[0].numpy()) and torch.equal(tv, var[0])


def _diffusers_folder(tmp_path, sd, diffusers_attention: bool, std_stats: bool, var):
    """A folder laid out as diffusers' AutoencoderRAE.save_pretrained writes it (read from its source)."""
    folder = tmp_path / ("diffusers_new" if diffusers_attention else "diffusers_old")
    folder.mkdir()
    tensors = {}
    for k, v in sd.items():
        if k.startswith("encoder."):
            if k.startswith("encoder.layernorm") or "mask_token" in k:
                continue
            tensors["encoder.model." + k[len("encoder."):]] = v
        else:
            if diffusers_attention:
                k = (k.replace(".attention.attention.query.", ".attention.to_q.")
                     .replace(".attention.attention.key.", ".attention.to_k.")
                     .replace(".attention.attention.value.", ".attention.to_v.")
                     .replace(".attention.output.dense.", ".attention.to_out.0."))
            tensors[k] = v
    tensors["encoder_mean"] = torch.tensor(DINO64.image_mean).view(1, 3, 1, 1)
    tensors["encoder_std"] = torch.tensor(DINO64.image_std).view(1, 3, 1, 1)
    if std_stats:
        tensors["_latents_mean"] = torch.zeros(1)
        tensors["_latents_std"] = torch.sqrt(var + 1e-5)
    else:
        tensors["_latent_var"] = var
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in tensors.items()}, str(folder / "diffusion_pytorch_model.safetensors"))
    cfg = {"_class_name": "AutoencoderRAE", "_diffusers_version": "0.37.0", "encoder_type": "dinov2",
           "encoder_hidden_size": 64, "encoder_patch_size": 14, "encoder_num_hidden_layers": 1,
           "decoder_hidden_size": 32, "decoder_num_hidden_layers": 1, "decoder_num_attention_heads": 2,
           "decoder_intermediate_size": 64, "patch_size": 4, "encoder_input_size": 56, "num_channels": 3,
           "noise_tau": 0.0, "reshape_to_2d": True, "scaling_factor": 1.0}
    (folder / "config.json").write_text(json.dumps(cfg))
    return folder


@pytest.mark.parametrize("diffusers_attention, std_stats", [(False, False), (True, True)])
def test_diffusers_rae_folders(tmp_path, diffusers_attention, std_stats):
    sd = random_state(RAE64)
    var = torch.rand(64, 4, 4) + 0.5
    folder = _diffusers_folder(tmp_path, sd, diffusers_attention, std_stats, var)
    p = convert_file(folder, tmp_path / "rae", direction="torch->mlx")
    assert p.source.kind == "diffusers-rae" and p.config == RAE64
    tensors, _ = read(tmp_path / "rae" / "model.safetensors")
    for key in ("decoder.decoder_layers.0.attention.attention.query.weight",
                "decoder.decoder_layers.0.attention.output.dense.bias", "encoder.encoder.layer.0.mlp.fc1.weight"):
        assert np.array_equal(tensors[key], sd[key].numpy()), key
    stats, _ = read(tmp_path / "rae" / "stats.safetensors")
    assert "mean" not in stats
    if std_stats:  # var recovered from std = sqrt(var + 1e-5): float rounding only
        assert np.allclose(stats["var"], var.numpy(), rtol=1e-5, atol=1e-6)
    else:
        assert np.array_equal(stats["var"], var.numpy())
    model = rae_mlx.load_model(tmp_path / "rae")
    assert np.allclose(np.asarray(model.latent_var), stats["var"])
    assert verify(tmp_path / "rae").relative < 1e-5


def test_written_files_are_standard_safetensors(tmp_path):
    from safetensors.torch import load_file

    sd = random_state(DIT)
    torch.save(sd, tmp_path / "m.pt")
    convert_file(tmp_path / "m.pt", tmp_path / "bf16", DIT, "torch", dtype="bfloat16")
    loaded = load_file(str(tmp_path / "bf16" / "model.safetensors"))  # the reference safetensors reader
    assert loaded["blocks.0.mlp.w12.weight"].dtype == torch.bfloat16
    assert torch.equal(loaded["blocks.0.mlp.w12.weight"], sd["blocks.0.mlp.w12.weight"].to(torch.bfloat16))
    assert loaded["t_embedder.W"].dtype == torch.float32 and torch.equal(loaded["t_embedder.W"], sd["t_embedder.W"])


def test_a_failed_write_leaves_the_previous_file_and_no_temp_files(tmp_path, monkeypatch):
    from rae_convert import safetensors_io

    target = tmp_path / "model.safetensors"
    safetensors_io.write(target, {"a": np.ones(3, np.float32)})
    before = target.read_bytes()

    class Boom(RuntimeError):
        pass

    def bad_replace(src, dst):
        raise Boom("disk full")

    monkeypatch.setattr("os.replace", bad_replace)
    with pytest.raises(Boom):
        safetensors_io.write(target, {"a": np.zeros(3, np.float32)})
    assert target.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


def test_hf_encoder_folder_converts_with_its_own_config(tmp_path):
    from safetensors.torch import save_file

    hf = tmp_path / "siglip"
    hf.mkdir()
    cfg = {"model_type": "siglip", "vision_config": {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                                                     "num_attention_heads": 2, "image_size": 32, "patch_size": 8,
                                                     "hidden_act": "gelu_pytorch_tanh"}}
    (hf / "config.json").write_text(json.dumps(cfg))
    (hf / "preprocessor_config.json").write_text(json.dumps({"image_mean": [0.5] * 3, "image_std": [0.5] * 3}))
    from rae_spec import expected_parameters

    tensors = {k: torch.randn(s) for k, s in expected_parameters(SIGLIP).items()}
    tensors["text_model.embeddings.token_embedding.weight"] = torch.zeros(4, 16)  # the text tower is dropped
    save_file(tensors, str(hf / "model.safetensors"))
    p = convert_file(hf, tmp_path / "out", direction="mlx")
    assert p.source.kind == "hf-folder" and p.config.image_mean == (0.5, 0.5, 0.5)
    assert dataclasses.replace(p.config, image_mean=SIGLIP.image_mean, image_std=SIGLIP.image_std) == SIGLIP
    out, _ = read(tmp_path / "out" / "model.safetensors")
    assert "text_model.embeddings.token_embedding.weight" not in out
    assert "vision_model.head.probe" not in out  # unused by RAE
    assert verify(tmp_path / "out").relative < 1e-5


def test_a_folder_written_by_diffusers_itself(tmp_path):
    """tests/fixtures/diffusers_rae: saved by diffusers 0.42.1's AutoencoderRAE.save_pretrained (see make.py),
    with the encoder tokens and decoder logits diffusers computed. Both backends must reproduce them."""
    import importlib.util

    import mlx.core as mx

    import rae_torch
    from tests.conftest import REPO

    fixture = REPO / "tests" / "fixtures" / "diffusers_rae"
    spec = importlib.util.spec_from_file_location("make_diffusers_rae", fixture / "make.py")
    make = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(make)
    inputs = make.inputs()
    expected, meta = read(fixture / "expected.safetensors")
    assert meta["diffusers"] == "0.42.1"
    p = convert_file(fixture, tmp_path / "rae", direction="torch->mlx")
    assert any("decoder_pos_embed" in n for n in p.source.notes)
    assert p.config.encoder.num_heads == 1 and p.config.encoder.image_size == 518 and p.config.decoder.patch_size == 2
    for model in (rae_mlx.load_model(tmp_path / "rae"), rae_torch.load_model(tmp_path / "rae")):
        arr = mx.array if isinstance(model, rae_mlx.RAE) else torch.from_numpy
        with torch.no_grad():
            tokens = model.encoder(model.preprocess(arr(inputs["images"])))
            logits = model.decoder(arr(inputs["decoder_input_tokens"]))
        assert np.allclose(np.asarray(tokens), expected["encoder_tokens"], atol=2e-5, rtol=1e-4)
        assert np.allclose(np.asarray(logits), expected["decoder_logits"], atol=2e-5, rtol=1e-4)
        assert np.allclose(np.asarray(model.latent_var), inputs["var"], rtol=1e-5, atol=1e-6)
