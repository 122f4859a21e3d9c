"""The TensorFlow-verified evaluator fixture: everything is rebuilt from seeds (weights, images, statistics).

tools/verify_evaluator.py runs ADM's evaluator (TensorFlow) on exactly these files and writes what it
printed into tests/fixtures/adm_evaluator/expected.json; tests/apps/test_evaluate.py checks `rae eval`
against those numbers. Change anything here and the expected numbers must be regenerated with that tool.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rae_spec import npz
from rae_spec.inception import InceptionConfig, random_weights
from rae_spec.inception_graph import effective_weights, graph_from_weights

EXPECTED = Path(__file__).parent / "fixtures" / "adm_evaluator" / "expected.json"
WEIGHTS_SEED = 0
SCALE_AFTER_NORMALIZATION = False  # as the 2015 graph's batch norms (gamma is ignored)
REF = {"seed": 1, "n": 16, "size": (32, 32), "kinds": (0, 1, 2)}
SAMPLES = {"seed": 2, "n": 12, "size": (40, 48), "kinds": (0, 2, 2, 3)}
STATS_SEED = 3


def images(seed: int, n: int, size: tuple[int, int], kinds: tuple[int, ...]) -> np.ndarray:
    """(n, H, W, 3) uint8 test images of a few kinds: noise, gradients, squares on a flat colour, stripes."""
    rng = np.random.default_rng(seed)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    out = np.zeros((n, h, w, 3), dtype=np.float64)
    for i in range(n):
        kind = kinds[i % len(kinds)]
        if kind == 0:
            img = rng.uniform(0, 255, (h, w, 3))
        elif kind == 1:
            a, b = rng.uniform(0, 255, (2, 3))
            img = a + (b - a) * (yy / h)[..., None] + rng.normal(0, 12, (h, w, 3))
        elif kind == 2:
            img = np.broadcast_to(rng.uniform(0, 255, 3), (h, w, 3)).copy()
            y, x = rng.integers(0, h // 2), rng.integers(0, w // 2)
            img[y:y + h // 3, x:x + w // 3] = rng.uniform(0, 255, 3)
        else:
            period = rng.uniform(3, 9)
            img = 127.5 + 127.5 * np.sin(2 * np.pi * xx / period)[..., None] * rng.uniform(0.2, 1, 3)
        out[i] = img
    return np.clip(out, 0, 255).astype(np.uint8)


def reference_statistics(config: InceptionConfig) -> dict[str, np.ndarray]:
    """Precomputed mu / sigma / mu_s / sigma_s (valid covariances) as a reference batch carries them."""
    rng = np.random.default_rng(STATS_SEED)
    out = {}
    for suffix, dim in (("", config.features), ("_s", 17 * 17 * 7)):
        a = rng.normal(0, 0.3, (dim, 48))
        out[f"mu{suffix}"] = np.abs(rng.normal(0.4, 0.3, dim))
        out[f"sigma{suffix}"] = a @ a.T / 48
    return out


def distance_inputs() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Feature sets for ADM's DistanceBlock: "half" stays in float16 (squared norms of ~1,000, as pool_3's);
    "overflow" has norms past float16's range, so the block falls back to float32."""
    rng = np.random.default_rng(5)
    base = np.abs(rng.normal(0.4, 0.4, (1, 2048)))
    u = np.maximum(base + rng.normal(0, 0.4, (64, 2048)), 0).astype(np.float32)
    v = np.maximum(base + rng.normal(0, 0.4, (48, 2048)), 0).astype(np.float32)
    return {"half": (u, v), "overflow": (u, v * np.float32(12))}


def weights(config: InceptionConfig | None = None) -> dict[str, np.ndarray]:
    return random_weights(WEIGHTS_SEED, config)


def write_files(folder: Path, config: InceptionConfig | None = None, pth: bool = False) -> dict[str, Path]:
    """The graph (.pb, as classify_image_graph_def.pb), the batches (ref, ref with statistics, samples) and,
    with `pth`, the weights TensorFlow effectively uses as a torch-fidelity style .pth."""
    config = config or InceptionConfig()
    folder.mkdir(parents=True, exist_ok=True)
    w = weights(config)
    paths = {"pb": folder / "classify_image_graph_def.pb", "ref": folder / "ref.npz",
             "ref_stats": folder / "ref_stats.npz", "samples": folder / "samples.npz"}
    paths["pb"].write_bytes(graph_from_weights(w, SCALE_AFTER_NORMALIZATION))
    ref = images(REF["seed"], REF["n"], REF["size"], REF["kinds"])
    npz.write_npz(paths["ref"], [npz.whole("arr_0", ref)])
    npz.write_npz(paths["ref_stats"], [npz.whole("arr_0", ref)] +
                  [npz.whole(k, v) for k, v in reference_statistics(config).items()])
    npz.write_npz(paths["samples"], [npz.whole("arr_0", images(SAMPLES["seed"], SAMPLES["n"], SAMPLES["size"],
                                                                SAMPLES["kinds"]))])
    if pth:
        import torch

        paths["pth"] = folder / "weights-inception-random.pth"
        torch.save({k: torch.from_numpy(v) for k, v in effective_weights(w, SCALE_AFTER_NORMALIZATION).items()},
                   paths["pth"])
    return paths


def expected() -> dict:
    return json.loads(EXPECTED.read_text())
