"""No garbage with exit 0 (item 3 of issue 9)."""

import numpy as np
import pytest
from rae_convert.verify import VerifyError, VerifyReport

from .cases import GARBAGE_KINDS, garbage
from .conftest import check, pick

ALLOWED = {"NaN in record": ("ok", "refused"), "16-bit PNG": ("ok",), "overflow --allow-nonfinite": ("ok",)}


@pytest.mark.parametrize("kind", GARBAGE_KINDS)
def test_garbage_is_refused(ctx, env, kind):
    """NaN / Inf / integer / float64 weights (.pt and safetensors, torch and MLX: the error names the
    tensor), non-finite --scale, non-finite values in a replayed record (refused, or replayed exactly when
    the field is not used), weights that overflow during sampling (stopped, nothing written; written with a
    warning under --allow-nonfinite), `rae convert --verify` on outputs that overflow, NaN / negative
    latent statistics, and 16-bit PNGs read over their full range."""
    check(pick(garbage, ctx, kind, count=2, seed=5), allowed=ALLOWED.get(kind, ("refused",)))


def test_verify_report_fails_on_nan_and_inf():
    for diff, scale in ((np.nan, 1.0), (np.inf, 1.0), (0.0, np.nan), (1.0, 10.0)):
        with pytest.raises(VerifyError):
            VerifyReport("x", (1,), diff, scale, 0.0).check("folder")
    assert VerifyReport("x", (1,), 1e-7, 1.0, 0.0).check("folder").ok
