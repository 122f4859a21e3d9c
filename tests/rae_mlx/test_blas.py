"""rae_mlx picks the system OpenBLAS on Linux (before mlx.core loads), with an opt-out."""

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO

pytest.importorskip("mlx")
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the BLAS swap is Linux-only")

# Makes `rae_convert` importable like tests/conftest.py does, without importing conftest (which imports rae_mlx).
PRELUDE = (f"import sys, importlib.util\nsys.path.insert(0, {str(REPO)!r})\n"
           f"spec = importlib.util.spec_from_file_location('rae_convert', {str(REPO / 'convert' / '__init__.py')!r}, "
           f"submodule_search_locations=[{str(REPO / 'convert')!r}])\n"
           "m = importlib.util.module_from_spec(spec); sys.modules['rae_convert'] = m; spec.loader.exec_module(m)\n")


def run(code: str, **env) -> str:
    full_env = {k: v for k, v in os.environ.items() if k not in ("RAE_MLX_OPENBLAS", "LD_PRELOAD")}
    full_env.update(env)
    out = subprocess.run([sys.executable, "-W", "always", "-c", PRELUDE + code], cwd=REPO, env=full_env,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout + out.stderr


def test_opt_out_and_too_late():
    assert "disabled by RAE_MLX_OPENBLAS=0" in run("import rae_mlx; print(rae_mlx.blas.status)", RAE_MLX_OPENBLAS="0")
    text = run("import mlx.core\nimport rae_mlx\nprint(rae_mlx.blas.status)")
    if "no system OpenBLAS" not in text:
        assert "imported before rae_mlx" in text and "LD_PRELOAD=" in text


def test_system_openblas_is_used_when_present():
    from rae_mlx.blas import find_openblas

    if find_openblas() is None:
        pytest.skip("no system OpenBLAS (apt-get install libopenblas0-pthread)")
    code = ("import rae_mlx, mlx.core as mx\n"
            "a = mx.ones((64, 64)); print(rae_mlx.blas.status, float((a @ a).sum()))\n"
            "print(open('/proc/self/maps').read().count('openblas') > 0)\n")
    text = run(code)
    assert "opened before mlx.core" in text and "262144.0" in text and "True" in text
