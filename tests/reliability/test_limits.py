"""Tiny inputs that used to hang or take gigabytes are refused within a second (item 2 of issue 9)."""

import pytest

from .cases import RESOURCE_KINDS, resources
from .conftest import check, pick


@pytest.mark.parametrize("kind", RESOURCE_KINDS)
def test_tiny_inputs_are_refused_quickly(ctx, env, kind):
    """YAML alias bombs and interpolation cycles or doublings (sampling, `rae info`, the training CLI),
    deep nesting, pickles of shared references or deep nesting, zip members that decompress to megabytes
    from a hundred bytes, zero-stride tensors, a config.json describing a model thousands of times larger
    than its weights: each a one-line refusal in under a second (generated variants, two per kind)."""
    check(pick(resources, ctx, kind, count=2, seed=3), allowed=("refused",))
