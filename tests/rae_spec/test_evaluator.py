"""ADM's evaluator metrics in numpy: float16 distances bit for bit against TensorFlow's, and the metrics'
defining properties."""

import dataclasses

import numpy as np
import pytest

from rae_spec.evaluator import (
    Features,
    distance_block,
    half_squared_norms,
    inception_score,
    manifold_radii,
    precision_recall,
    statistics,
)
from tests import evaluation_fixture as fixture


@pytest.mark.parametrize("case", ["half", "overflow"])
def test_distances_match_tensorflow(case):
    """TensorFlow's DistanceBlock on a CPU (tools/verify_evaluator.py): float16 unless it overflows."""
    u, v = fixture.distance_inputs()[case]
    tf = np.load(fixture.EXPECTED.with_name("tf_features.npz"))[f"distances_{case}"]
    ours = distance_block(Features(u), (0, len(u)), Features(v), (0, len(v)))
    if case == "half":
        # float32 accumulation order in the matmul decides exact ties of half rounding (~1e-4 of entries)
        assert (ours == tf).mean() > 0.999
        assert np.all(np.abs(ours - tf) <= np.spacing(tf.astype(np.float16)).astype(np.float32))
    else:
        assert not np.isfinite(half_squared_norms(v)).all()
        np.testing.assert_allclose(ours, tf, rtol=1e-5)


def test_half_norms_are_not_float32_norms_rounded():
    """Eigen sums half values in half-precision packets: the result differs from a rounded exact sum."""
    u, _ = fixture.distance_inputs()["half"]
    exact = (u.astype(np.float16).astype(np.float64) ** 2).sum(1).astype(np.float16).astype(np.float32)
    assert (half_squared_norms(u) != exact).any()


def test_radii_are_the_kth_neighbour_and_blocks_do_not_matter(monkeypatch):
    from rae_spec import evaluator

    rng = np.random.default_rng(0)
    x = np.abs(rng.normal(0.5, 0.3, (50, 64))).astype(np.float32)
    f = Features(x)
    full = distance_block(f, (0, 50), f, (0, 50))
    radii = manifold_radii(f)
    np.testing.assert_array_equal(radii[:, 0], np.sort(full, axis=1)[:, 3])
    monkeypatch.setattr(evaluator, "BLOCK", 7)  # more blocks: same radii, same answers
    np.testing.assert_array_equal(manifold_radii(Features(x)), radii)


def test_precision_recall_properties():
    rng = np.random.default_rng(1)
    a = np.abs(rng.normal(0.5, 0.3, (40, 32))).astype(np.float32)
    assert precision_recall(a, a) == (1.0, 1.0)
    far = a + np.float32(10)
    assert precision_recall(a, far) == (0.0, 0.0)


def test_fid_and_inception_score_properties():
    rng = np.random.default_rng(2)
    a = rng.normal(0, 1, (300, 16)).astype(np.float32)
    assert abs(statistics(a).frechet_distance(statistics(a))) < 1e-6
    shifted = statistics(a + np.float32(1))
    assert statistics(a).frechet_distance(shifted) == pytest.approx(16.0, rel=1e-5)
    # the low-rank shortcuts (fewer images than dimensions) give the full eigenvalue path's trace (which takes
    # square roots of rounding-level eigenvalues of the singular product, hence 1e-6)
    few = rng.normal(0, 1, (12, 40)).astype(np.float32)
    full = [dataclasses.replace(statistics(x), centered=None) for x in (few, few[::-1] * 2)]
    exact = full[0].frechet_distance(full[1])
    assert statistics(few).frechet_distance(statistics(few[::-1] * 2)) == pytest.approx(exact, rel=1e-6)
    assert statistics(few).frechet_distance(full[1]) == pytest.approx(exact, rel=1e-6)
    uniform = inception_score(a, np.zeros((16, 10), dtype=np.float32))
    assert uniform == pytest.approx(1.0, rel=1e-5)  # float32 logs, as the evaluator
    # one-hot predictions spread evenly over 10 classes: IS = 10; splits of 5,000 are not shuffled
    onehot = np.repeat(np.eye(10, dtype=np.float32) * 100, 30, axis=0)
    assert inception_score(onehot, np.eye(10, dtype=np.float32)) == pytest.approx(10.0, rel=1e-4)
    halves = inception_score(np.concatenate([onehot[:150]] * 2), np.eye(10, dtype=np.float32), split_size=150)
    assert halves == pytest.approx(5.0, rel=1e-4)  # each split sees 5 classes
