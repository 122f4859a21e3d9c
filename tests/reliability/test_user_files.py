"""A user's file is never replaced without --overwrite; bad output places fail at once (item 4)."""

import pytest

from .cases import FILE_KINDS, user_files
from .conftest import check, pick

ALLOWED = {"same job png": ("ok",), "overwrite flag": ("ok",)}


@pytest.mark.parametrize("kind", FILE_KINDS)
def test_outputs_follow_one_rule(ctx, env, kind):
    """An existing JSON sidecar, model folder, latents .npy, a PNG that is not rae's or is another job's:
    refused naming --overwrite, untouched. The same job's own PNG, or --overwrite: replaced. A folder given
    as -o dir/, a parent that is a file, a read-only place: refused in under a second. A full disk: one
    line naming the file, no temporary file left."""
    check(pick(user_files, ctx, kind, count=1, seed=7), allowed=ALLOWED.get(kind, ("refused",)))
