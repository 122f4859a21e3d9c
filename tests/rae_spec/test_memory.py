"""The memory estimate against what bench/memory.py measured (tests/fixtures/memory/xl-256-ag.json: the released
256-px autoguidance pipeline at full size, MLX 0.32 on the Linux CPU backend, one image, 2 grid points)."""

import json
from pathlib import Path

import pytest

from rae_spec import get_model
from rae_spec.memory import SETTINGS, Precision, largest_batch, sampling_memory

RECORD = json.loads((Path(__file__).parents[1] / "fixtures" / "memory" / "xl-256-ag.json").read_text())
DIT, GUIDE, DECODER = (get_model(n).config for n in ("dit-dh-xl-256", "dit-dh-s-256-guidance",
                                                     "decoder-dinov2-b-xl-256"))
ROWS = [r for r in RECORD["rows"] if r["cache"] != "cold" and "error" not in r["result"]]


def _measured(row, key):
    return {name: p[key] for name, p in row["result"]["phases"].items()}


def _estimate(row):
    backend = row["backend"]
    return sampling_memory(DIT, DECODER, GUIDE, SETTINGS[row["setting"]], row.get("batch", 1), row["low_memory"],
                           backend=backend)


def test_the_record_covers_every_setting_with_and_without_low_memory():
    seen = {(r["setting"], r["low_memory"]) for r in ROWS if r["backend"] == "mlx"}
    assert seen >= {(s, low) for s in SETTINGS for low in (False, True)}


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r['backend']}-{r['setting']}-low{r['low_memory']}-b"
                                                    f"{r.get('batch', 1)}")
def test_estimate_within_15_percent_of_the_measured_peak(row):
    key = "mlx_peak" if row["backend"] == "mlx" else "rss_peak"
    measured = _measured(row, key)
    est = _estimate(row)
    whole = max(measured.values())
    assert abs(est.peak - whole) <= 0.15 * whole, (est.summary(), measured)
    for name, value in measured.items():  # and each phase
        assert abs(est.phases[name] - value) <= 0.15 * value, (name, est.phases[name], value)


def test_largest_batch_grows_with_the_room():
    small = largest_batch(4e9, DIT, DECODER, GUIDE, Precision("bfloat16"), low_memory=True)
    large = largest_batch(8e9, DIT, DECODER, GUIDE, Precision("bfloat16"), low_memory=True)
    assert 1 <= small < large
