"""Shared test options: where the reference fixtures live, and which backends are importable."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Import names that live in folders of another name ([tool.setuptools.package-dir] in pyproject.toml);
# the fallback is for Python 3.10, which has no tomllib.
PACKAGE_DIRS = {"rae_convert": "convert", "rae_apps": "apps"}


def package_dirs() -> dict[str, str]:
    try:
        import tomllib
    except ImportError:
        return PACKAGE_DIRS
    return tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"].get("package-dir", PACKAGE_DIRS)


def alias_packages(repo: Path = REPO) -> None:
    """Import `apps/` as `rae_apps`, `convert/` as `rae_convert` (every package-dir mapping) from this checkout's
    folders, as the installed package maps them, so tests run the code under test even without
    `pip install -e .` (or with another checkout installed)."""
    for name, folder in package_dirs().items():
        init = repo / folder / "__init__.py"
        if name in sys.modules or not init.is_file():
            continue
        spec = importlib.util.spec_from_file_location(name, init, submodule_search_locations=[str(init.parent)])
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)


alias_packages()
if importlib.util.find_spec("mlx") is not None:
    import rae_mlx  # noqa: F401  (before any test imports mlx.core: lets MLX use the system OpenBLAS on Linux)
else:
    collect_ignore_glob = ["rae_mlx/*"]  # MLX not installed: its tests cannot even be imported
# The fixtures live in the steering repo's shared/ folder: beside the checkout, or inside it.
CANDIDATES = (REPO.parent / "shared" / "reference", REPO / "shared" / "reference")
DEFAULT_REFERENCE = next((p for p in CANDIDATES if p.is_dir()), CANDIDATES[0])
# Extra cases of the same kinds (other sizes, seeds, flags), produced by running the reference code.
BUNDLED_REFERENCE = REPO / "tests" / "fixtures" / "extra_reference"


def pytest_addoption(parser):
    parser.addoption("--reference-dir", action="store", default=os.environ.get("RAE_REFERENCE_DIR"),
                     help=f"folder of reference fixture cases (default: {DEFAULT_REFERENCE})")


def reference_dir(config) -> Path:
    value = config.getoption("--reference-dir")
    return Path(value) if value else DEFAULT_REFERENCE


@pytest.fixture(scope="session")
def reference_root(request) -> Path:
    root = reference_dir(request.config)
    if not root.is_dir():
        pytest.skip(f"no reference fixtures at {root}")
    return root


def pytest_terminal_summary(terminalreporter):
    try:
        from tests.parity.test_parity import RESULTS
    except ImportError:
        return
    if not RESULTS:
        return
    worst: dict[tuple[str, str], tuple[float, str]] = {}
    for backend, case, name, err, _ in RESULTS:
        key = (backend, case)
        if key not in worst or err > worst[key][0]:
            worst[key] = (err, name)
    terminalreporter.section("reference parity: max abs error per case")
    for (backend, case), (err, name) in sorted(worst.items()):
        terminalreporter.write_line(f"{backend:6s} {case:34s} {err:.3e}  ({name})")
