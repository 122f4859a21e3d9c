"""Cases that store only some states of a trajectory (`<name>_subset` + the index array their call's
`outputs` names): the harness compares exactly those states."""

import dataclasses

import numpy as np
import pytest

from ..conftest import BUNDLED_REFERENCE
from .cases import load_case
from .test_parity import RESULTS, check_case, stored


@pytest.fixture(scope="module")
def subset():
    return load_case(BUNDLED_REFERENCE / "transport_euler7_subset")


def test_the_subset_case_holds_reference_states_at_its_indices(subset):
    full = load_case(BUNDLED_REFERENCE / "transport_euler7")
    indices = subset.io[subset.subset_indices("euler.none.output.trajectory")]
    assert list(indices) == [0, 3, 6] and indices.dtype == np.int64
    for mode in ("none", "cfg", "ag"):
        key, where = stored(subset, f"euler.{mode}.output.trajectory")
        assert key.endswith("trajectory_subset") and np.array_equal(where, indices)
        assert np.array_equal(subset.io[key], full.io[f"euler.{mode}.output.trajectory"][indices])


def test_a_wrong_stored_state_fails(subset):
    torch = pytest.importorskip("torch")
    from .torch_runner import TorchRunner

    io = dict(subset.io)
    bad = io["euler.cfg.output.trajectory_subset"].copy()
    bad[1] += 1e-2  # state 3 of the cfg run
    io["euler.cfg.output.trajectory_subset"] = bad
    reported, threads = len(RESULTS), torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: thread hand-offs cost more than they give
    try:
        with pytest.raises(AssertionError, match=r"trajectory_subset: value: max abs err 0.01 .* 5184 of 15552"):
            check_case(dataclasses.replace(subset, io=io), TorchRunner())  # (test_parity runs it unchanged)
    finally:
        del RESULTS[reported:]  # the summary reports real cases only
        torch.set_num_threads(threads)
