"""Untrusted .pt files never change how later files are read (item 1 of issue 9)."""

import numpy as np
import pytest
from rae_convert.torch_pickle import TorchPickleError, load

from ..apps import tiny
from . import craft
from .cases import integrity
from .conftest import check, pick


def test_a_poisoned_file_then_a_clean_file_in_one_process(ctx, env, tmp_path):
    """The attack of the issue: BUILD on the shared storage-type record turned later float32 tensors into
    bytes. Poisoned file first, clean file second, same process: the clean read is exact, on the loader and
    through `rae sample --backend mlx` (whose conversion cache stored the damage before)."""
    poisoned = craft.with_prefix(ctx.clean_pt, tmp_path / "poisoned.pt",
                                 craft.glob("torch", "FloatStorage") + craft.NONE + craft.EMPTY_DICT
                                 + craft.text("dtype") + craft.text("uint8") + craft.SETITEM + craft.TUPLE2
                                 + craft.BUILD + craft.POP)
    with pytest.raises(TorchPickleError, match="BUILD"):
        load(poisoned)
    clean = load(ctx.clean_pt)
    want = tiny.random_weights(tiny.DIT, 1)
    assert all(clean[k].dtype == np.float32 and np.array_equal(clean[k], want[k]) for k in want)
    check(pick(integrity, ctx, "", count=6, seed=1))  # loader, MLX sampling and conversion routes, twice each


@pytest.mark.parametrize("seed", range(3))
def test_mutating_opcodes_only_touch_this_loads_containers(ctx, env, seed):
    """Every way a pickle can mutate an object (BUILD with dict or slot state, SETITEM(S), APPEND(S),
    REDUCE), aimed at every kind of allow-listed global: refused, and the clean file reads the same."""
    check([c for c in pick(integrity, ctx, "", count=12, seed=10 + seed) if c.name.endswith("via loader")])


def test_a_torch_state_dict_with_metadata_still_loads(tmp_path):
    """What torch.save really emits (an OrderedDict with `_metadata` set by BUILD, parameters, nested
    optimizer state) is still read: the restrictions cost nothing legitimate."""
    torch = pytest.importorskip("torch")
    lin = torch.nn.Linear(3, 2)
    opt = torch.optim.AdamW(lin.parameters())
    lin(torch.ones(1, 3)).sum().backward()
    opt.step()
    torch.save({"model": lin.state_dict(), "opt": opt.state_dict(), "p": torch.nn.Parameter(torch.ones(2)),
                "steps": [1, 2, (3, 4)]}, tmp_path / "x.pt")
    got = load(tmp_path / "x.pt")
    assert np.array_equal(got["model"]["weight"], lin.weight.detach().numpy())
    assert got["opt"]["param_groups"][0]["betas"] == (0.9, 0.999) and got["steps"] == [1, 2, (3, 4)]
