"""The hostile-input catalogue, as generators of cases by category. Each category yields as many seeded
variants as asked; tests/reliability/test_*.py run a few of each kind, `catalogue.py` runs many and prints
the table (cases tried, ok, clear refusal, anything else).

A case is a callable returning an Outcome (harness.py); it runs the real `rae` command (in-process), the
training CLI or a loader, and checks what a user would check afterwards: that a refused file did not change
a later clean read, that a user's file is untouched, that no temporary file is left, that an image that
was written is sound.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import shutil
import signal
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from unittest import mock

import numpy as np

from rae_spec.configs import to_json

from ..apps import tiny
from . import craft
from .harness import Outcome, leftovers, run_call, run_cli


@dataclass
class Case:
    category: str
    name: str
    run: Callable[[], Outcome]


class Context:
    """The tiny offline world (tests/apps/conftest.build_world) plus scratch folders and clean references,
    computed once, before any hostile file is read."""

    def __init__(self, world, root: Path):
        self.world, self.root = world, Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._n = 0
        self.dit_weights = tiny.random_weights(tiny.DIT, 1)
        self.clean_pt = self.world.files["dit"]
        self.clean_folder = self.dit_folder(self.dit_weights, "pt")
        self.reference = {b: self.sample_pixels(self.clean_folder, b) for b in ("torch", "mlx")}

    def scratch(self) -> Path:
        self._n += 1
        path = Path(tempfile.mkdtemp(prefix=f"case{self._n:04d}-", dir=self.root))
        os.chdir(path)
        return path

    def dit_folder(self, weights: dict, fmt: str = "pt", config=tiny.DIT, folder: Path | None = None) -> Path:
        folder = folder or self.scratch() / "dit"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.json").write_text(to_json(config))
        if fmt == "pt":
            import torch

            torch.save({k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in weights.items()}, folder / "model.pt")
        else:
            from safetensors.numpy import save_file

            save_file({k: np.ascontiguousarray(v) for k, v in weights.items()}, str(folder / "model.safetensors"))
        return folder

    def sample_pixels(self, model: Path, backend: str, *extra) -> np.ndarray | None:
        out = self.scratch() / "x.png"
        o = run_cli("sample", "--model", model, "--class", "1", "--seed", "0", "--steps", "2", "-q", "--backend",
                    backend, "-o", out, *extra)
        return pixels(out) if o.code == 0 else None


def pixels(path: Path) -> np.ndarray:
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB")).copy()


def judged(outcome: Outcome, problem: str = "") -> Outcome:
    if problem and not outcome.problem:
        outcome.problem = problem
    return outcome


def expect_refusal(outcome: Outcome, *, within: float | None = None, mentions: str = "") -> Outcome:
    return _expect_refusal(outcome, within=within, mentions=mentions)


def _expect_refusal(outcome: Outcome, *, within: float | None = None, mentions: str = "") -> Outcome:
    """A refusal is the right answer here: exit 0 is a problem too, as is a slow or vague refusal."""
    if outcome.code == 0:
        return judged(outcome, "accepted a file or option that must be refused")
    if within is not None and outcome.cpu > within:
        return judged(outcome, f"refused after {outcome.cpu:.2f} CPU s (limit {within} s)")
    if mentions and outcome.kind == "refused" and mentions not in outcome.stderr:
        return judged(outcome, f"the error does not mention {mentions!r}: {outcome.stderr.strip()[-200:]}")
    return outcome


# ---------------------------------------------------------------------------------------------- integrity


def integrity(ctx: Context, rng: np.random.Generator, n: int) -> Iterator[Case]:
    """A .pt that tries to change the unpickler's shared records (BUILD / SETITEM / APPEND / REDUCE on an
    allow-listed global), read first, then a clean file: the clean read must be exactly the clean one."""
    for i in range(n):
        what, ops = craft.poison(rng)
        route = ("loader", "mlx", "convert")[i % 3]
        yield Case("integrity", f"{what} via {route}", partial(_poison_then_clean, ctx, ops, route, what))


def _poison_then_clean(ctx: Context, ops: bytes, route: str, what: str = "") -> Outcome:
    """Mutating a global must be refused; merely calling an allow-listed function (REDUCE on _codecs.encode)
    is harmless and may load. Either way the clean read afterwards must be exact."""
    d = ctx.scratch()
    expect_refusal = _expect_refusal if not what.startswith("reduce on function") else (lambda o: o)
    if route == "loader":
        from rae_convert.torch_pickle import load

        bad = craft.with_prefix(ctx.clean_pt, d / "poisoned.pt", ops)
        first, _ = run_call(lambda: load(bad))
        _, clean = run_call(lambda: load(ctx.clean_pt))
        want = tiny.random_weights(tiny.DIT, 1)
        same = clean is not None and all(np.array_equal(clean[k], want[k]) for k in want)
        return judged(expect_refusal(first), "" if same else "a clean file read differently after the poisoned one")
    if route == "mlx":
        folder = shutil.copytree(ctx.clean_folder, d / "poisoned")
        craft.with_prefix(ctx.clean_folder / "model.pt", folder / "model.pt", ops)
        first = run_cli("sample", "--model", folder, "--class", "1", "--seed", "0", "--steps", "2", "-q",
                        "--backend", "mlx", "-o", d / "p.png")
        again = ctx.sample_pixels(ctx.clean_folder, "mlx")
        same = again is not None and np.array_equal(again, ctx.reference["mlx"])
        return judged(expect_refusal(first), "" if same else "a clean model sampled differently afterwards")
    bad = craft.with_prefix(ctx.clean_pt, d / "poisoned.pt", ops)
    first = run_cli("convert", bad, d / "out-bad", "--model", "dit-dh-xl-256")
    second = run_cli("convert", ctx.clean_pt, d / "out", "--model", "dit-dh-xl-256", "--to", "torch")
    from rae_convert import safetensors_io

    got = safetensors_io.read(d / "out" / "model.safetensors")[0] if second.code == 0 else {}
    want = tiny.random_weights(tiny.DIT, 1)
    same = bool(got) and all(np.array_equal(got[k], want[k]) for k in want)
    return judged(expect_refusal(first), "" if same else "a clean conversion differed afterwards")


# ---------------------------------------------------------------------------------------------- resources


RESOURCE_KINDS = ("alias bomb", "interpolation cycle", "interpolation doubling", "deep YAML", "pickle expansion",
                  "deep pickle", "zip bomb", "zero-stride tensor", "gigantic config")


def resources(ctx: Context, rng: np.random.Generator, n: int) -> Iterator[Case]:
    """Tiny inputs that used to hang or eat gigabytes: each must be refused within a second."""
    for i in range(n):
        kind = RESOURCE_KINDS[i % len(RESOURCE_KINDS)]
        seed = int(rng.integers(2**31))
        yield Case("resource limits", kind, partial(_resource, ctx, kind, np.random.default_rng(seed), i))


_BOMBS: dict[int, bytes] = {}


def _zip_bomb(member: int) -> bytes:
    """A torch zip whose storage (member 0) or pickle (member 1) is 64 MB of zeros bzip2-compressed into a
    hundred bytes (built once; copied per case)."""
    import zipfile

    if member not in _BOMBS:
        numel = 16 << 20
        pkl = craft.state_dict({"w": craft.tensor("0", numel, (numel,), (1,))})
        buf = __import__("io").BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            z.writestr(zipfile.ZipInfo("archive/data.pkl"), bytes(64 << 20) if member else pkl,
                       compress_type=zipfile.ZIP_BZIP2 if member else zipfile.ZIP_STORED)
            z.writestr("archive/byteorder", "little")
            z.writestr(zipfile.ZipInfo("archive/data/0"), bytes(64 << 20) if not member else bytes(4),
                       compress_type=zipfile.ZIP_BZIP2 if not member else zipfile.ZIP_STORED)
        _BOMBS[member] = buf.getvalue()
    return _BOMBS[member]


def _resource(ctx: Context, kind: str, rng: np.random.Generator, i: int) -> Outcome:
    d = ctx.scratch()
    if kind in ("alias bomb", "interpolation cycle", "interpolation doubling", "deep YAML"):
        maker = {"alias bomb": craft.alias_bomb, "interpolation cycle": craft.interpolation_cycle,
                 "interpolation doubling": craft.interpolation_doubling, "deep YAML": craft.deep_yaml}[kind]
        path = d / "bomb.yaml"
        path.write_text(maker(rng))
        route = i % 3
        if route == 0:
            out = run_cli("sample", "--config", path, "--class", "1", "--seed", "0", "-q")
        elif route == 1:
            out = run_cli("info", path)
        else:
            from rae_torch.train.cli import train_cli

            out = run_cli("stage2", "--config", path, cli=train_cli)
        return expect_refusal(out, within=1.0)
    if kind in ("pickle expansion", "deep pickle"):
        data = craft.shared_expansion(rng) if kind == "pickle expansion" else craft.deep_nesting(rng)
        folder = d / "dit"
        folder.mkdir()
        (folder / "config.json").write_text(to_json(tiny.DIT))
        craft.torch_zip(folder / "model.pt", data, {})
        args = ("info", folder / "model.pt") if i % 2 else \
            ("sample", "--model", folder, "--class", "1", "--seed", "0", "-q", "--backend", "mlx")
        return expect_refusal(run_cli(*args), within=1.0)
    if kind == "zip bomb":
        path = d / "bomb.pt"
        path.write_bytes(_zip_bomb(i % 2))
        return expect_refusal(run_cli("info", path), within=1.0)
    if kind == "zero-stride tensor":
        side = int(rng.integers(20_000, 200_000))
        pkl = craft.state_dict({"w": craft.tensor("0", 1, (side, side), (0, 0))})
        path = craft.torch_zip(d / "stride.pt", pkl, {"0": bytes(4)})
        return expect_refusal(run_cli("info", path), within=1.0)
    # a config.json describing a gigantic model beside tiny weights
    config = dataclasses.replace(tiny.DIT, hidden_size=(int(rng.choice([4096, 8192, 16384])),) * 2,
                                 depth=(int(rng.integers(64, 1024)), 2), num_heads=(16, 16))
    folder = d / "huge"
    folder.mkdir()
    (folder / "config.json").write_text(to_json(config))
    shutil.copyfile(ctx.clean_folder / "model.pt", folder / "model.pt")
    route = i % 3
    if route == 0:
        out = run_cli("sample", "--model", folder, "--class", "1", "--seed", "0", "-q", "--backend", "torch")
    elif route == 1:
        out = run_cli("sample", "--model", folder, "--class", "1", "--seed", "0", "-q", "--backend", "mlx")
    else:
        out = run_cli("convert", folder / "model.pt", d / "out", "--config-json", folder / "config.json")
    return expect_refusal(out, within=1.0)


# ---------------------------------------------------------------------------------------------- garbage


GARBAGE_KINDS = ("non-finite weight", "integer weight", "float64 weight", "non-finite scale", "NaN in record",
                 "overflowing weights", "overflow --allow-nonfinite", "verify overflow", "16-bit PNG",
                 "non-finite stats", "reconstruct overflow")


def garbage(ctx: Context, rng: np.random.Generator, n: int) -> Iterator[Case]:
    """Inputs that used to give black or garbage images with exit 0."""
    for i in range(n):
        kind = GARBAGE_KINDS[i % len(GARBAGE_KINDS)]
        seed = int(rng.integers(2**31))
        yield Case("garbage (NaN / Inf / dtype)", kind, partial(_garbage, ctx, kind, np.random.default_rng(seed), i))


def _some_tensor(weights: dict, rng: np.random.Generator, min_size: int = 1) -> str:
    names = sorted(k for k, v in weights.items() if v.size >= min_size and "freqs" not in k)
    return names[int(rng.integers(len(names)))]


def _garbage(ctx: Context, kind: str, rng: np.random.Generator, i: int) -> Outcome:
    backend = ("torch", "mlx")[i % 2]
    fmt = ("pt", "safetensors")[(i // 2) % 2]
    sample = ("sample", "--class", "1", "--seed", "0", "--steps", "2", "-q", "--backend", backend)
    if kind in ("non-finite weight", "integer weight", "float64 weight"):
        w = {k: v.copy() for k, v in ctx.dit_weights.items()}
        name = _some_tensor(w, rng)
        if kind == "non-finite weight":
            w[name].reshape(-1)[int(rng.integers(w[name].size))] = rng.choice([np.nan, np.inf, -np.inf])
        elif kind == "integer weight":
            w[name] = (w[name] * 100).astype(str(rng.choice(["int64", "int32", "int8", "uint8"])))
        else:
            w[name] = w[name].astype(np.float64)
        folder = ctx.dit_folder(w, fmt)
        out = run_cli(*sample, "--model", folder, "-o", folder.parent / "x.png")
        return expect_refusal(out, mentions=name)
    if kind == "non-finite scale":
        value = str(rng.choice(["nan", "inf", "-inf", "1e999", "NaN", "-nan"]))
        d = ctx.scratch()
        return expect_refusal(run_cli(*sample, "--guidance", "cfg", "--scale", value, "-o", d / "x.png"))
    if kind == "NaN in record":
        d = ctx.scratch()
        first = run_cli(*sample, "--guidance", "cfg", "--scale", "2", "--metadata", "-o", d / "a.png")
        if first.code != 0:
            return judged(first, "the clean run failed")
        record = json.loads((d / "a.json").read_text())
        field = [("guidance", "scale"), ("guidance", "t_min"), ("guidance", "t_max"), ("sampler", "num_steps"),
                 ("sampler", "diffusion_norm"), ("seed",), ("batch", "row"), ("batch", "num_images")]
        path = field[int(rng.integers(len(field)))]
        node = record
        for p in path[:-1]:
            node = node[p]
        node[path[-1]] = float(rng.choice([np.nan, np.inf, -np.inf]))
        (d / "a.json").write_text(json.dumps(record))
        out = run_cli("sample", "--from-metadata", d / "a.json", "-q", "-o", d / "b.png")
        if out.code == 0:
            return judged(out, "" if np.array_equal(pixels(d / "b.png"), pixels(d / "a.png")) else
                          "a record with a non-finite value made a different image")
        return out
    if kind in ("overflowing weights", "overflow --allow-nonfinite", "verify overflow"):
        w = {k: v.copy() for k, v in ctx.dit_weights.items()}
        for k in w:  # finite weights whose products overflow float32
            if k.startswith("final_layer") or k.endswith("linear.weight"):
                w[k] = (np.sign(w[k]) + (w[k] == 0)).astype(np.float32) * np.float32(3e37)
        folder = ctx.dit_folder(w, fmt)
        if kind == "verify overflow":
            if fmt == "pt":
                out = run_cli("convert", folder / "model.pt", folder.parent / "conv", "--verify", "--config-json",
                              folder / "config.json")
            else:
                out = run_cli("convert", folder, folder.parent / "conv", "--verify")
            return expect_refusal(out, mentions="NaN or Inf")
        if kind == "overflowing weights":
            out = run_cli(*sample, "--model", folder, "-o", folder.parent / "x.png")
            gone = not (folder.parent / "x.png").exists()
            return judged(expect_refusal(out, mentions="NaN or Inf"), "" if gone else "an image was written")
        out = run_cli(*sample, "--model", folder, "-o", folder.parent / "x.png", "--allow-nonfinite")
        written = (folder.parent / "x.png").exists() and "warning:" in out.stderr
        return judged(out, "" if written or out.code != 0 else "--allow-nonfinite did not write with a warning")
    if kind == "reconstruct overflow":  # a decoder whose finite weights overflow: no black reconstruction
        import torch

        d = ctx.scratch()
        w = tiny.random_weights(tiny.DECODER, 3)
        for k in w:
            if k.endswith(("dense.weight", "decoder_pred.weight")):
                w[k] = np.full_like(w[k], 3e37)
        (d / "dec").mkdir()
        torch.save({k: torch.from_numpy(v) for k, v in w.items()}, d / "dec" / "model.pt")
        presets = tiny.presets_override()
        presets["models"]["decoder-dinov2-b-xl-256"].update(repo=str(d / "dec"), filename="model.pt")
        (d / "presets.json").write_text(json.dumps(presets))
        first = run_cli("sample", "--class", "1", "--seed", "0", "--steps", "2", "-q", "--backend", "torch",
                        "-o", d / "in.png")
        if first.code != 0:
            return judged(first, "the clean run failed")
        out = run_cli("reconstruct", d / "in.png", "-q", "--backend", backend, "--presets", d / "presets.json",
                      "-o", d / "rec.png")
        return judged(expect_refusal(out, mentions="NaN or Inf"),
                      "" if not (d / "rec.png").exists() else "a reconstruction was written")
    if kind == "non-finite stats":
        from safetensors.numpy import save_file

        d = ctx.scratch()
        var = rng.uniform(0.5, 2, tiny.STATS.shape).astype(np.float32)
        var.reshape(-1)[int(rng.integers(var.size))] = rng.choice([np.nan, np.inf, -5.0])
        save_file({"var": var}, str(d / "stats.safetensors"))
        from rae_apps.errors import UserError  # noqa: F401  (the loaders raise CheckpointError, a user error)

        loader = __import__("rae_torch" if backend == "torch" else "rae_mlx")
        out, _ = run_call(lambda: loader.load_stats(d / "stats.safetensors", tiny.STATS.shape))
        return expect_refusal(out)
    # a 16-bit grayscale PNG: read over its full range, not clipped to white
    d = ctx.scratch()
    values = rng.integers(0, 65536, (int(rng.integers(12, 40)), int(rng.integers(12, 40))), dtype=np.uint16)
    (d / "g16.png").write_bytes(craft.png16_gray(values))
    from rae_apps.images import load_rgb

    out, image = run_call(lambda: np.asarray(load_rgb(d / "g16.png")))
    want = np.rint(values / 257.0).astype(np.uint8)
    ok = image is not None and all(np.array_equal(image[..., c], want) for c in range(3))
    return judged(out, "" if ok else "a 16-bit PNG was not read over its full range")


# ---------------------------------------------------------------------------------------------- user files


FILE_KINDS = ("sidecar json", "convert folder", "latents npy", "foreign png", "other job png", "same job png",
              "overwrite flag", "folder as output", "parent is a file", "read-only place", "disk full",
              "train run config")


def user_files(ctx: Context, rng: np.random.Generator, n: int) -> Iterator[Case]:
    """Outputs never replace a user's file without --overwrite; bad output places fail before any work."""
    for i in range(n):
        kind = FILE_KINDS[i % len(FILE_KINDS)]
        seed = int(rng.integers(2**31))
        yield Case("user files", kind, partial(_user_file, ctx, kind, np.random.default_rng(seed), i))


