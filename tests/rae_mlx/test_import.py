"""rae_mlx and rae_convert import, and read the released .pt format, with torch absent."""

import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import REPO

pytest.importorskip("mlx")

BLOCK_TORCH = (
    "import sys\n"
    f"sys.path.insert(0, {str(REPO)!r})\n"
    "class Block:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name.split('.')[0] == 'torch':\n"
    "            raise ImportError('blocked ' + name)\n"
    "sys.meta_path.insert(0, Block())\n"
    "from tests.conftest import alias_packages\n"
    "alias_packages()\n"
)


def run_without_torch(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", BLOCK_TORCH + code], cwd=REPO, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_import_rae_mlx_without_torch():
    run_without_torch(
        "import rae_mlx, rae_mlx.encoders, rae_mlx.sampling, rae_mlx.transport, rae_mlx.quantize, rae_mlx.memory\n"
        "import rae_convert, rae_convert.torch_pickle, rae_convert.conversion\n"
        "assert not any(m.split('.')[0] == 'torch' for m in sys.modules)\n")


def test_load_released_pt_files_without_torch(tmp_path):
    torch = pytest.importorskip("torch")
    from rae_spec import DiTDHConfig, to_json
    from rae_torch import build_model

    config = DiTDHConfig(input_size=4, in_channels=8, hidden_size=(32, 48), depth=(1, 1), num_heads=(2, 3),
                         num_classes=5)
    torch.manual_seed(0)
    model = build_model(config)
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.2)
    torch.save({"ema": model.state_dict(), "step": 1}, tmp_path / "stage2_model.pt")
    torch.save({"mean": None, "var": torch.rand(8, 4, 4) + 0.5}, tmp_path / "stat.pt")
    x, t, y = torch.randn(2, 8, 4, 4), torch.tensor([0.2, 0.9]), torch.tensor([1, 3])
    with torch.no_grad():
        want = model(x, t, y).numpy()
    np.save(tmp_path / "x.npy", x.numpy())
    (tmp_path / "config.json").write_text(to_json(config))
    out = run_without_torch(
        "import numpy as np, mlx.core as mx, rae_mlx\n"
        "from rae_spec import from_json\n"
        f"d = {str(tmp_path)!r}\n"
        "config = from_json(open(d + '/config.json').read())\n"
        "model = rae_mlx.load_model(d + '/stage2_model.pt', config)\n"
        "v = model(mx.array(np.load(d + '/x.npy')), mx.array([0.2, 0.9]), mx.array([1, 3]))\n"
        "np.save(d + '/v.npy', np.asarray(v))\n"
        "mean, var = rae_mlx.load_stats(d + '/stat.pt', (8, 4, 4))\n"
        "assert mean is None and var.shape == (8, 4, 4)\n"
        "assert not any(m.split('.')[0] == 'torch' for m in sys.modules)\n"
        "print('ok')\n")
    assert out.strip() == "ok"
    got = np.load(tmp_path / "v.npy")
    assert np.abs(got - want).max() <= 1e-5 * np.abs(want).max()
