"""Conversion and loading one tensor at a time: lazy readers, a streaming writer, and the same bits as the
whole-model path (cast, then quantize_model)."""

import tracemalloc

import numpy as np
import pytest
from rae_convert import convert_file
from rae_convert import safetensors_io as st
from rae_convert.lazy_array import LazyArray, SourceChangedError

from rae_spec import DiTDHConfig

torch = pytest.importorskip("torch")

BIG = DiTDHConfig(input_size=4, in_channels=64, hidden_size=(512, 512), depth=(2, 1), num_heads=(4, 4))


def _random_state(config, seed=0):
    from rae_torch import build_model

    g = torch.Generator().manual_seed(seed)
    sd = build_model(config).state_dict()
    return {k: torch.randn(v.shape, generator=g) * 0.05 for k, v in sd.items()}


def test_lazy_readers_give_the_eager_arrays(tmp_path):
    base = torch.arange(60, dtype=torch.float32).reshape(6, 10)
    obj = {"t": base.t(), "slice": base[2:5, 3:9], "bf": base.to(torch.bfloat16), "base": base}
    torch.save(obj, tmp_path / "v.pt")
    from rae_convert import torch_pickle

    lazy = torch_pickle.load(tmp_path / "v.pt", lazy=True)
    for k, t in obj.items():
        assert isinstance(lazy[k], LazyArray) and lazy[k].shape == tuple(t.shape)
        assert np.array_equal(np.asarray(lazy[k]), t.float().numpy()), k
    assert np.array_equal(np.asarray(lazy["slice"].transpose((1, 0))), base[2:5, 3:9].t().numpy())
    st.write(tmp_path / "s.safetensors", {"a": np.arange(6, dtype=np.float32).reshape(2, 3)}, bf16={"a"})
    lazy_st, _ = st.read(tmp_path / "s.safetensors", lazy=True)
    assert lazy_st["a"].stored_dtype == "bfloat16" and np.array_equal(np.asarray(lazy_st["a"]),
                                                                       np.arange(6.0).reshape(2, 3))
    torch.save({"x": torch.ones(3)}, tmp_path / "v.pt")  # the file changes under a lazy tensor: refused
    with pytest.raises(SourceChangedError):
        lazy["base"].read()


def test_conversion_holds_one_tensor_not_the_model(tmp_path):
    sd = _random_state(BIG)
    torch.save(sd, tmp_path / "m.pt")
    model_bytes = sum(v.numel() * 4 for v in sd.values())
    largest = max(v.numel() * 4 for v in sd.values())
    del sd
    tracemalloc.start()
    convert_file(tmp_path / "m.pt", tmp_path / "out", BIG, "torch->mlx", dtype="bfloat16")
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert model_bytes > 20 * largest / 2 and peak < 4 * largest, (peak, largest, model_bytes)


def test_streamed_quantization_equals_cast_then_quantize_model(tmp_path):
    pytest.importorskip("rae_mlx")
    import mlx.core as mx
    from mlx.utils import tree_flatten

    from rae_mlx import cast_model, load_model, quantize_model
    from rae_mlx.checkpoint import build_model, load_into

    sd = _random_state(BIG, 1)
    torch.save(sd, tmp_path / "m.pt")
    for dtype, bits in (("bfloat16", 4), ("float32", 8)):
        convert_file(tmp_path / "m.pt", tmp_path / f"q{bits}", BIG, "torch->mlx", dtype=dtype, quantize=bits)
        streamed = dict(tree_flatten(load_model(tmp_path / f"q{bits}").parameters()))
        whole = load_into(build_model(BIG), {k: v.numpy() for k, v in sd.items()}, BIG)
        quantize_model(cast_model(whole, dtype), bits=bits)
        reference = dict(tree_flatten(whole.parameters()))
        assert streamed.keys() == reference.keys()
        for k, v in reference.items():
            assert streamed[k].dtype == v.dtype and mx.array_equal(streamed[k], v).item(), (dtype, bits, k)


def test_mlx_loads_straight_into_the_target_dtype(tmp_path):
    pytest.importorskip("rae_mlx")
    import mlx.core as mx

    from rae_mlx import load_model

    sd = _random_state(BIG, 2)
    st.write(tmp_path / "m.safetensors", {k: v.numpy() for k, v in sd.items()})
    model_bytes = sum(v.numel() * 4 for v in sd.values())
    largest = max(v.numel() * 4 for v in sd.values())
    mx.clear_cache()
    before = mx.get_active_memory()
    mx.reset_peak_memory()
    model = load_model(tmp_path / "m.safetensors", BIG, dtype="bfloat16")
    mx.eval(model.parameters())
    peak = mx.get_peak_memory() - before
    assert peak < model_bytes / 2 + 3 * largest, (peak, model_bytes)  # bf16 model + a tensor, not the fp32 copy