def _untouched(path: Path, content: bytes) -> str:
    return "" if path.is_file() and path.read_bytes() == content else f"{path} was changed or removed"


def _user_file(ctx: Context, kind: str, rng: np.random.Generator, i: int) -> Outcome:
    d = ctx.scratch()
    user = bytes(rng.integers(0, 256, int(rng.integers(1, 200)), dtype=np.uint8))
    seed = str(int(rng.integers(0, 1000)))
    sample = ("sample", "--class", "1", "--seed", seed, "--steps", "2", "-q", "--backend", "torch")
    if kind == "sidecar json":
        (d / "img.json").write_bytes(user)
        out = run_cli(*sample, "--metadata", "-o", d / "img.png")
        return judged(expect_refusal(out, mentions="--overwrite"), _untouched(d / "img.json", user))
    if kind == "convert folder":
        (d / "dst").mkdir()
        (d / "dst" / "model.safetensors").write_bytes(user)
        out = run_cli("convert", ctx.clean_pt, d / "dst", "--model", "dit-dh-xl-256")
        return judged(expect_refusal(out, mentions="--overwrite"), _untouched(d / "dst" / "model.safetensors", user))
    if kind == "latents npy":
        first = run_cli(*sample, "-o", d / "img.png")
        if first.code != 0:
            return judged(first, "the clean run failed")
        (d / "rec.npy").write_bytes(user)
        out = run_cli("reconstruct", d / "img.png", "-o", d / "rec.png", "--save-latents", "-q", "--backend", "torch")
        return judged(expect_refusal(out, mentions="--overwrite"), _untouched(d / "rec.npy", user))
    if kind in ("foreign png", "other job png", "same job png", "overwrite flag"):
        target = d / "img.png"
        if kind == "foreign png":
            target.write_bytes(craft.png(2, 2, 8, 2, bytes(14)))
        else:
            other = str(int(seed) + 1) if kind == "other job png" else seed
            first = run_cli("sample", "--class", "1", "--seed", other, "--steps", "2", "-q", "--backend", "torch",
                            "-o", target)
            if first.code != 0:
                return judged(first, "the clean run failed")
        before = target.read_bytes()
        extra = ("--overwrite",) if kind == "overwrite flag" else ()
        out = run_cli(*sample, "-o", target, *extra)
        if kind in ("same job png", "overwrite flag"):
            return judged(out, "" if out.code == 0 and target.is_file() else "the image was not written")
        return judged(expect_refusal(out, mentions="--overwrite"), _untouched(target, before))
    if kind == "train run config":  # training into the folder that holds the user's own config.yaml
        import yaml

        from rae_torch.train.cli import train_cli

        data = _train_assets(ctx)
        cfg = {"model": {"type": "DiTDHConfig", "input_size": 4, "in_channels": 16, "hidden_size": [32, 48],
                         "depth": [1, 1], "num_heads": [2, 2], "num_classes": 3},
               "encoder": str(data["encoder"]), "encoder_input_size": 32,
               "data": {"path": str(data["data"]), "image_size": 32, "num_workers": 0},
               "train": {"global_batch_size": 4, "max_steps": 1, "progress": False, "tensorboard": False}}
        text = f"# my run, seed {seed}\n" + yaml.safe_dump(cfg)
        (d / "config.yaml").write_text(text)
        out = run_cli("stage2", "--config", d / "config.yaml", "--output-dir", d, cli=train_cli, limit=60)
        return judged(expect_refusal(out, mentions="--overwrite"), _untouched(d / "config.yaml", text.encode()))
    if kind == "folder as output":
        (d / "out").mkdir()
        return expect_refusal(run_cli(*sample, "-o", f"{d / 'out'}/"), within=1.0)
    if kind == "parent is a file":
        (d / "file").write_bytes(user)
        out = run_cli(*sample, "-o", d / "file" / "x.png")
        return judged(expect_refusal(out, within=1.0), _untouched(d / "file", user))
    if kind == "read-only place":
        place = _read_only_dir(d)
        return expect_refusal(run_cli(*sample, "-o", place / "x.png"), within=1.0)
    # disk full while writing the PNG: one line naming the file, no temporary file left
    from PIL import Image

    def full(self, fp, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    with mock.patch.object(Image.Image, "save", full):
        out = run_cli(*sample, "-o", d / "img.png")
    problem = "" if not leftovers(d) else f"left {leftovers(d)}"
    return judged(expect_refusal(out, mentions=str(d / "img.png")), problem)


def _read_only_dir(d: Path) -> Path:
    """A folder no file can be created in: /sys when running as root (which ignores permission bits)."""
    if os.geteuid() == 0 and Path("/sys").is_dir():
        return Path("/sys")
    ro = d / "read-only"
    ro.mkdir()
    ro.chmod(0o500)
    return ro


# ---------------------------------------------------------------------------------------------- interrupts


INTERRUPT_KINDS = ("sample", "grid", "reconstruct", "convert", "kill -9 leftovers", "corrupt checkpoint")


def interrupts(ctx: Context, rng: np.random.Generator, n: int, training: bool = True) -> Iterator[Case]:
    """SIGTERM acts like Ctrl-C for every command (exit 143, nothing partial left); training resumes from
    the newest valid checkpoint and removes orphan temporary files."""
    kinds = INTERRUPT_KINDS if training else INTERRUPT_KINDS[:-1]
    for i in range(n):
        kind = kinds[i % len(kinds)]
        seed = int(rng.integers(2**31))
        yield Case("interrupts and crashes", kind, partial(_interrupt, ctx, kind, np.random.default_rng(seed), i))


def _terminate_after(count: int):
    calls = {"n": 0}

    def hit(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == count:
            os.kill(os.getpid(), signal.SIGTERM)
    return hit


def _interrupt(ctx: Context, kind: str, rng: np.random.Generator, i: int) -> Outcome:
    d = ctx.scratch()
    if kind == "corrupt checkpoint":
        return _resume_case(ctx, rng, d)
    if kind == "kill -9 leftovers":
        return _leftovers_case(ctx, rng, d)
    k = int(rng.integers(1, 4))
    if kind in ("sample", "grid"):
        from rae_apps import sample as sample_cmd

        extra = ("--grid",) if kind == "grid" else ()
        with mock.patch.object(sample_cmd.Bars, "step", _terminate_after(k)):
            out = run_cli("sample", "--class", "1", "--class", "2", "--seed", "0", "--steps", "5", "-q",
                          "--backend", str(rng.choice(["torch", "mlx"])), "-o", d / "x.png", *extra)
    elif kind == "reconstruct":
        from rae_apps.images import save_png

        run_cli("sample", "--class", "1", "--seed", "0", "--steps", "2", "-q", "--backend", "torch", "-o", d / "in.png")
        with mock.patch("rae_apps.reconstruct.save_png", side_effect=lambda *a, **kw: (
                os.kill(os.getpid(), signal.SIGTERM), save_png(*a, **kw))):
            out = run_cli("reconstruct", d / "in.png", "-o", d / "rec.png", "-q", "--backend", "torch")
    else:
        import rae_spec.files as files

        real = files.os.fsync

        def fsync(fd):
            _terminate_after(1)()
            real(fd)
        with mock.patch.object(files.os, "fsync", fsync):
            out = run_cli("convert", ctx.clean_pt, d / "out", "--model", "dit-dh-xl-256")
    written = [p.name for p in d.rglob("*") if p.is_file() and p.name not in ("in.png",)]
    problem = "" if out.code == 143 else f"exit {out.code} instead of 143: {out.stderr[-200:]}"
    problem = problem or ("" if not leftovers(d) else f"left {leftovers(d)}")
    problem = problem or ("" if kind != "convert" or not (d / "out" / "model.safetensors").exists()
                          else "a partial model folder was left")
    problem = problem or ("" if kind not in ("sample", "grid") or not written else f"wrote {written}")
    return Outcome(0 if not problem else out.code, out.stderr, out.seconds, out.rss_growth, problem)


def _dead_pid() -> int:
    import subprocess

    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def _leftovers_case(ctx: Context, rng: np.random.Generator, d: Path) -> Outcome:
    """What a kill -9 leaves (temporary files of a dead writer, beside an image or in a model folder) is
    removed by the next run of the same command, which then succeeds; a live writer's file is kept."""
    pid = _dead_pid()
    tag = "".join(rng.choice(list("abcdefghijk0123456789"), 8))
    if rng.random() < 0.5:
        stale = d / f".x.png.rae{pid}-{tag}.tmp"
        live = d / f".x.png.rae{os.getpid()}-{tag}.tmp"
        stale.write_bytes(b"partial")
        live.write_bytes(b"partial")
        out = run_cli("sample", "--class", "1", "--seed", "0", "--steps", "2", "-q", "--backend", "torch",
                      "-o", d / "x.png")
        if not live.exists():
            out.problem = "a running writer's temporary file was removed"
        live.unlink(missing_ok=True)
    else:
        (d / "out").mkdir()
        stale = d / "out" / f".model.safetensors.rae{pid}-{tag}.tmp"
        stale.write_bytes(b"partial")
        out = run_cli("convert", ctx.clean_pt, d / "out", "--model", "dit-dh-xl-256")
    if out.code == 0 and stale.exists():
        out.problem = f"{stale.name} was left in place"
    return out


def _resume_case(ctx: Context, rng: np.random.Generator, d: Path) -> Outcome:
    """A stage-2 run saved at steps 2 and 4; the newest is then damaged (truncated, random bytes, a pickle
    that needs code, or not a checkpoint at all) and an orphan temp file is left. Resuming must warn, set the
    bad file aside, continue from step 2 and finish; the result must equal an undisturbed run."""
    import torch

    from rae_torch.train import checkpoints as ckpt
    from rae_torch.train.config import load_config
    from rae_torch.train.stage2 import train_stage2

    data = _train_assets(ctx)
    base = dict(output_dir=str(d / "run"), model=dict(type="DiTDHConfig", input_size=4, in_channels=16,
                                                        hidden_size=[32, 48], depth=[1, 1], num_heads=[2, 2],
                                                        num_classes=3),
                encoder=str(data["encoder"]), encoder_input_size=32, decoder=str(data["decoder"]),
                sampler=dict(num_steps=4), data=dict(path=str(data["data"]), image_size=32, num_workers=0),
                train=dict(global_batch_size=4, max_steps=4, log_every=2, checkpoint_every=2, progress=False,
                           tensorboard=False, seed=3, sample_every=0))
    train_stage2(load_config("stage2", data=base))
    newest = ckpt.checkpoint_path(d / "run", 4)
    how = str(rng.choice(["truncate", "random", "code", "not-a-checkpoint"]))
    if how == "truncate":
        newest.write_bytes(newest.read_bytes()[: int(rng.integers(10, newest.stat().st_size - 10))])
    elif how == "random":
        newest.write_bytes(bytes(rng.integers(0, 256, 4096, dtype=np.uint8)))
    elif how == "code":
        torch.save({"model": {}, "step": 4, "evil": Exception("x")}, newest)
    else:
        torch.save({"hello": torch.zeros(2)}, newest)
    orphan = ckpt.checkpoint_dir(d / "run") / ".step-0000006.pt.x1y2.tmp"
    orphan.write_bytes(b"partial")
    base6 = {**base, "train": {**base["train"], "max_steps": 6}}
    out, _ = run_call(lambda: train_stage2(load_config("stage2", data=base6)))
    straight = {**base6, "output_dir": str(d / "straight")}
    train_stage2(load_config("stage2", data=straight))
    a = ckpt.load(ckpt.checkpoint_path(d / "run", 6))
    b = ckpt.load(ckpt.checkpoint_path(d / "straight", 6))
    same = all(_equal(a[k], b[k]) for k in ("model", "ema", "optimizer"))
    problem = "" if same else f"resuming past a damaged checkpoint ({how}) did not continue from step 2"
    problem = problem or ("" if not orphan.exists() else "the orphan temp file was not removed")
    problem = problem or ("" if (newest.parent / (newest.name + ".corrupt")).exists() else "not set aside")
    out.problem = problem
    out.stderr = out.stderr or f"resumed past a {how} checkpoint"
    return out


def _equal(a, b) -> bool:
    import torch

    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_equal(x, y) for x, y in zip(a, b, strict=True))
    return a == b


_ASSETS: dict[str, dict] = {}


def _train_assets(ctx: Context) -> dict[str, Path]:
    if "a" not in _ASSETS:
        import torch

        from rae_spec import DecoderConfig, EncoderConfig
        from rae_torch.decoder import ViTDecoder
        from rae_torch.train.export import save_model_folder

        from ..toy import make_image_folder, save_random_encoder

        root = ctx.root / "train-assets"
        make_image_folder(root / "data", classes=3, per_class=4, size=(40, 36))
        save_random_encoder(EncoderConfig(kind="dinov2", hidden_size=16, num_layers=1, num_heads=2,
                                          intermediate_size=32, patch_size=8, image_size=32), root / "encoder", seed=1)
        torch.manual_seed(2)
        dec = DecoderConfig(hidden_size=32, num_layers=1, num_heads=2, intermediate_size=64, latent_dim=16,
                            num_patches=16, patch_size=8)
        save_model_folder(ViTDecoder(dec).state_dict(), dec, root / "decoder")
        _ASSETS["a"] = {"data": root / "data", "encoder": root / "encoder", "decoder": root / "decoder"}
    return _ASSETS["a"]


# ---------------------------------------------------------------------------------------------- input errors


INPUT_KINDS = ("forged record", "bad YAML value", "malformed safetensors", "image bomb", "permission",
               "train config", "train resume", "debug traceback")


def input_errors(ctx: Context, rng: np.random.Generator, n: int) -> Iterator[Case]:
    """Input errors of every kind: exit 2 and one line (a clean run is fine too where the input is valid)."""
    for i in range(n):
        kind = INPUT_KINDS[i % len(INPUT_KINDS)]
        seed = int(rng.integers(2**31))
        yield Case("input errors (exit 2)", kind, partial(_input_error, ctx, kind, np.random.default_rng(seed), i))


FORGERIES = ["model:/dev/zero", "model:/etc/hostname", "model:fifo", "model:wrong-sha", "model:empty-dir",
             "config:/dev/zero", "config:fifo", "config:edited", "source:list", "batch:missing", "seed:text",
             "seed:negative", "classes:huge", "num_images:huge", "batch_size:huge", "sampler:list", "format:other",
             "files:text", "steps:huge", "guidance:bogus"]


def _input_error(ctx: Context, kind: str, rng: np.random.Generator, i: int) -> Outcome:
    d = ctx.scratch()
    if kind == "forged record":
        return _forged(ctx, FORGERIES[int(rng.integers(len(FORGERIES)))], d)
    if kind == "bad YAML value":
        cfg = tiny.sampling_yaml(ctx.world.files, num_steps=3)
        leaves = list(_leaves(cfg))
        path = leaves[int(rng.integers(len(leaves)))]
        value = [{"a": 1}, [1, 2], "abc", -1, float("inf"), None, True, 10**30, 1e-30][int(rng.integers(9))]
        node = cfg
        for p in path[:-1]:
            node = node[p]
        node[path[-1]] = value
        tiny.write_yaml(d / "c.yaml", cfg)
        out = run_cli("info", d / "c.yaml") if i % 2 else \
            run_cli("sample", "--config", d / "c.yaml", "--class", "1", "--seed", "0", "-q", "-o", d / "x.png")
        return out
    if kind == "malformed safetensors":
        what, data = craft.bad_header(rng)
        folder = d / "dit"
        folder.mkdir()
        (folder / "config.json").write_text(to_json(tiny.DIT))
        (folder / "model.safetensors").write_bytes(data)
        route = i % 3
        if route == 0:
            out = run_cli("info", folder / "model.safetensors")
        else:
            out = run_cli("sample", "--model", folder, "--class", "1", "--seed", "0", "-q", "--backend",
                          ("torch", "mlx")[route - 1])
        mentions = "unsupported dtype" if what == "fp8" else ""
        return expect_refusal(out, mentions=mentions)
    if kind == "image bomb":
        (d / "bomb.png").write_bytes(craft.png_bomb(rng))
        return expect_refusal(run_cli("reconstruct", d / "bomb.png", "-q"), within=1.0)
    if kind == "permission":
        place = _read_only_dir(d)
        route = i % 3
        if route == 0:
            out = run_cli("convert", ctx.clean_pt, place / "out", "--model", "dit-dh-xl-256")
        elif route == 1:
            out = run_cli("reconstruct", ctx.world.root / "none.png", "-o", place / "r.png")
        else:
            (d / "secret.yaml").write_text("a: 1")
            (d / "secret.yaml").chmod(0o000)
            out = run_cli("info", d / "secret.yaml") if os.geteuid() != 0 else \
                run_cli("sample", "--class", "1", "--seed", "0", "-q", "-o", place / "x.png")
        return expect_refusal(out)
    if kind in ("train config", "train resume"):
        from rae_torch.train.cli import train_cli

        data = _train_assets(ctx)
        cfg = {"output_dir": str(d / "run"), "model": {"type": "DiTDHConfig", "input_size": 4, "in_channels": 16,
                                                         "hidden_size": [32, 48], "depth": [1, 1],
                                                         "num_heads": [2, 2], "num_classes": 3},
               "encoder": str(data["encoder"]), "encoder_input_size": 32, "decoder": str(data["decoder"]),
               "data": {"path": str(data["data"]), "image_size": 32, "num_workers": 0},
               "train": {"global_batch_size": 4, "max_steps": 1, "progress": False, "tensorboard": False}}
        if kind == "train config":
            broken = [("train", "max_stepz", 3), ("train", "global_batch_size", "eight"), ("data", "path", "/nope"),
                      ("model", "depth", [1, 10**9]), ("train", "precision", "fp8"), ("encoder", None, "missing"),
                      ("model", "hidden_size", {"a": 1}), ("schedule", "type", "zigzag")]
            block, key, value = broken[int(rng.integers(len(broken)))]
            if key is None:
                cfg[block] = value
            else:
                cfg.setdefault(block, {})[key] = value
        else:
            (d / "run" / "checkpoints").mkdir(parents=True)
            import torch

            torch.save({"model": {}, "step": 3, "stage": "stage1"}, d / "run" / "checkpoints" / "step-0000003.pt")
        import yaml

        (d / "c.yaml").write_text(yaml.safe_dump(cfg))
        return expect_refusal(run_cli("stage2", "--config", d / "c.yaml", cli=train_cli, limit=60))
    # --debug keeps the traceback (and is then more than one line, on purpose: judged here)
    out = run_cli("--debug", "sample", "--class", "1", "--seed", "0", "-q", "--model", d / "missing")
    shown = out.code == 2 and "Traceback" in out.stderr and out.stderr.strip().splitlines()[-1].startswith("error: ")
    return Outcome(2 if shown else out.code, out.stderr.strip().splitlines()[-1] if shown else out.stderr,
                   out.seconds, out.rss_growth, "" if shown else "--debug showed no traceback")


def _leaves(node, prefix=()):
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _leaves(v, (*prefix, k))
    elif isinstance(node, list):
        for j, v in enumerate(node):
            yield from _leaves(v, (*prefix, j))
    else:
        yield prefix


_RECORD: dict[str, dict] = {}


def _forged(ctx: Context, forgery: str, d: Path) -> Outcome:
    if "r" not in _RECORD:
        first = run_cli("sample", "--class", "1", "--seed", "0", "--steps", "2", "-q", "--backend", "torch",
                        "--metadata", "--model", ctx.clean_folder, "-o", d / "a.png")
        assert first.code == 0, first.stderr
        _RECORD["r"] = json.loads((d / "a.json").read_text())
    record = json.loads(json.dumps(_RECORD["r"]))
    field, what = forgery.split(":")
    if field in ("model", "config"):
        if what == "fifo":
            value = str(d / "pipe")
            os.mkfifo(value)
        elif what == "wrong-sha":
            value = str(shutil.copyfile(ctx.clean_folder / "model.pt", d / "other.pt"))
            (d / "config.json").write_text(to_json(tiny.DIT))
            record["files"]["dit"]["sha256"] = "0" * 64
        elif what == "empty-dir":
            value = str(d)
        elif what == "edited":
            value = str(d / "c.yaml")
            (d / "c.yaml").write_text("stage_1: {}\n")
        else:
            value = what
        record["source"] = {field: value}
    elif field == "source":
        record["source"] = ["preset"]
    elif field == "batch":
        del record["batch"]
    elif field in ("seed",):
        record["seed"] = "zero" if what == "text" else -5
    elif field in ("classes", "num_images", "batch_size"):
        if field == "classes":
            record["batch"]["classes"] = list(range(1000)) * 50
        else:
            record["batch"][field] = 10**9
    elif field == "sampler":
        record["sampler"] = [1, 2]
    elif field == "steps":
        record["sampler"]["num_steps"] = 10**9
    elif field == "files":
        record["files"] = "abc"
    elif field == "guidance":
        record["guidance"]["method"] = "bogus"
    else:
        record["format"] = "other/1"
    (d / "forged.json").write_text(json.dumps(record))
    return expect_refusal(run_cli("sample", "--from-metadata", d / "forged.json", "-q", "-o", d / "b.png"),
                          within=2.0)


CATEGORIES: dict[str, Callable[..., Iterator[Case]]] = {
    "integrity": integrity,
    "resource limits": resources,
    "garbage (NaN / Inf / dtype)": garbage,
    "user files": user_files,
    "interrupts and crashes": interrupts,
    "input errors (exit 2)": input_errors,
}


# ---------------------------------------------------------------------------------------------- fuzz


def mutate(data: bytes, rng: np.random.Generator, hot: int = 4096) -> bytes:
    """One seeded mutation: bit flips, overwritten / inserted / deleted bytes, a truncation or a duplicated
    slice; half of them aimed at the first and last `hot` bytes (headers, pickles, zip directories)."""
    b = bytearray(data)
    n = len(b)

    def where() -> int:
        if rng.random() < 0.5 and n > 2 * hot:
            pos = int(rng.integers(0, 2 * hot))
            return pos if pos < hot else n - 2 * hot + pos
        return int(rng.integers(0, n))

    op = int(rng.integers(6))
    if op == 0:
        for _ in range(int(rng.integers(1, 9))):
            p = where()
            b[p] ^= 1 << int(rng.integers(8))
    elif op == 1:
        for _ in range(int(rng.integers(1, 5))):
            b[where()] = int(rng.choice([0, 0xFF, 0x7F, 0x80, 0x30, 0x39, int(rng.integers(256))]))
    elif op == 2:
        p = where()
        b[p:p] = bytes(rng.integers(0, 256, int(rng.integers(1, 16)), dtype=np.uint8))
    elif op == 3:
        p = where()
        del b[p:p + int(rng.integers(1, 64))]
    elif op == 4:
        b = b[: where()]
    else:
        p = where()
        q = min(n, p + int(rng.integers(1, 256)))
        b[q:q] = b[p:q]
    return bytes(b)


class FuzzBase:
    """The valid files mutated: a tiny DiT as .pt and as safetensors, the sampling YAML, a sample PNG."""

    def __init__(self, ctx: Context):
        from safetensors.numpy import save_file

        d = ctx.scratch()
        self.pt = (ctx.clean_folder / "model.pt").read_bytes()
        save_file(ctx.dit_weights, str(d / "m.safetensors"))
        self.safetensors = (d / "m.safetensors").read_bytes()
        self.yaml = tiny.write_yaml(d / "c.yaml", tiny.sampling_yaml(ctx.world.files, num_steps=3)).read_bytes()
        out = run_cli("sample", "--class", "1", "--seed", "0", "--steps", "2", "-q", "--backend", "torch",
                      "-o", d / "s.png")
        assert out.code == 0, out.stderr
        self.png = (d / "s.png").read_bytes()


_FUZZ: dict[int, FuzzBase] = {}


def fuzz(ctx: Context, rng: np.random.Generator, n: int,
         formats: tuple[str, ...] = ("pt", "safetensors", "yaml", "png")) -> Iterator[Case]:
    """Seeded byte mutations of a valid .pt, safetensors, YAML and PNG, each read by the CLI: every one
    ends in a clean result or a one-line error with exit 2."""
    if id(ctx) not in _FUZZ:
        _FUZZ[id(ctx)] = FuzzBase(ctx)
    base = _FUZZ[id(ctx)]
    for i in range(n):
        fmt = formats[i % len(formats)]
        seed = int(rng.integers(2**31))
        yield Case("fuzz (mutated files)", f"{fmt} #{i}", partial(_fuzz_one, ctx, base, fmt, seed, i // len(formats)))


def _fuzz_one(ctx: Context, base: FuzzBase, fmt: str, seed: int, k: int) -> Outcome:
    rng = np.random.default_rng(seed)
    d = ctx.scratch()
    data = mutate(getattr(base, fmt), rng)
    route = k % 3
    if fmt in ("pt", "safetensors"):
        folder = d / "dit"
        folder.mkdir()
        (folder / "config.json").write_text(to_json(tiny.DIT))
        name = "model.pt" if fmt == "pt" else "model.safetensors"
        (folder / name).write_bytes(data)
        if route == 0:
            out = run_cli("info", folder / name)
        else:
            out = run_cli("sample", "--model", folder, "--class", "1", "--seed", "0", "--steps", "2", "-q",
                          "--backend", ("torch", "mlx")[route - 1], "-o", d / "x.png")
    elif fmt == "yaml":
        (d / "c.yaml").write_bytes(data)
        out = run_cli("info", d / "c.yaml") if route else \
            run_cli("sample", "--config", d / "c.yaml", "--class", "1", "--seed", "0", "--steps", "2", "-q",
                    "-o", d / "x.png")
    else:
        (d / "m.png").write_bytes(data)
        out = run_cli("sample", "--from-metadata", d / "m.png", "-q", "-o", d / "x.png") if route else \
            run_cli("reconstruct", d / "m.png", "-q", "-o", d / "x.png", "--backend", "torch")
    writes = (fmt in ("pt", "safetensors") and route) or (fmt == "yaml" and not route) or fmt == "png"
    if out.code == 0 and writes and not (d / "x.png").is_file():
        out.problem = "exit 0 without the image"
    return out


CATEGORIES["fuzz (mutated files)"] = fuzz
