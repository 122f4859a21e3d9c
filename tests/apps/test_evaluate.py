"""`rae eval`: ADM's evaluator ported, checked against TensorFlow's own numbers (tools/verify_evaluator.py) on
random-weight graphs rebuilt from their seed, on torch and MLX, through both weight formats."""

import json
import os

import numpy as np
import pytest

from rae_spec import npz
from rae_spec.inception import InceptionConfig, random_weights
from rae_spec.inception_graph import effective_weights, graph_from_weights
from tests import evaluation_fixture as fixture

torch = pytest.importorskip("torch")

TINY = InceptionConfig(channel_divisor=8)


def has_mlx() -> bool:
    try:
        import mlx.core  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture
def two_threads():
    """The real-size network gains from both cores (the apps tests default to one thread)."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """The TensorFlow-verified fixture files: the real architecture, random weights from the seed."""
    return fixture.write_files(tmp_path_factory.mktemp("adm"))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """A tiny network (1/8 of every width) as .pb and .pth, and batches of 24 reference / 20 sample images."""
    folder = tmp_path_factory.mktemp("tiny")
    w = random_weights(7, TINY)
    paths = {"pb": folder / "tiny.pb", "pth": folder / "tiny.pth", "ref": folder / "ref.npz",
             "samples": folder / "samples.npz"}
    paths["pb"].write_bytes(graph_from_weights(w))
    torch.save({k: torch.from_numpy(v) for k, v in effective_weights(w, False).items()}, paths["pth"])
    npz.write_npz(paths["ref"], [npz.whole("arr_0", fixture.images(11, 24, (24, 24), (0, 1, 2, 3)))])
    npz.write_npz(paths["samples"], [npz.whole("arr_0", fixture.images(12, 20, (32, 32), (1, 2, 2, 3)))])
    return paths


def fails(rae, *args):
    result = rae(*args, ok=False)
    assert result.exit_code == 2, result.stderr
    return result


def metrics(result) -> dict[str, float]:
    names = {"Inception Score": "inception_score", "FID": "fid", "sFID": "sfid", "Precision": "precision",
             "Recall": "recall"}
    out = {}
    for line in result.stdout.splitlines():
        name, _, value = line.partition(": ")
        out[names[name]] = float(value)
    assert list(out) == list(names.values())  # ADM's lines, in ADM's order
    return out


def test_matches_adms_evaluator_on_tensorflow(rae, full, two_threads):
    expected = fixture.expected()["results"]
    result = rae("eval", str(full["ref"]), str(full["samples"]), "--inception", str(full["pb"]), "--backend", "torch",
                 "-q", "--json", "report.json")
    ours = metrics(result)
    # FID / sFID: the traces of sqrtm agree to 1e-15 for full-rank statistics; these batches have fewer images
    # than dimensions, where scipy's sqrtm (the evaluator's) adds rounding-level terms: 1.1e-5 measured
    tolerance = {"fid": 3e-5, "sfid": 3e-5, "inception_score": 2e-6, "precision": 0, "recall": 0}
    for key, want in expected["ref"].items():
        assert ours[key] == pytest.approx(want, rel=tolerance[key], abs=0), key

    # the activations (cached next to the batches) are TensorFlow's to float error
    from rae_apps.evaluate import activations, read_stats
    from rae_apps.inception_weights import load_inception

    from rae_spec.evaluator import evaluate

    weights = load_inception(full["pb"])
    tf = np.load(fixture.EXPECTED.with_name("tf_features.npz"))
    acts = {}
    for role in ("ref", "samples"):
        acts[role] = activations(full[role], None, weights, 64, quiet=True)  # from the cache: no extractor needed
        for i, kind in enumerate(("pool", "spatial")):
            want = tf[f"{role}_{kind}"]
            assert np.abs(acts[role][i][: len(want)] - want).max() <= 1e-5 * np.abs(want).max()
    # a reference batch with precomputed mu / sigma: FID and sFID use them, precision and recall its images
    with_stats = evaluate(*acts["ref"], *acts["samples"], weights.classifier, read_stats(full["ref_stats"]))
    for key, want in expected["ref_stats"].items():
        assert with_stats.as_dict()[key] == pytest.approx(want, rel=tolerance[key], abs=0), key

    report = json.loads(open("report.json").read())
    assert report["fid"] == ours["fid"] and report["inception"]["format"] == "pb"
    assert report["reference"]["images"] == 16 and report["samples"]["size"] == [40, 48]
    assert len(report["inception"]["sha256"]) == 64 and report["reference"]["fid_statistics"] == "its images"


@pytest.mark.skipif(not has_mlx(), reason="MLX is not installed")
def test_mlx_features_match_tensorflow(full):
    import mlx.core as mx
    from rae_apps.inception_weights import load_inception

    from rae_mlx.inception import InceptionV3

    model = InceptionV3.from_weights(load_inception(full["pb"]).weights)
    tf = np.load(fixture.EXPECTED.with_name("tf_features.npz"))
    with npz.open_array(full["ref"]) as arr:
        images = next(arr.batches(len(tf["ref_pool"])))
    pool, spatial = model(mx.array(images))
    for ours, want in ((np.array(pool), tf["ref_pool"]), (np.array(spatial), tf["ref_spatial"])):
        assert np.abs(ours - want).max() <= 1e-5 * np.abs(want).max()


def test_pb_and_pth_hold_the_same_network(tiny):
    from rae_apps.inception_weights import load_inception

    from rae_torch.inception import InceptionV3

    pb, pth = load_inception(tiny["pb"]), load_inception(tiny["pth"])
    assert (pb.format, pth.format) == ("pb", "pth") and pb.config == pth.config == TINY
    assert set(pb.weights) == set(pth.weights)
    for k in pb.weights:
        np.testing.assert_array_equal(pb.weights[k], pth.weights[k], err_msg=k)
    images = torch.from_numpy(fixture.images(3, 3, (20, 28), (0, 1, 2)))
    with torch.inference_mode():
        a, b = InceptionV3.from_weights(pb.weights)(images), InceptionV3.from_weights(pth.weights)(images)
    assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))


@pytest.mark.skipif(not has_mlx(), reason="MLX is not installed")
def test_torch_and_mlx_agree(rae, tiny):
    runs = {b: metrics(rae("eval", str(tiny["ref"]), str(tiny["samples"]), "--inception", str(tiny["pth"]),
                           "--backend", b, "--no-cache", "-q")) for b in ("torch", "mlx")}
    for key in ("inception_score", "fid", "sfid"):
        assert runs["mlx"][key] == pytest.approx(runs["torch"][key], rel=1e-4), key
    for key in ("precision", "recall"):  # float16 distances: at most one borderline sample may flip
        assert abs(runs["mlx"][key] - runs["torch"][key]) <= 1 / 20 + 1e-12, key


def test_cache_is_keyed_by_batch_and_weights(rae, tiny, tmp_path):
    first = rae("eval", str(tiny["ref"]), str(tiny["samples"]), "--inception", str(tiny["pb"]), "--backend", "torch")
    assert "cached" not in first.stderr and "reference batch activations" in first.stderr
    again = rae("eval", str(tiny["ref"]), str(tiny["samples"]), "--inception", str(tiny["pb"]), "--backend", "torch")
    assert again.stderr.count("cached") == 2 and again.stdout == first.stdout
    other = tmp_path / "other.pb"
    other.write_bytes(graph_from_weights(random_weights(8, TINY)))
    third = rae("eval", str(tiny["ref"]), str(tiny["samples"]), "--inception", str(other), "--backend", "torch")
    assert "cached" not in third.stderr and third.stdout != first.stdout


def test_precomputed_statistics_are_used(rae, tiny, tmp_path):
    with npz.open_array(tiny["ref"]) as arr:
        images = next(arr.batches(arr.shape[0]))
    stats = fixture.reference_statistics(TINY)
    path = tmp_path / "ref_stats.npz"
    npz.write_npz(path, [npz.whole("arr_0", images)] + [npz.whole(k, v) for k, v in stats.items()])
    plain = metrics(rae("eval", str(tiny["ref"]), str(tiny["samples"]), "--inception", str(tiny["pb"]), "-q",
                        "--backend", "torch"))
    with_stats = metrics(rae("eval", str(path), str(tiny["samples"]), "--inception", str(tiny["pb"]), "-q",
                             "--backend", "torch"))
    assert with_stats["fid"] != plain["fid"] and with_stats["sfid"] != plain["sfid"]
    assert {k: with_stats[k] for k in ("precision", "recall", "inception_score")} == \
        {k: plain[k] for k in ("precision", "recall", "inception_score")}
    partial = tmp_path / "partial.npz"
    npz.write_npz(partial, [npz.whole("arr_0", images), npz.whole("mu", stats["mu"])])
    bad = fails(rae, "eval", str(partial), str(tiny["samples"]), "--inception", str(tiny["pb"]))
    assert "not all of mu, sigma, mu_s, sigma_s" in bad.stderr


def test_input_errors_are_one_line(rae, tiny, tmp_path, monkeypatch):
    monkeypatch.delenv("RAE_INCEPTION", raising=False)
    missing = fails(rae, "eval", str(tiny["ref"]), str(tiny["samples"]))
    for text in ("classify_image_graph_def.pb", "weights-inception-2015-12-05-6726825d.pth",
                 "openaipublic.blob.core.windows.net", "github.com/toshas/torch-fidelity", "never downloads"):
        assert text in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    gone = fails(rae, "eval", str(tiny["ref"]), str(tiny["samples"]), "--inception", str(tmp_path / "nope.pb"))
    assert "nope.pb does not exist" in gone.stderr and "torch-fidelity" in gone.stderr
    junk = tmp_path / "junk.pb"
    junk.write_bytes(os.urandom(1000))
    assert "error:" in fails(rae, "eval", str(tiny["ref"]), str(tiny["samples"]), "--inception", str(junk)).stderr
    no_arr = tmp_path / "labels.npz"
    npz.write_npz(no_arr, [npz.whole("arr_1", np.zeros(3, np.int64))])
    err = fails(rae, "eval", str(no_arr), str(tiny["samples"]), "--inception", str(tiny["pb"])).stderr
    assert "has no array 'arr_0'" in err
    flat = tmp_path / "flat.npz"
    npz.write_npz(flat, [npz.whole("arr_0", np.zeros((4, 8, 8), np.uint8))])
    err = fails(rae, "eval", str(flat), str(tiny["samples"]), "--inception", str(tiny["pb"])).stderr
    assert "(N, H, W, 3)" in err
