"""The app's time estimate: a fixed cost per step plus a cost per row, calibrated from finished jobs."""

import json

import pytest
from rae_apps.estimate import MAX_SIZES, Timing, TimingStore, work_batches


def machine(rows: int) -> float:
    """A step that costs 2 s whatever the batch, plus 0.5 s per row (a GPU reading its weights once)."""
    return 2.0 + 0.5 * rows


def test_two_measured_batch_sizes_give_the_line_through_them():
    t = Timing({1: machine(1), 4: machine(4)}, decode_per_image=0.25)
    for rows in (1, 2, 3, 4, 8, 16):
        assert t.step(rows) == pytest.approx(machine(rows))
    # eight images in one batch cost far less than eight batches of one (the old estimate said the same)
    assert t.seconds([8], steps=10) == pytest.approx(10 * 6.0 + 8 * 0.25)
    assert t.seconds([1] * 8, steps=10) == pytest.approx(8 * (10 * 2.5 + 0.25))


def test_one_measurement_gives_an_upper_bound_both_ways():
    t = Timing({2: machine(2)}, decode_per_image=0.0)
    assert t.step(2) == machine(2)
    for rows in (1, 3, 8):
        assert t.step(rows) >= machine(rows)
    assert t.step(1) == machine(2) and t.step(8) == machine(2) * 4


def test_noisy_measurements_never_give_a_cheaper_larger_batch_or_a_negative_time():
    t = Timing({2: 3.0, 4: 2.9}, decode_per_image=0.0)  # the larger batch measured faster: noise
    assert t.step(8) >= t.step(4) and t.step(8) <= 2.9 * 2
    t = Timing({4: 1.0, 8: 8.0}, decode_per_image=0.0)  # the line would go below zero at one row
    assert 1.0 / 4 <= t.step(1) <= 1.0


def test_work_batches_are_the_plans_chunks():
    from rae_apps.plan import chunks, generation_order

    for per_seed, seeds, batch in ((5, 2, 2), (3, 1, 8), (8, 3, 4), (1, 1, 1)):
        items = generation_order(range(seeds), list(range(per_seed)), 1)
        assert work_batches(per_seed, seeds, batch) == [len(c) for c in chunks(items, batch)]
    assert work_batches(5, 2, 2) == [2, 2, 1, 2, 2, 1] and work_batches(3, 1, 8) == [3]  # never across seeds


def test_the_store_merges_batch_sizes_and_ignores_what_it_did_not_write(tmp_path):
    path = tmp_path / "timing.json"
    store = TimingStore(path)
    key = TimingStore.key("p", "mlx", "float32", None)
    store.put(key, Timing({1: 2.5}, 0.25))
    store.put(key, Timing({4: 4.0}, 0.5))
    again = TimingStore(path).get(key)  # a new process reads what the last one measured
    assert again == Timing({1: 2.5, 4: 4.0}, 0.5)
    store.put(key, Timing({1: 3.0}, 0.5))  # a size measured again replaces the old figure
    assert store.get(key).step_seconds == {1: 3.0, 4: 4.0}
    for b in range(10, 30):
        store.put(key, Timing({b: 1.0}, 0.5))
    assert len(store.get(key).step_seconds) == MAX_SIZES
    path.write_text(json.dumps({key: {"step_per_row": 1.0, "decode_per_image": 0.1},  # an older format
                                "k2": {"step_seconds": {"1": "nan"}, "decode_per_image": 0.1}}))
    assert TimingStore(path).get(key) is None and TimingStore(path).get("k2") is None
