"""The tiny offline world of tests/apps (shared, built once per session) and the hostile-case context."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from tests.apps.conftest import env, one_thread, rae, world  # noqa: E402, F401, F811  (the same session world)

from .cases import Case, Context  # noqa: E402
from .harness import environment  # noqa: E402


@pytest.fixture(scope="session")
def ctx(world, tmp_path_factory) -> Context:  # noqa: F811
    """Clean references computed once, before any hostile file is read in this session."""
    root = tmp_path_factory.mktemp("hostile")
    with environment(HF_HUB_CACHE=str(world.cache), HF_HUB_OFFLINE="1", RAE_PRESETS=str(world.presets),
                     RAE_CACHE=str(root / "rae-cache")):
        return Context(world, root / "cases")


def pick(make, ctx: Context, kind: str, count: int = 1, seed: int = 0) -> list[Case]:
    """`count` seeded variants of one kind of a category's cases."""
    rng = np.random.default_rng(seed)
    out = []
    for case in make(ctx, rng, 40 * count):
        if case.name.startswith(kind):
            out.append(case)
        if len(out) == count:
            break
    return out


def check(cases: list[Case], allowed: tuple[str, ...] = ("ok", "refused")) -> None:
    assert cases, "no case generated"
    for case in cases:
        outcome = case.run()
        assert outcome.kind in allowed, f"{case.name}: {outcome.kind}: {outcome.why()}"
