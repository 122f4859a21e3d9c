"""RAE.decode in micro-batches equals one batch (the torch twin of tests/rae_mlx/test_memory.py)."""

import pytest

torch = pytest.importorskip("torch")

from rae_spec import DecoderConfig, EncoderConfig, RAEConfig  # noqa: E402
from rae_torch import RAE  # noqa: E402

CONFIG = RAEConfig(encoder=EncoderConfig(hidden_size=16, num_layers=1, num_heads=2, intermediate_size=32,
                                         image_size=56),
                   decoder=DecoderConfig(hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64,
                                         latent_dim=16, num_patches=16, patch_size=8),
                   encoder_input_size=56)


def test_micro_batched_decode_equals_one_batch():
    torch.manual_seed(0)
    rae = RAE(CONFIG, var=torch.full(CONFIG.latent_shape, 2.0)).eval()
    z = torch.randn(5, *CONFIG.latent_shape)
    with torch.no_grad():
        whole, parts = rae.decode(z), rae.decode(z, batch_size=2)
    assert whole.shape == (5, 3, 32, 32) and torch.allclose(whole, parts, atol=1e-5)
