"""The MLX conversion cache: one entry per source, dtype and quantization; integrity checks before an entry is
trusted; leftovers of killed conversions removed and never used; two processes converting at once."""

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytest.importorskip("rae_mlx")
torch = pytest.importorskip("torch")

import mlx.core as mx  # noqa: E402
from mlx.utils import tree_flatten  # noqa: E402
from rae_apps.engines import mlx_cache  # noqa: E402
from rae_apps.engines.mlx_cache import Variant, mlx_weights, sweep  # noqa: E402

from rae_mlx import load_model  # noqa: E402
from rae_mlx.quantize import quantization_of  # noqa: E402

from . import tiny  # noqa: E402

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("RAE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(mlx_cache, "_verified", set())
    return tmp_path / "cache"


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "src" / "stage2_model.pt"
    path.parent.mkdir()
    torch.save(tiny._torch(tiny.random_weights(tiny.DIT, 5)), path)
    return path


def convert(path, variant=None, logs=None):
    logs = [] if logs is None else logs
    variant = variant or Variant()
    return mlx_weights(path, tiny.DIT, logs.append, variant), logs


def new_process(monkeypatch):
    """What a later run sees: nothing verified in memory."""
    monkeypatch.setattr(mlx_cache, "_verified", set())


def test_one_entry_per_dtype_and_quantization_loaded_as_stored(cache, source):
    entries = {}
    for variant in (Variant(), Variant("bfloat16"), Variant("float32", 4), Variant("bfloat16", 8)):
        entry, logs = convert(source, variant)
        assert len(logs) == 1 and "for MLX once" in logs[0]
        assert convert(source, variant) == (entry, [])  # ready: nothing converted again
        entries[variant] = entry
    assert len(set(entries.values())) == 4 and all(e.parent.name == entries[Variant()].parent.name
                                                    for e in entries.values())
    half = load_model(entries[Variant("bfloat16")])
    dtypes = {k: v.dtype for k, v in tree_flatten(half.parameters())}
    assert dtypes["blocks.0.attn.qkv.weight"] == mx.bfloat16 and dtypes["t_embedder.W"] == mx.float32
    q = load_model(entries[Variant("bfloat16", 8)])
    assert quantization_of(q)["bits"] == 8
    assert dict(tree_flatten(q.parameters()))["t_embedder.mlp.0.scales"].dtype == mx.bfloat16


def test_an_entry_is_checked_before_a_later_run_trusts_it(cache, source, monkeypatch):
    entry, _ = convert(source)
    weights = entry / "model.safetensors"
    new_process(monkeypatch)
    assert convert(source)[1] == []  # a clean entry passes the check (its hash remembered when written)
    (cache / "sha256.json").unlink()  # nothing remembered: the source and the entry are hashed again
    new_process(monkeypatch)
    assert convert(source)[1] == [] and json.loads((cache / "sha256.json").read_text())
    data = bytearray(weights.read_bytes())
    data[-8:] = b"\x00" * 8  # same size, other bytes, a new mtime: as a disk fault or an edit would
    weights.write_bytes(bytes(data))
    new_process(monkeypatch)
    again, logs = convert(source)
    assert again == entry and any("invalid" in m for m in logs) and any("for MLX once" in m for m in logs)
    assert weights.read_bytes() != bytes(data)
    manifest = json.loads((entry / "entry.json").read_text())
    manifest["converter_version"] = "0.0.0-older"  # written by an older converter: rebuilt
    (entry / "entry.json").write_text(json.dumps(manifest))
    new_process(monkeypatch)
    assert any("for MLX once" in m for m in convert(source)[1])


def test_a_changed_source_is_hashed_again(cache, source):
    first, _ = convert(source)
    torch.save(tiny._torch(tiny.random_weights(tiny.DIT, 6)), source)  # new size or mtime: new hash
    os.utime(source, ns=(time.time_ns(), time.time_ns() + 10**9))
    second, logs = convert(source)
    assert second.parent != first.parent and "for MLX once" in logs[0]
    assert json.loads((second / "entry.json").read_text())["source_sha256"] == second.parent.name


def test_a_warm_start_never_reads_the_source(cache, source, monkeypatch):
    entry, _ = convert(source, Variant("bfloat16"))

    def refuse(*a, **k):
        raise AssertionError("the source was read")

    import rae_convert.lazy_array
    import rae_convert.torch_pickle

    monkeypatch.setattr(rae_convert.torch_pickle, "load", refuse)
    monkeypatch.setattr(rae_convert.lazy_array.LazyArray, "_bytes", refuse)
    new_process(monkeypatch)
    assert convert(source, Variant("bfloat16")) == (entry, [])


KILLED = """
import os, signal, sys
sys.path.insert(0, {repo!r})
import tests.conftest
import rae_convert, rae_convert.conversion as c
from rae_apps.engines.mlx_cache import mlx_weights
from tests.apps import tiny

real = c.convert_file
def convert_then_die(src, dst, *a, **k):
    real(src, dst, *a, **k)
    os.kill(os.getpid(), signal.SIGKILL)  # kill -9 after writing, before the entry is renamed into place
rae_convert.convert_file = convert_then_die
mlx_weights({src!r}, tiny.DIT, print)
"""


def test_leftovers_of_a_killed_conversion_are_removed_and_never_used(cache, source):
    done = subprocess.run([sys.executable, "-c", KILLED.format(repo=str(REPO), src=str(source))],
                          env=dict(os.environ), capture_output=True, text=True, timeout=120)
    assert done.returncode == -9, done.stderr
    folder = next((cache / "mlx").iterdir())
    leftovers = [p for p in folder.iterdir() if mlx_cache.TMP_MARK in p.name]
    assert len(leftovers) == 1 and (leftovers[0] / "model.safetensors").is_file()
    (folder / "model.safetensors").write_bytes(b"older layout")  # an entry of the layout before variants
    index_tmp = cache / ".sha256.json.abc.tmp"
    index_tmp.write_text("{")
    entry, logs = convert(source)
    assert any("leftover" in m for m in logs) and any("for MLX once" in m for m in logs)
    assert not leftovers[0].exists() and not (folder / "model.safetensors").exists() and not index_tmp.exists()
    assert [p.name for p in folder.iterdir() if not p.name.endswith(".lock")] == [entry.name]
    assert sweep() == []


RACE = """
import sys, time
sys.path.insert(0, {repo!r})
import tests.conftest
import rae_convert
from rae_apps.engines.mlx_cache import mlx_weights
from tests.apps import tiny

real = rae_convert.convert_file
def slow(*a, **k):
    time.sleep(1.5)  # long enough for the other process to arrive while this one converts
    return real(*a, **k)
rae_convert.convert_file = slow
print("ENTRY", mlx_weights({src!r}, tiny.DIT, print))
"""


def test_two_processes_converting_at_once_both_succeed(cache, source):
    script = RACE.format(repo=str(REPO), src=str(source))
    procs = [subprocess.Popen([sys.executable, "-c", script], env=dict(os.environ), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1] for o in outs]
    text = "".join(o[0] for o in outs)
    assert text.count("for MLX once") == 1 and "waiting for another rae process" in text
    entries = {line.split()[1] for line in text.splitlines() if line.startswith("ENTRY")}
    assert len(entries) == 1 and (Path(entries.pop()) / "entry.json").is_file()


def test_files_that_need_no_conversion_are_used_as_they_are(cache, tmp_path, source):
    entry, _ = convert(source, Variant("bfloat16", 4))
    weights = entry / "model.safetensors"
    assert not mlx_cache.needs_conversion(weights, Variant("float32"))  # quantized: as it is
    f32, _ = convert(source)
    assert not mlx_cache.needs_conversion(f32 / "model.safetensors", Variant("float32"))
    assert mlx_cache.needs_conversion(f32 / "model.safetensors", Variant("float16"))  # narrower: converted once
    assert mlx_cache.needs_conversion(f32 / "model.safetensors", Variant("float32", 8))
    half, _ = convert(source, Variant("float16"))
    assert not mlx_cache.needs_conversion(half / "model.safetensors", Variant("float32"))  # widened while loading


def test_cache_docstring_states_the_cost_of_the_check():
    text = " ".join(textwrap.dedent(mlx_cache.__doc__).split())
    assert "per GB" in text and "hash is not remembered" in text
