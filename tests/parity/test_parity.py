"""Every reference fixture case, on every importable backend, at the case's own tolerances.

The case list comes from the fixture folder (`--reference-dir`); each case dispatches on its `kind`.
A tolerance entry the backend neither computes nor explicitly skips (with a reason) fails the test.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from .cases import KINDS, Either, find_cases, load_case

BACKENDS = {"torch": ("torch", "tests.parity.torch_runner", "TorchRunner"),
            "mlx": ("mlx", "tests.parity.mlx_runner", "MLXRunner")}
RESULTS: list[tuple[str, str, str, float, float]] = []  # (backend, case, tensor, max abs err, allowed)


def pytest_generate_tests(metafunc):
    if "case_dir" in metafunc.fixturenames:
        from ..conftest import BUNDLED_REFERENCE, reference_dir

        dirs = find_cases(reference_dir(metafunc.config))
        extra = find_cases(BUNDLED_REFERENCE)
        metafunc.parametrize("case_dir", dirs + extra, ids=[d.name for d in dirs] + [f"extra/{d.name}" for d in extra])


@pytest.fixture(scope="module", params=list(BACKENDS))
def runner(request):
    module, path, cls = BACKENDS[request.param]
    if importlib.util.find_spec(module) is None:
        pytest.skip(f"{module} is not installed")
    try:
        runner_module = importlib.import_module(path)
    except ModuleNotFoundError as e:
        pytest.skip(f"{request.param} runner unavailable: {e}")
    return getattr(runner_module, cls)()


def _tolerance(tols: dict, name: str) -> tuple[float, float]:
    """The tolerance of `name`, else of the tensor it is a note on ('name | note'), else of the whole
    trajectory a `<name>_subset` holds states of."""
    base = name.split(" | ")[0]
    for key in (name, base, base.removesuffix("_subset")):
        if key in tols:
            return tols[key]
    return (1e-6, 0.0)


def _compare(expected: np.ndarray, actual: np.ndarray, atol: float, rtol: float) -> tuple[str | None, float]:
    """(None, max abs err) when within tolerance, else (what is wrong, max abs err)."""
    if actual.shape != expected.shape:
        return f"shape {actual.shape} != expected {expected.shape}", float("inf")
    if not np.issubdtype(expected.dtype, np.floating):
        return (None, 0.0) if np.array_equal(actual, expected) else ("integer tensor differs", float("inf"))
    err = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
    bound = atol + rtol * np.abs(expected.astype(np.float64))
    if np.all(err <= bound) and np.all(np.isfinite(actual)):
        return None, float(err.max())
    return (f"max abs err {err.max():.3g} (atol {atol:g}, rtol {rtol:g}), "
            f"{int((err > bound).sum())} of {err.size} values out of tolerance"), float(err.max())


def stored(case, name: str) -> tuple[str, np.ndarray | None] | None:
    """(io key, trajectory indices or None) of what the case stores for a computed `name`: the tensor itself,
    or only some of its states (`<name>_subset`, with the index array its call's `outputs` names; see
    ../shared/reference/README.md). None when the case stores neither."""
    if name in case.io:
        return name, None
    subset = f"{name}_subset"
    if subset not in case.io:
        return None
    return subset, case.io[case.subset_indices(name)]


def check_case(case, runner) -> None:
    """Every computed value against the case's stored one (only the stored states of a subset), at the
    case's tolerance; every toleranced tensor must be computed or skipped with a reason."""
    assert case.kind in KINDS, f"unknown case kind {case.kind!r}"
    computed, skipped = getattr(runner, case.kind)(case)
    tols = case.tolerances()
    failures, covered = [], set()
    for name, value in computed.items():
        base = name.split(" | ")[0]
        where = stored(case, base)
        assert where is not None, f"{runner.name} computed {base}, which {case.name} does not store"
        key, indices = where
        label = key + name[len(base):]
        covered.add(key)
        candidates = value.candidates if isinstance(value, Either) else {"": value}
        if indices is not None:
            candidates = {k: np.asarray(v)[indices] for k, v in candidates.items()}
        problems = [_compare(case.io[key], np.asarray(v), *_tolerance(tols, label)) for v in candidates.values()]
        ok = [p for p in problems if p[0] is None]
        err = min((p[1] for p in (ok or problems)), default=0.0)
        RESULTS.append((runner.name, case.name, label, err, _tolerance(tols, label)[0]))
        if not ok:
            labelled = zip(candidates, problems, strict=True)
            failures.append(f"{label}: " + " / ".join(f"{c or 'value'}: {p[0]}" for c, p in labelled))
    uncovered = [k for k in tols if k not in covered and k not in computed and k not in skipped]
    assert not uncovered, f"{runner.name} computed no value for {uncovered}"
    assert not failures, f"{runner.name} / {case.name}:\n  " + "\n  ".join(failures)


def test_case(case_dir, runner):
    check_case(load_case(case_dir), runner)
