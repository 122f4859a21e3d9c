"""Every input error is one line and exit 2, found before compute where possible (item 6 of issue 9)."""

import pytest

from .cases import FORGERIES, INPUT_KINDS, _forged, input_errors
from .conftest import check, pick


@pytest.mark.parametrize("kind", INPUT_KINDS)
def test_input_errors_exit_2(ctx, env, kind):
    """Bad YAML values (a random leaf of the reference YAML replaced by a value of another type: refused or,
    where harmless, accepted), malformed safetensors headers (fp8 says "unsupported dtype"), image bombs,
    permissions and read-only places, training config and resume errors, and --debug's traceback."""
    allowed = ("ok", "refused") if kind == "bad YAML value" else ("refused",)
    check(pick(input_errors, ctx, kind, count=2, seed=11), allowed=allowed)


@pytest.mark.parametrize("forgery", FORGERIES)
def test_forged_metadata_names_only_known_things(ctx, env, forgery):
    """A record pointing at a device, a FIFO, a file of another kind or with another sha256, an edited YAML;
    records with wrong types, missing fields, or sizes meant to exhaust memory: refused fast."""
    outcome = _forged(ctx, forgery, ctx.scratch())
    assert outcome.kind == "refused", outcome.why()
