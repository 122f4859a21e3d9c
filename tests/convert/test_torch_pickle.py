"""The torch-free reader of torch's zip checkpoints, checked against torch.save / torch.load."""

import collections
import zipfile

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from rae_convert.torch_pickle import TorchPickleError, UnsafeGlobalError, load  # noqa: E402

DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.int32, torch.int16,
          torch.int8, torch.uint8, torch.bool, torch.complex64]


def _expected(t: torch.Tensor) -> np.ndarray:
    return t.float().numpy() if t.dtype == torch.bfloat16 else t.numpy()


def _random(dtype, shape=(3, 5)):
    g = torch.Generator().manual_seed(0)
    if dtype.is_floating_point or dtype.is_complex:
        return torch.randn(shape, generator=g, dtype=torch.float32).to(dtype) * 3
    if dtype == torch.bool:
        return torch.rand(shape, generator=g) > 0.5
    return torch.randint(-100 if dtype != torch.uint8 else 0, 100, shape, generator=g).to(dtype)


def test_every_dtype_matches_torch(tmp_path):
    tensors = {str(d): _random(d) for d in DTYPES}
    tensors["scalar"] = torch.tensor(2.5)
    tensors["empty"] = torch.zeros(0, 4)
    torch.save(tensors, tmp_path / "all.pt")
    got = load(tmp_path / "all.pt")
    for name, t in tensors.items():
        want = _expected(t)
        assert got[name].dtype == (np.float32 if t.dtype == torch.bfloat16 else want.dtype), name
        assert got[name].shape == want.shape and np.array_equal(got[name], want), name


def test_bfloat16_is_widened_exactly(tmp_path):
    t = torch.tensor([1.0, -2.5, 3.140625, 1e-30, 65504.0, float("inf")]).to(torch.bfloat16)
    torch.save({"x": t}, tmp_path / "bf16.pt")
    assert np.array_equal(load(tmp_path / "bf16.pt")["x"], t.float().numpy())


def test_views_offsets_strides_and_shared_storage(tmp_path):
    base = torch.arange(60, dtype=torch.float32).reshape(6, 10)
    obj = {"transposed": base.t(), "slice": base[2:5, 3:9], "step": base[::2, 1::3], "row": base[4],
           "expanded": torch.arange(3.0).expand(4, 3), "base": base, "same": base}
    torch.save(obj, tmp_path / "views.pt")
    got = load(tmp_path / "views.pt")
    for name, t in obj.items():
        assert np.array_equal(got[name], t.numpy()), name
    got["base"][0, 0] = -1  # arrays own their memory (no aliasing into the file)
    assert got["transposed"][0, 0] == 0


def test_wrapped_checkpoints_parameters_ordered_dicts_and_none(tmp_path):
    lin = torch.nn.Linear(4, 3)
    sd = lin.state_dict()  # an OrderedDict carrying `_metadata`
    ckpt = {"ema": sd, "model": {"weight": torch.nn.Parameter(torch.ones(2))}, "step": 7, "lr": 1e-4,
            "name": "run", "list": [1, (2, 3)], "mean": None}
    torch.save(ckpt, tmp_path / "ckpt.pt")
    got = load(tmp_path / "ckpt.pt")
    assert isinstance(got["ema"], collections.OrderedDict)
    assert np.array_equal(got["ema"]["weight"], sd["weight"].numpy())
    assert np.array_equal(got["model"]["weight"], np.ones(2, np.float32))
    assert got["step"] == 7 and got["lr"] == 1e-4 and got["name"] == "run" and got["list"] == [1, (2, 3)]
    assert got["mean"] is None


def test_stat_file_with_mean_none(tmp_path):
    var = torch.rand(1, 8, 2, 2)
    torch.save({"mean": None, "var": var}, tmp_path / "stat.pt")
    got = load(tmp_path / "stat.pt")
    assert got["mean"] is None and np.array_equal(got["var"], var.numpy())


class Evil:
    def __reduce__(self):
        return (print, ("this would run arbitrary code",))


def test_refuses_code_and_names_the_global(tmp_path):
    torch.save({"w": torch.zeros(2), "payload": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(UnsafeGlobalError, match=r"builtins\.print") as err:
        load(tmp_path / "evil.pt")
    assert err.value.global_name == "builtins.print"


def test_truncated_legacy_and_foreign_files(tmp_path):
    torch.save({"w": torch.randn(64, 64)}, tmp_path / "ok.pt")
    data = (tmp_path / "ok.pt").read_bytes()
    (tmp_path / "cut.pt").write_bytes(data[: len(data) // 2])
    with pytest.raises(TorchPickleError, match="truncated or corrupt"):
        load(tmp_path / "cut.pt")
    torch.save({"w": torch.zeros(2)}, tmp_path / "legacy.pt", _use_new_zipfile_serialization=False)
    with pytest.raises(TorchPickleError, match="legacy"):
        load(tmp_path / "legacy.pt")
    with zipfile.ZipFile(tmp_path / "other.zip", "w") as z:
        z.writestr("readme.txt", "hi")
    with pytest.raises(TorchPickleError, match="without data.pkl"):
        load(tmp_path / "other.zip")
    with pytest.raises(TorchPickleError, match="does not exist"):
        load(tmp_path / "missing.pt")


def test_a_full_model_state_dict_round_trips(tmp_path):
    from rae_spec import DiTDHConfig
    from rae_torch import build_model

    model = build_model(DiTDHConfig(input_size=4, in_channels=8, hidden_size=(32, 48), depth=(1, 1), num_heads=(2, 3),
                                    num_classes=5))
    sd = model.state_dict()
    torch.save(sd, tmp_path / "m.pt")
    got = load(tmp_path / "m.pt")
    assert list(got) == list(sd)
    assert all(np.array_equal(got[k], v.numpy()) for k, v in sd.items())
