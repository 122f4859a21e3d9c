"""Shared settings of the rae_torch tests."""

import pytest

torch = pytest.importorskip("torch")


@pytest.fixture(autouse=True)
def one_thread():
    """The tiny models of these tests run fastest on one intra-op thread (OpenMP fork/join costs more than
    the work; on a 2-core runner it measured up to 20x slower), and one thread keeps CPU float results
    independent of the machine's core count."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
