"""The MLX DiTs against rae_torch with the same weights, including the flags the reference cannot run
(wo_shift, no RoPE, patch > 1) and LightningDiT, and their manifests at full size."""

import mlx.core as mx
import numpy as np
import pytest
from mlx.utils import tree_flatten
from rae_convert.layout import layout_plan

from rae_mlx import build_dit, build_model
from rae_spec import MODELS, DiTDHConfig, GuidanceConfig, LightningDiTConfig
from tests.twins import max_rel, mlx_twin, random_torch_model

BASE = dict(input_size=4, in_channels=8, num_classes=5)
CONFIGS = [
    DiTDHConfig(**BASE, hidden_size=(32, 48), depth=(1, 1), num_heads=(2, 3)),
    DiTDHConfig(**BASE, hidden_size=(32, 48), depth=(1, 1), num_heads=(2, 3), wo_shift=True),
    DiTDHConfig(**BASE, hidden_size=(32, 48), depth=(1, 1), num_heads=(2, 3), use_rope=False),
    DiTDHConfig(**BASE, hidden_size=(32, 48), depth=(1, 1), num_heads=(2, 3), patch_size=2),
    DiTDHConfig(**BASE, hidden_size=(32, 32), depth=(1, 1), num_heads=(2, 2), use_pos_embed=False),
    DiTDHConfig(**BASE, hidden_size=(32, 48), depth=(1, 1), num_heads=(2, 3), use_qknorm=True, use_rmsnorm=False,
                use_swiglu=False),
    LightningDiTConfig(**BASE, hidden_size=32, depth=2, num_heads=2),
    LightningDiTConfig(**BASE, hidden_size=32, depth=1, num_heads=2, learn_sigma=True, patch_size=2,
                       use_swiglu=False, use_rmsnorm=False, use_qknorm=True),
]
IDS = ["released", "wo_shift", "no_rope", "patch2", "equal_widths", "layernorm_qknorm_gelu", "lightning",
       "lightning_variant"]


@pytest.mark.parametrize("config", CONFIGS, ids=IDS)
def test_matches_torch_with_the_same_weights(config):
    torch = pytest.importorskip("torch")
    tmodel = random_torch_model(config)
    mmodel = mlx_twin(tmodel, config)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 8, 4, 4), dtype=np.float32)
    t, y = np.array([0.0, 0.5, 1.0], np.float32), np.array([0, 4, 2])
    with torch.no_grad():
        want = tmodel(torch.from_numpy(x), torch.from_numpy(t), torch.from_numpy(y)).numpy()
    got = np.asarray(mmodel(mx.array(x), mx.array(t), mx.array(y)))
    assert got.shape == want.shape and max_rel(got, want) < 2e-5


def test_guidance_entry_points_match_torch():
    torch = pytest.importorskip("torch")
    from rae_mlx.sampling import guided_velocity
    from rae_torch.sampling import guided_velocity as torch_guided

    config = CONFIGS[0]
    tmain, tguide = random_torch_model(config, 0), random_torch_model(config, 1)
    mmain, mguide = mlx_twin(tmain, config), mlx_twin(tguide, config)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((4, 8, 4, 4), dtype=np.float32)
    t = np.array([0.3, 0.95, 0.3, 0.95], np.float32)
    y = np.array([1, 2, 5, 5])
    T = {k: torch.from_numpy(v) for k, v in dict(x=x, t=t, y=y).items()}
    with torch.no_grad():
        want_cfg = tmain.forward_with_cfg(T["x"], T["t"], T["y"], 3.0, (0.0, 0.9)).numpy()
        want_ag = tmain.forward_with_autoguidance(T["x"], T["t"], T["y"], 1.5, tguide.forward, (0.1, 0.9)).numpy()
        want_eff = torch_guided(tmain, T["y"][:2], GuidanceConfig("cfg", 3.0, 0.0, 0.9))(T["x"][:2], T["t"][:2]).numpy()
    got_cfg = np.asarray(mmain.forward_with_cfg(mx.array(x), mx.array(t), mx.array(y), 3.0, (0.0, 0.9)))
    got_ag = np.asarray(mmain.forward_with_autoguidance(mx.array(x), mx.array(t), mx.array(y), 1.5, mguide, (0.1, 0.9)))
    got_eff = np.asarray(guided_velocity(mmain, mx.array(y[:2]), GuidanceConfig("cfg", 3.0, 0.0, 0.9))(
        mx.array(x[:2]), mx.array(t[:2])))
    assert max_rel(got_cfg, want_cfg) < 2e-5 and max_rel(got_ag, want_ag) < 2e-5 and max_rel(got_eff, want_eff) < 2e-5
    assert np.allclose(got_eff, got_cfg[:2], atol=1e-5)


