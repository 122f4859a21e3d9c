"""DiT^DH / LightningDiT flags the reference cannot run (wo_shift, no RoPE, patch > 1) and the
training-time behaviours (init, label dropout)."""

import pytest

torch = pytest.importorskip("torch")

from rae_spec import DiTDHConfig, LightningDiTConfig, model_parameters  # noqa: E402
from rae_torch import build_dit  # noqa: E402

BASE = dict(input_size=4, in_channels=8, num_classes=5)


@pytest.mark.parametrize("config", [
    DiTDHConfig(**BASE, hidden_size=(32, 48), depth=(1, 1), num_heads=(2, 3)),
    DiTDHConfig(**BASE, hidden_size=(32, 48), depth=(1, 1), num_heads=(2, 3), wo_shift=True),
    DiTDHConfig(**BASE, hidden_size=(32, 48), depth=(1, 1), num_heads=(2, 3), use_rope=False),
    DiTDHConfig(**BASE, hidden_size=(32, 48), depth=(1, 1), num_heads=(2, 3), patch_size=2),
    DiTDHConfig(**BASE, hidden_size=(32, 32), depth=(1, 1), num_heads=(2, 2), use_pos_embed=False),
    LightningDiTConfig(**BASE, hidden_size=32, depth=2, num_heads=2),
    LightningDiTConfig(**BASE, hidden_size=32, depth=1, num_heads=2, learn_sigma=True, patch_size=2,
                       use_swiglu=False, use_rmsnorm=False, use_qknorm=True),
], ids=["released", "wo_shift", "no_rope", "patch2", "equal_widths", "lightning", "lightning_variant"])
def test_forward_shapes_and_manifest(config):
    torch.manual_seed(0)
    model = build_dit(config)
    assert {k: tuple(v.shape) for k, v in model.state_dict().items()} == model_parameters(config)
    for p in model.parameters():  # randomize the zero-initialized layers so the output depends on all
        torch.nn.init.normal_(p, std=0.2)
    x, t, y = torch.randn(3, 8, 4, 4), torch.rand(3), torch.tensor([0, 4, 2])
    out = model(x, t, y)
    assert out.shape == x.shape and torch.isfinite(out).all()
    out.sum().backward()
    trainable = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not trainable, f"parameters without gradient: {trainable}"


def test_fresh_model_predicts_zero_and_fixed_tables_are_frozen():
    model = build_dit(DiTDHConfig(**BASE, hidden_size=(32, 48), depth=(1, 1), num_heads=(2, 3)))
    out = model(torch.randn(2, 8, 4, 4), torch.rand(2), torch.tensor([1, 2]))
    assert torch.count_nonzero(out) == 0  # zero-initialized final layer, as in the reference
    assert not model.pos_embed.requires_grad and not model.t_embedder.W.requires_grad


def test_label_dropout_only_in_training():
    model = build_dit(DiTDHConfig(**BASE, hidden_size=(32, 48), depth=(1, 1), num_heads=(2, 3),
                                  class_dropout_prob=0.5))
    emb = model.y_embedder
    y = torch.zeros(2000, dtype=torch.long)
    dropped = (emb(y, train=True) == emb.embedding_table.weight[5]).all(-1).float().mean()
    assert 0.4 < dropped < 0.6
    assert torch.equal(emb(y, train=False), emb.embedding_table.weight[y])
    forced = emb(torch.tensor([1, 2]), train=False, force_drop_ids=torch.tensor([1, 0]))
    table = emb.embedding_table.weight
    assert torch.equal(forced[0], table[5]) and torch.equal(forced[1], table[2])


@pytest.mark.parametrize("dtype, tol", [(torch.bfloat16, 0.1), (torch.float16, 0.02)])
def test_half_precision_models_take_float32_latents(dtype, tol):
    torch.manual_seed(0)
    model = build_dit(DiTDHConfig(**BASE, hidden_size=(32, 48), depth=(2, 1), num_heads=(2, 3)))
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.1)
    x, t, y = torch.randn(2, 8, 4, 4), torch.tensor([0.3, 0.9]), torch.tensor([1, 3])
    ref = model(x, t, y)
    half = model.to(dtype)(x, t, y)
    assert half.dtype == torch.float32
    assert (half - ref).abs().max() / ref.abs().max() < tol
