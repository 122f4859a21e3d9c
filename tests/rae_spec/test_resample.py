"""The numpy resampling matrices reproduce torch's interpolate (the contract both backends rely on)."""

import numpy as np
import pytest

from rae_spec.resample import resize_grid_np

torch = pytest.importorskip("torch")
F = torch.nn.functional

MODES = {"bicubic": dict(mode="bicubic", align_corners=False),
         "bicubic_aa": dict(mode="bicubic", align_corners=False, antialias=True),
         "bilinear": dict(mode="bilinear", align_corners=False)}


@pytest.mark.parametrize("kind", sorted(MODES))
@pytest.mark.parametrize("sizes", [(256, 224), (80, 96), (37, 16), (37, 32), (14, 16), (4, 6), (9, 4), (16, 16)])
def test_matches_torch_interpolate(kind, sizes):
    src, dst = sizes
    x = torch.randn(1, 3, src, src + 1, generator=torch.Generator().manual_seed(src))
    ref = F.interpolate(x, size=(dst, dst + 2), **MODES[kind]).numpy()
    ours = resize_grid_np(x.numpy(), (dst, dst + 2), kind)
    np.testing.assert_allclose(ours, ref, atol=4e-6, rtol=2e-6)
