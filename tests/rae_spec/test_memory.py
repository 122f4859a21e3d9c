"""The memory estimate against what bench/memory.py measured (tests/fixtures/memory/xl-256-ag.json: the released
256-px autoguidance pipeline at full size with random weights, MLX 0.32 on the Linux CPU backend and torch 2.13 on
the CPU, one image and 2 grid points; and a batch-4 run)."""

import json
from pathlib import Path

import pytest

from rae_spec import get_model
from rae_spec.memory import SETTINGS, Precision, largest_batch, sampling_memory

RECORD = json.loads((Path(__file__).parents[1] / "fixtures" / "memory" / "xl-256-ag.json").read_text())
DIT, GUIDE, DECODER = (get_model(n).config for n in ("dit-dh-xl-256", "dit-dh-s-256-guidance",
                                                     "decoder-dinov2-b-xl-256"))
# the runs of the normal code path (not the cold-cache conversions or the ablations)
ROWS = [r for r in RECORD["rows"] if (r["cache"] == "warm" or r["cache"] == f"b{r.get('batch', 1)}")
        and "error" not in r["result"]]


def _estimate(row):
    return sampling_memory(DIT, DECODER, GUIDE, SETTINGS[row["setting"]], row.get("batch", 1), row["low_memory"],
                           backend=row["backend"])


def test_the_record_covers_every_setting_with_and_without_low_memory():
    seen = {(r["backend"], r["setting"], r["low_memory"]) for r in ROWS}
    assert seen >= {("mlx", s, low) for s in SETTINGS for low in (False, True)}
    assert seen >= {("torch", s, low) for s in ("float32", "bfloat16", "float16") for low in (False, True)}
    assert any(r.get("batch", 1) > 1 for r in ROWS)


@pytest.mark.parametrize("row", ROWS, ids=lambda r: f"{r['backend']}-{r['setting']}-low{r['low_memory']}-b"
                                                    f"{r.get('batch', 1)}")
def test_estimate_within_15_percent_of_the_measured_peak(row):
    """The whole run's peak, and (MLX, whose allocator counts exactly what is held) each phase's."""
    key = "mlx_peak" if row["backend"] == "mlx" else "rss_peak"
    measured = {name: p[key] for name, p in row["result"]["phases"].items()}
    est = _estimate(row)
    whole = max(measured.values())
    assert abs(est.peak - whole) <= 0.15 * whole, (est.summary(), measured)
    if row["backend"] == "mlx":
        for name, value in measured.items():
            assert abs(est.phases[name] - value) <= 0.15 * value, (name, est.phases[name], value)


def test_largest_batch_grows_with_the_room():
    small = largest_batch(2.3e9, DIT, DECODER, GUIDE, Precision("bfloat16"), low_memory=True)
    large = largest_batch(3e9, DIT, DECODER, GUIDE, Precision("bfloat16"), low_memory=True)
    assert 1 <= small < large
    assert largest_batch(1e9, DIT, DECODER, GUIDE, Precision("bfloat16"), low_memory=True) == 1  # nothing fits: 1
