"""RAE.decode in micro-batches equals one batch (the torch twin of tests/rae_mlx/test_memory.py)."""

import pytest

torch = pytest.importorskip("torch")

from rae_torch import RAE  # noqa: E402
from tests.twins import TINY_RAE  # noqa: E402

CONFIG = TINY_RAE


def test_micro_batched_decode_equals_one_batch():
    torch.manual_seed(0)
    rae = RAE(CONFIG, var=torch.full(CONFIG.latent_shape, 2.0)).eval()
    z = torch.randn(5, *CONFIG.latent_shape)
    with torch.no_grad():
        whole, parts = rae.decode(z), rae.decode(z, batch_size=2)
    assert whole.shape == (5, 3, 32, 32) and torch.allclose(whole, parts, atol=1e-5)
