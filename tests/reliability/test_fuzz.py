"""Seeded byte mutations of a valid .pt, safetensors, YAML and PNG, each read by the `rae` CLI in-process
(item 7 of issue 9): every one ends in a clean result or a one-line error with exit 2; never a traceback,
a hang over 5 s, more than 1 GB, or exit 0 without a sound image (the CLI stops on NaN / Inf itself)."""

import numpy as np

from .cases import fuzz

MUTATIONS = 320  # 80 per format


def test_fuzz(ctx, env):
    rng = np.random.default_rng(2024)
    bad = []
    tally = {"ok": 0, "refused": 0, "other": 0}
    for case in fuzz(ctx, rng, MUTATIONS):
        outcome = case.run()
        tally[outcome.kind] += 1
        if outcome.kind == "other":
            bad.append(f"{case.name}: {outcome.why()}")
    assert not bad, f"{len(bad)} of {MUTATIONS} mutations misbehaved ({tally}):\n" + "\n".join(bad[:10])
    assert tally["refused"] > MUTATIONS // 4  # the mutations do reach the parsers
