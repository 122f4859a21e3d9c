"""`rae sample-fid`: the set of images is a function of the plan alone; the packed npz is byte-identical
whatever the split (one process, --shard i/n, torchrun ranks) or an interruption and resume."""

import json
import zipfile

import numpy as np
import pytest

from rae_spec.noise import per_sample_noise

pytest.importorskip("torch")

FAST = ("--preset", "digits-demo", "--steps", "3", "--guidance", "none", "--backend", "torch", "-q")


def sample_fid(rae, out, *args, ok=True):
    return rae("sample-fid", *FAST, "--output", str(out), *args, ok=ok)


def test_per_sample_noise_ignores_grouping():
    a, rng_a = per_sample_noise(7, [3, 4, 5], (2, 3, 3))
    b, rng_b = per_sample_noise(7, [5, 3], (2, 3, 3))
    np.testing.assert_array_equal(a[2], b[0])
    np.testing.assert_array_equal(a[0], b[1])
    np.testing.assert_array_equal(rng_a.standard_normal((3, 2, 3, 3))[2], rng_b.standard_normal((2, 2, 3, 3))[0])
    np.testing.assert_array_equal(a[0], np.random.default_rng([0, 7, 3]).standard_normal((2, 3, 3), np.float32))


def test_split_interrupt_and_torchrun_give_the_same_bytes(rae, monkeypatch, tmp_path):
    args = ("-n", "20", "--shard-size", "5", "--batch-size", "3")
    one = sample_fid(rae, tmp_path / "one", *args)
    reference = (tmp_path / "one" / "samples.npz").read_bytes()
    assert one.stdout.strip().endswith("samples.npz")

    # two machines: nothing is packed until every shard exists, then the last one packs
    first = sample_fid(rae, tmp_path / "split", *args, "--shard", "1/2")
    assert "samples.npz is packed when the others are made" in first.stderr
    assert not (tmp_path / "split" / "samples.npz").exists()
    sample_fid(rae, tmp_path / "split", *args, "--shard", "0/2")
    assert (tmp_path / "split" / "samples.npz").read_bytes() == reference

    # torchrun: rank r of w takes shards k % w == r
    for rank in (1, 0):
        monkeypatch.setenv("WORLD_SIZE", "2")
        monkeypatch.setenv("RANK", str(rank))
        sample_fid(rae, tmp_path / "ranks", *args)
    assert (tmp_path / "ranks" / "samples.npz").read_bytes() == reference
    monkeypatch.delenv("WORLD_SIZE")
    monkeypatch.delenv("RANK")

    # Ctrl-C after the first shard, then the same command again
    from rae_apps import sample_fid as module

    real_write = module.write_shard
    calls = []

    def interrupt_after_one(*a, **k):
        if calls:
            raise KeyboardInterrupt
        calls.append(1)
        real_write(*a, **k)

    monkeypatch.setattr(module, "write_shard", interrupt_after_one)
    stopped = sample_fid(rae, tmp_path / "resumed", *args, ok=False)
    assert stopped.exit_code == 130
    assert sorted(p.name for p in (tmp_path / "resumed" / "shards").iterdir()) == ["shard-00000.npz"]
    monkeypatch.setattr(module, "write_shard", real_write)
    resumed = sample_fid(rae, tmp_path / "resumed", *args)
    assert "resuming: 1 of 4 shards exist" in resumed.stderr
    assert (tmp_path / "resumed" / "samples.npz").read_bytes() == reference
    again = sample_fid(rae, tmp_path / "resumed", *args)
    assert "is complete" in again.stderr


def test_equal_labels_and_adms_format(rae, tmp_path):
    out = tmp_path / "fid"
    sample_fid(rae, out, "-n", "30", "--shard-size", "8", "--batch-size", "8", "--png")
    labels = np.load(out / "labels.npy")
    assert np.bincount(labels, minlength=10).tolist() == [3] * 10
    assert labels[:10].tolist() != sorted(labels[:10].tolist())  # a seeded shuffle, not class blocks
    with zipfile.ZipFile(out / "samples.npz") as z:
        assert z.namelist() == ["arr_0.npy", "arr_1.npy"]
    with np.load(out / "samples.npz") as f:
        assert f["arr_0"].shape == (30, 32, 32, 3) and f["arr_0"].dtype == np.uint8
        np.testing.assert_array_equal(f["arr_1"], labels)
        assert f["arr_0"].std() > 10
        from PIL import Image

        np.testing.assert_array_equal(np.asarray(Image.open(out / "png" / "000017.png")), f["arr_0"][17])
    plan = json.loads((out / "plan.json").read_text())
    assert plan["plan"]["labels"] == {"mode": "equal", "per_class": 3,
                                      "sha256": plan["plan"]["labels"]["sha256"]}
    assert len(plan["plan_sha256"]) == 64 and plan["plan"]["files"]["dit"]
    record = json.loads((out / "samples.json").read_text())
    assert record["plan_sha256"] == plan["plan_sha256"] and record["made_by"][0]["backend"] == "torch"


def test_another_plan_and_bad_labels_are_refused(rae, tmp_path):
    out = tmp_path / "fid"
    sample_fid(rae, out, "-n", "10", "--shard-size", "10")
    other = sample_fid(rae, out, "-n", "10", "--shard-size", "10", "--seed", "1", ok=False)
    assert other.exit_code == 2 and "holds another plan (it differs in: labels, seed)" in other.stderr
    uneven = sample_fid(rae, tmp_path / "x", "-n", "25", ok=False)
    assert uneven.exit_code == 2 and "divisible by the 10 classes" in uneven.stderr
    np.save(tmp_path / "few.npy", np.arange(5))
    short = sample_fid(rae, tmp_path / "y", "-n", "10", "--labels", str(tmp_path / "few.npy"), ok=False)
    assert short.exit_code == 2 and "must hold 10 integer class ids" in short.stderr
    np.save(tmp_path / "mine.npy", np.array([9] * 10))
    sample_fid(rae, tmp_path / "z", "-n", "10", "--labels", str(tmp_path / "mine.npy"))
    assert (np.load(tmp_path / "z" / "labels.npy") == 9).all()
    bad_shard = sample_fid(rae, tmp_path / "w", "-n", "10", "--shard", "2/2", ok=False)
    assert bad_shard.exit_code == 2 and "0 <= I < N" in bad_shard.stderr
