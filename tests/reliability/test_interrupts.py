"""SIGTERM behaves like Ctrl-C; crashes leave nothing that is picked up later (item 5 of issue 9)."""

import pytest

from .cases import INTERRUPT_KINDS, interrupts
from .conftest import check, pick


@pytest.mark.parametrize("kind", INTERRUPT_KINDS)
def test_sigterm_and_damaged_checkpoints(ctx, env, kind):
    """SIGTERM during sampling (one image each, or a grid, torch or MLX), reconstruction and conversion:
    exit 143, no image, no temporary file, no partial model folder. Training: a truncated, random, refused
    or foreign newest checkpoint is reported, set aside, and the run resumes from the newest valid one to
    the same weights as an undisturbed run; an orphan temporary checkpoint is removed."""
    check(pick(interrupts, ctx, kind, count=1, seed=9), allowed=("ok",))
