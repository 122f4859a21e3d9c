"""Unit tests of the training pieces: per-sample randomness, data order and preprocessing, LR schedules,
EMA, LPIPS / VGG16 layout, the DINO discriminator, DiffAug, GAN losses."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from PIL import Image  # noqa: E402

from rae_torch.train.config import OptimConfig, ScheduleConfig  # noqa: E402
from rae_torch.train.data import (  # noqa: E402
    GlobalOrderSampler,
    PartitionSampler,
    advance,
    center_crop_arr,
    resize_short_side,
)
from rae_torch.train.diffaug import diffaug  # noqa: E402
from rae_torch.train.discriminator import DinoBackbone, DiscHeads  # noqa: E402
from rae_torch.train.ema import EMA  # noqa: E402
from rae_torch.train.losses import adaptive_weight, generator_loss, hinge_d_loss  # noqa: E402
from rae_torch.train.lpips import LPIPS, build_lpips  # noqa: E402
from rae_torch.train.optim import LRSchedule, build_adamw  # noqa: E402
from rae_torch.train.randomness import (  # noqa: E402
    MASK64,
    mix_seed,
    normals,
    rng_state,
    seed_everything,
    set_rng_state,
    uniforms,
)

# ----------------------------------------------------------------------------------------- randomness


def splitmix64_reference(x: int) -> int:
    z = (x + 0x9E3779B97F4A7C15) & MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def test_uniforms_are_per_sample_and_well_spread():
    seeds = [mix_seed(0, 0, p) for p in range(4096)]
    u = uniforms(seeds, 4, 3)
    assert u.shape == (4096, 3) and u.min() >= 0 and u.max() < 1
    assert abs(u.mean() - 0.5) < 0.02 and abs(u.var() - 1 / 12) < 0.01
    assert abs(np.corrcoef(u[:, 0], u[:, 1])[0, 1]) < 0.05  # draws of one sample are not correlated
    np.testing.assert_array_equal(uniforms(seeds[7:9], 4, 3), u[7:9])  # a row does not depend on its batch
    assert not np.array_equal(uniforms(seeds, 5), u[:, :1])  # streams differ
    # The vectorized hash is splitmix64.
    x = 12345
    s = np.array([x], dtype=np.uint64)
    from rae_torch.train.randomness import _splitmix64_np

    assert int(_splitmix64_np(s)[0]) == splitmix64_reference(x)
    assert 0 <= mix_seed(1, 2, 3) < 2**63 and mix_seed(1, 2, 3) != mix_seed(1, 3, 2)


def test_normals_rows_do_not_depend_on_the_batch():
    seeds = [mix_seed(9, 0, p) for p in range(6)]
    a = normals(seeds, 6, (3, 2, 2), "cpu")
    b = normals(seeds[3:], 6, (3, 2, 2), "cpu")
    assert torch.equal(a[3:], b) and not torch.equal(a[0], a[1])


def test_rng_state_round_trips_through_weights_only_load(tmp_path):
    seed_everything(5)
    state = rng_state()
    torch.save(state, tmp_path / "rng.pt")
    expected = (np.random.rand(), torch.rand(3), __import__("random").random())
    set_rng_state(torch.load(tmp_path / "rng.pt", weights_only=True))
    got = (np.random.rand(), torch.rand(3), __import__("random").random())
    assert expected[0] == got[0] and torch.equal(expected[1], got[1]) and expected[2] == got[2]


# ----------------------------------------------------------------------------------------- data


def test_global_order_is_independent_of_world_size_and_resumable():
    n, B = 50, 8
    single = GlobalOrderSampler(n, B, seed=1)
    it = iter(single)
    steps = [[next(it) for _ in range(B)] for _ in range(12)]  # crosses an epoch (6 steps per epoch)
    assert len({i for i, _ in sum(steps[:6], [])}) == 48  # one epoch: distinct samples, 2 dropped
    for world in (2, 4):
        iters = [iter(GlobalOrderSampler(n, B, rank=r, world_size=world, seed=1)) for r in range(world)]
        for step in steps:
            got = sorted(x for it_r in iters for x in [next(it_r) for _ in range(B // world)])
            assert got == sorted(step)
    epoch, position = 0, 0
    for _ in range(7):
        epoch, position = advance(epoch, position, B, n)
    assert (epoch, position) == (1, 8)
    resumed = iter(GlobalOrderSampler(n, B, seed=1, epoch=epoch, position=position))
    assert [next(resumed) for _ in range(B)] == steps[7]


def test_partition_sampler_covers_each_item_once():
    parts = [list(PartitionSampler(11, r, 3)) for r in range(3)]
    assert sorted(i for p in parts for i, _ in p) == list(range(11))


def test_center_crop_and_resize_follow_the_reference_recipes():
    img = Image.fromarray(np.random.default_rng(0).integers(0, 255, (600, 900, 3), dtype=np.uint8))
    out = center_crop_arr(img, 256)
    assert out.size == (256, 256)
    # 600 >= 512: one BOX halving to 450x300, bicubic to round(450 * 256/300) = 384 x 256, center crop.
    manual = img.resize((450, 300), Image.BOX).resize((384, 256), Image.BICUBIC).crop((64, 0, 320, 256))
    assert np.array_equal(np.asarray(out), np.asarray(manual))
    r = resize_short_side(img, 384)
    assert r.size == (576, 384)  # torchvision Resize(384): short side 384, long int(384 * 900 / 600)


# ----------------------------------------------------------------------------------------- optim, EMA


def lrs(cfg: ScheduleConfig, steps: int, per_epoch: int = 10):
    opt = build_adamw([torch.nn.Parameter(torch.zeros(1))], OptimConfig(lr=2e-4), torch.device("cpu"))
    sched = LRSchedule(opt, cfg, per_epoch, 2e-4)
    out = []
    for _ in range(steps):
        out.append(opt.param_groups[0]["lr"])
        sched.step()
    return out


def test_stage2_linear_schedule():
    """Reference 6.2: constant base lr through warmup (no ramp), linear to final at decay end, then final."""
    lr = lrs(ScheduleConfig(type="linear", warmup_epochs=4, decay_end_epoch=8, final_lr=2e-5), 100)
    assert lr[0] == lr[39] == 2e-4
    assert lr[60] == pytest.approx(2e-4 - (2e-4 - 2e-5) * 0.5)
    assert lr[80] == lr[99] == pytest.approx(2e-5)


def test_stage1_cosine_schedule_warms_up_from_zero():
    lr = lrs(ScheduleConfig(type="cosine", warmup_epochs=1, decay_end_epoch=16, final_lr=2e-5,
                            warmup_from_zero=True), 200)
    assert lr[0] == pytest.approx(2e-4 / 10) and lr[9] == pytest.approx(2e-4)
    p = (85 - 10) / 150
    assert lr[85] == pytest.approx(2e-4 * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p))))
    assert lr[160] == lr[199] == pytest.approx(2e-5)


def test_ema_updates_every_parameter_like_the_reference():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2))
    model[0].bias.requires_grad_(False)  # a fixed table, as pos_embed: still averaged
    model.register_buffer("table", torch.arange(3.0))
    ema = EMA(model, 0.9)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
    ema.update()
    sd = ema.state_dict()
    for name, p in model.named_parameters():
        expected = before[name].clone().mul_(0.9).add_(p, alpha=0.1)
        assert torch.equal(sd[name], expected), name
    assert torch.equal(sd["table"], model.table) and list(sd) == list(model.state_dict())


# ----------------------------------------------------------------------------------------- LPIPS, discriminator


def test_vgg16_has_torchvisions_key_layout():
    keys = list(LPIPS().net.state_dict())
    convs = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    assert keys == [f"features.{i}.{w}" for i in convs for w in ("weight", "bias")]


def test_lpips_loads_weights_and_measures_distance():
    torch.manual_seed(0)
    ref = LPIPS()
    vgg = {f"features.{k}": v.clone() + 0.01 for k, v in ref.net.features.state_dict().items()}
    vgg["classifier.0.weight"] = torch.zeros(1)  # torchvision's full file: the head is ignored
    lin = {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1) for i, c in enumerate((64, 128, 256, 512, 512))}
    model = LPIPS().load_weights(vgg, lin)
    assert torch.equal(model.lin3.model[1].weight, lin["lin3.model.1.weight"])
    assert torch.equal(model.net.features[28].bias, vgg["features.28.bias"])
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert torch.all(model(x, x) == 0)
    d = model(x, x.flip(-1))
    assert d.shape == (2,) and torch.all(d > 0)
    random = build_lpips(random_init=True)
    assert all(random.state_dict()[f"lin{i}.model.1.weight"].min() >= 0 for i in range(5))


def test_dino_backbone_loads_a_timm_state_dict_and_taps_blocks():
    torch.manual_seed(0)
    src = DinoBackbone(embed_dim=32, depth=4, num_heads=2, patch_size=8, input_size=32, key_depths=(1, 3))
    state = {k: torch.randn_like(v) for k, v in src.state_dict().items()}
    state["head.weight"] = torch.zeros(1)  # classifier heads of DINO checkpoints are dropped
    backbone = DinoBackbone(embed_dim=32, depth=4, num_heads=2, patch_size=8, input_size=32,
                            key_depths=(1, 3)).load_weights(state)
    bias = backbone.blocks[0].attn.qkv.bias
    assert torch.all(bias[32:64] == 0) and torch.equal(bias[:32], state["blocks.0.attn.qkv.bias"][:32])
    maps = backbone(torch.rand(2, 3, 48, 48) * 2 - 1)  # resized to 32
    assert len(maps) == 3 and all(m.shape == (2, 32, 16) for m in maps)
    assert torch.equal(maps[0], maps[2])  # the last block feeds two heads, as in the reference
    heads = DiscHeads(32, 3, ks=3)
    assert heads(maps).shape == (2, 48)
    with pytest.raises(RuntimeError):
        backbone.load_weights({k: v for k, v in state.items() if k != "norm.weight"})


def test_diffaug_is_per_sample_and_keeps_range_semantics():
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    seeds = [mix_seed(0, i) for i in range(4)]
    assert torch.equal(diffaug(x, seeds, 9, prob=0.0), x)
    a = diffaug(x, seeds, 9)
    b = diffaug(x[2:], seeds[2:], 9)
    assert torch.equal(a[2:], b) and not torch.equal(a, x)
    # The transform of one sample, written out: integer shift with zero fill, then the colour jitter.
    u = uniforms([seeds[1]], 9, 10)[0, 3:]
    ty, tx = int(u[0] * 5) - 2, int(u[1] * 5) - 2
    moved = torch.zeros(3, 16, 16)
    for i in range(16):
        for j in range(16):
            if 0 <= i + ty < 16 and 0 <= j + tx < 16:
                moved[:, i, j] = x[1, :, i + ty, j + tx]
    c = moved + (u[2] - 0.5)
    c = (c - c.mean(0, keepdim=True)) * (2 * u[3]) + c.mean(0, keepdim=True)
    c = (c - c.mean()) * (u[4] + 0.5) + c.mean()
    torch.testing.assert_close(a[1], c, rtol=1e-5, atol=1e-6)
    cut = diffaug(torch.ones(8, 3, 16, 16), [mix_seed(1, i) for i in range(8)], 9, cutout=0.5)
    assert cut.shape == (8, 3, 16, 16)


def test_gan_losses_and_adaptive_weight():
    real, fake = torch.tensor([2.0, 0.5]), torch.tensor([-2.0, 0.5])
    assert hinge_d_loss(real, fake).item() == pytest.approx(0.5 * (0.25 + 0.75))
    assert generator_loss(fake).item() == pytest.approx(0.75)
    w = torch.nn.Parameter(torch.randn(3, 3))
    x = torch.randn(5, 3)
    rec, gan = (x @ w).pow(2).mean(), (x @ w).sum() * 0.1
    g_rec = torch.autograd.grad(rec, w, retain_graph=True)[0]
    g_gan = torch.autograd.grad(gan, w, retain_graph=True)[0]
    expected = g_rec.norm() / (g_gan.norm() + 1e-6)
    assert adaptive_weight(rec, gan, w).item() == pytest.approx(expected.item(), rel=1e-6)
    assert adaptive_weight(rec, gan, w, max_weight=0.01).item() == pytest.approx(0.01)