@pytest.mark.parametrize("name", [n for n, p in MODELS.items() if p.kind != "stats"])
def test_full_size_module_matches_manifest(name):
    """Parameters are lazy in MLX: building a full-size model allocates nothing until evaluated."""
    config = MODELS[name].config
    module = build_model(config)
    got = {k: tuple(v.shape) for k, v in tree_flatten(module.parameters())}
    assert got == {k: e.mlx_shape for k, e in layout_plan(config).items()}


def test_label_dropout_only_in_training():
    model = build_dit(DiTDHConfig(**BASE, hidden_size=(32, 48), depth=(1, 1), num_heads=(2, 3),
                                  class_dropout_prob=0.5))
    emb = model.y_embedder
    table = emb.embedding_table.weight
    y = mx.zeros((2000,), dtype=mx.int32)
    dropped = mx.all(emb(y, train=True) == table[5], axis=-1).astype(mx.float32).mean().item()
    assert 0.4 < dropped < 0.6
    assert mx.array_equal(emb(y, train=False), table[y])
    forced = emb(mx.array([1, 2]), train=False, force_drop_ids=mx.array([1, 0]))
    assert mx.array_equal(forced[0], table[5]) and mx.array_equal(forced[1], table[2])


def test_velocity_keeps_the_input_dtype():
    model = build_dit(CONFIGS[0])
    x = mx.random.normal((2, 8, 4, 4))
    assert model(x, mx.array([0.1, 0.2]), mx.array([0, 1])).dtype == mx.float32


def test_fresh_model_predicts_zero_and_fixed_tables_are_frozen():
    model = build_dit(CONFIGS[0])
    out = model(mx.random.normal((2, 8, 4, 4)), mx.array([0.1, 0.7]), mx.array([1, 2]))
    assert not mx.any(out != 0).item()  # zero-initialized final layer, as in the reference
    trainable = {k for k, _ in tree_flatten(model.trainable_parameters())}
    assert "pos_embed" not in trainable and "t_embedder.W" not in trainable
    assert "enc_feat_rope.freqs_cos" not in trainable and "blocks.0.attn.qkv.weight" in trainable


def test_force_drop_ids_select_the_null_class():
    torch = pytest.importorskip("torch")
    config = CONFIGS[0]
    tmodel = random_torch_model(config)
    mmodel = mlx_twin(tmodel, config)
    x = np.random.default_rng(0).standard_normal((2, 8, 4, 4), dtype=np.float32)
    t, y, drop = np.array([0.2, 0.7], np.float32), np.array([1, 2]), np.array([1, 0])
    with torch.no_grad():
        want = tmodel(*(torch.from_numpy(a) for a in (x, t, y, drop))).numpy()
    got = np.asarray(mmodel(mx.array(x), mx.array(t), mx.array(y), mx.array(drop)))
    null = np.asarray(mmodel(mx.array(x), mx.array(t), mx.array([5, 2])))
    assert max_rel(got, want) < 2e-5 and np.allclose(got, null, atol=1e-5)
