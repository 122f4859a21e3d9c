"""Item 4 of issue 10: `rae sample-fid` of the digits-demo pipeline (N = 100, equal labels), then `rae eval` of
the batch against itself and against a batch from another seed, with a tiny random Inception."""

import numpy as np
import pytest

from rae_spec.inception import InceptionConfig, random_weights
from rae_spec.inception_graph import effective_weights

torch = pytest.importorskip("torch")


def test_sample_evaluate_digits_demo(rae, tmp_path):
    weights = tmp_path / "tiny-inception.pth"
    torch.save({k: torch.from_numpy(v) for k, v in effective_weights(random_weights(9, InceptionConfig(8)),
                                                                        False).items()}, weights)
    for seed in ("0", "1"):
        rae("sample-fid", "--preset", "digits-demo", "-n", "100", "--labels", "equal", "--seed", seed,
            "--steps", "10", "--batch-size", "50", "--shard-size", "50", "--backend", "torch", "-q",
            "--output", str(tmp_path / f"seed{seed}"))
    x, y = tmp_path / "seed0" / "samples.npz", tmp_path / "seed1" / "samples.npz"
    assert np.bincount(np.load(x)["arr_1"]).tolist() == [10] * 10

    def evaluate(ref, samples, *extra):
        out = {}
        result = rae("eval", str(ref), str(samples), "--inception", str(weights), "--backend", "torch", "-q", *extra)
        for line in result.stdout.splitlines():
            name, _, value = line.partition(": ")
            out[name] = float(value)
        return out

    same = evaluate(x, x)
    other = evaluate(x, y)
    assert abs(same["FID"]) <= 1e-6 and abs(same["sFID"]) <= 1e-6
    assert same["Precision"] == 1.0 and same["Recall"] == 1.0
    assert other["FID"] > 1e-3 and other["sFID"] > 1e-3 and other["Inception Score"] > 1.0
    assert 0.0 <= other["Precision"] <= 1.0 and 0.0 <= other["Recall"] <= 1.0
    assert evaluate(x, y, "--no-cache") == other  # stable across runs (and the cache changes nothing)
