"""`rae sample-fid`: the 50k-sample batch an FID needs, deterministic, sharded and resumable.

The set of images is a function of the plan alone (pipeline files and settings, N, seed, labels, shard
size): sample i has label `labels[i]` and noise `np.random.default_rng([0, seed, i])`, so neither the
GPU count, the batch size, the shard split nor the backend chooses its noise. DIR receives, in order:
- plan.json (everything that defines the set, with its sha256) and labels.npy;
- shards/shard-KKKKK.npz: images [k * size, (k + 1) * size) as uint8 NHWC, each written atomically with
  the plan's hash, so a rerun skips the shards it finds and a run with another plan is refused;
- samples.npz when every shard exists: ADM's format (arr_0 = N x H x W x 3 uint8, arr_1 = the labels, as
  ADM's class-conditional samplers write them and its super-resolution sampler reads them), streamed
  from the shards (never whole in memory) with fixed zip timestamps: the same bytes whatever the split.

Processes split the shards: under torchrun rank r of w takes shards k with k % w == r; `--shard i/n` does
the same without a process group (several machines, a SLURM array). Both combine (slot i * w + r of n * w).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np

from rae_spec import npz
from rae_spec.files import sha256_file, write_bytes, write_text
from rae_spec.noise import per_sample_noise
from rae_spec.step_state import StepState

from . import __version__
from .engines import auto_reason, check_quantize, choose_backend, make_engine
from .errors import UserError
from .hub import Store
from .images import save_png
from .job import Listener, Plan, SampleJob, generate, plan_job
from .options import (
    backend_options,
    debug_option,
    models_dir_option,
    output_options,
    parse_interval,
    pipeline_options,
    presets_option,
)
from .plan import Item
from .progress import bar
from .registry import load_registry

FORMAT = "rae-sample-fid/1"
NOISE = "sample i: numpy.random.default_rng([0, seed, i]).standard_normal((C, H, W), float32); the SDE continues it"
LABELS = "labels = base[numpy.random.default_rng([1, seed]).permutation(N)] (equal, FILE); random: " \
         "numpy.random.default_rng([1, seed]).integers(0, num_classes, N)"

EXAMPLES = """
\b
Examples:
  rae sample-fid --preset dit-dh-xl-256-ag --output fid50k/            # 50,000 images, 50 per class
  torchrun --nproc_per_node=8 -m rae_apps.cli sample-fid --output fid50k/ --batch-size 64
  rae sample-fid --output fid50k/ --shard 0/4      # this machine's quarter (run 1/4, 2/4, 3/4 elsewhere)
  rae sample-fid --preset digits-demo -n 100 --output digits/ --png
"""


@click.command("sample-fid", epilog=EXAMPLES)
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder for plan.json, labels.npy, shards/ and samples.npz (a rerun resumes there).")
@click.option("-n", "--num-samples", type=click.IntRange(1, 10_000_000), default=50_000, show_default=True,
              help="Number of images.")
@click.option("--labels", "labels_mode", default="equal", show_default=True, metavar="equal|random|FILE.npy",
              help="equal: N / classes per class (they must divide); random: uniform draws; FILE.npy: N class ids. "
                   "Shuffled by the seed.")
@click.option("--seed", type=click.IntRange(0, 2**63 - 1), default=0, show_default=True,
              help="Seed of the labels' order and of every sample's noise.")
@pipeline_options
@backend_options
@click.option("--batch-size", type=click.IntRange(1), default=16, show_default=True,
              help="Images per forward pass: never changes the noise, but batched matmuls round differently, so "
                   "keep it (and the backend) when resuming or splitting for byte-identical results.")
@click.option("--shard-size", type=click.IntRange(1), default=250, show_default=True,
              help="Images per shard file (the unit of resuming and of splitting between processes).")
@click.option("--shard", "shard_spec", default=None, metavar="I/N",
              help="Make only shards k with k % N == I (split the work between machines).")
@click.option("--png", is_flag=True, help="Also write every image as DIR/png/NNNNNN.png.")
@models_dir_option
@presets_option
@output_options
@debug_option
def sample_fid(**o: Any) -> None:
    """Sample an FID batch: N images with exact class counts, reproducible whatever the split.

    Writes DIR/samples.npz for `rae eval REF.npz DIR/samples.npz --inception FILE`. Interrupt it at any
    time: run the same command again and it goes on from the shards it finds.
    """
    run(o)


def _echo(message: str) -> None:
    click.echo(message, err=True)


# ---------------------------------------------------------------------------------------------- the plan


def parse_shard(text: str | None) -> tuple[int, int]:
    """`--shard I/N` -> (I, N); None -> (0, 1)."""
    if text is None:
        return 0, 1
    try:
        i, n = (int(v) for v in text.split("/"))
    except ValueError as e:
        raise UserError(f"--shard must be I/N (e.g. 0/4), got {text!r}") from e
    if not 0 <= i < n:
        raise UserError(f"--shard I/N needs 0 <= I < N, got {text!r}")
    return i, n


def process_slot(shard: tuple[int, int]) -> tuple[int, int]:
    """(slot, slots) of this process: --shard i/n combined with torchrun's RANK / WORLD_SIZE."""
    world, rank = int(os.environ.get("WORLD_SIZE", "1")), int(os.environ.get("RANK", "0"))
    if not 0 <= rank < world:
        raise UserError(f"RANK={rank} is not below WORLD_SIZE={world}")
    return shard[0] * world + rank, shard[1] * world


def make_labels(mode: str, n: int, num_classes: int, seed: int) -> tuple[np.ndarray, dict[str, Any]]:
    """(labels (N,) int64, their description for the plan)."""
    rng = np.random.default_rng([1, seed])
    if mode == "random":
        return rng.integers(0, num_classes, n).astype(np.int64), {"mode": "random"}
    if mode == "equal":
        if n % num_classes:
            raise UserError(f"--labels equal needs --num-samples divisible by the {num_classes} classes "
                            f"(e.g. {num_classes * max(1, round(n / num_classes))}), got {n}; or use --labels random")
        base = np.repeat(np.arange(num_classes, dtype=np.int64), n // num_classes)
        return base[rng.permutation(n)], {"mode": "equal", "per_class": n // num_classes}
    path = Path(mode)
    if path.suffix != ".npy" or not path.is_file():
        raise UserError(f"--labels must be equal, random or an existing .npy file of class ids, got {mode!r}")
    try:
        base = np.load(path, allow_pickle=False)
    except (ValueError, OSError) as e:
        raise UserError(f"{path} is not a readable .npy array ({e})") from e
    if base.ndim != 1 or base.dtype.kind not in "iu" or len(base) != n:
        raise UserError(f"{path} must hold {n} integer class ids (one per sample), got {base.shape} {base.dtype}")
    if base.size and (base.min() < 0 or base.max() >= num_classes):
        raise UserError(f"{path} holds class ids outside 0..{num_classes - 1}")
    return base.astype(np.int64)[rng.permutation(n)], {"mode": "file", "file": str(path.resolve()),
                                                       "file_sha256": sha256_file(path)}


@dataclass(frozen=True)
class FidPlan:
    """What defines the set of images; its sha256 names it."""

    spec: dict[str, Any]
    labels: np.ndarray
    image_size: tuple[int, int]

    @property
    def sha256(self) -> str:
        return hashlib.sha256(json.dumps(self.spec, sort_keys=True).encode()).hexdigest()

    @property
    def num_samples(self) -> int:
        return self.spec["num_samples"]

    @property
    def shard_size(self) -> int:
        return self.spec["shard_size"]

    @property
    def num_shards(self) -> int:
        return -(-self.num_samples // self.shard_size)

    def shard_range(self, k: int) -> tuple[int, int]:
        return k * self.shard_size, min((k + 1) * self.shard_size, self.num_samples)


def make_plan(o: dict[str, Any], plan: Plan) -> FidPlan:
    pipe = plan.pipe
    labels, label_info = make_labels(o["labels_mode"], o["num_samples"], pipe.num_classes, o["seed"])
    label_info["sha256"] = hashlib.sha256(labels.tobytes()).hexdigest()
    size = pipe.rae.image_size
    spec = {
        "format": FORMAT, "num_samples": o["num_samples"], "seed": o["seed"], "shard_size": o["shard_size"],
        "labels": label_info, "num_classes": pipe.num_classes, "noise": NOISE, "label_order": LABELS,
        "source": {k: str(v) for k, v in pipe.source.items()},
        "files": {role: entry["sha256"] for role, entry in plan.files.items()},
        "sampler": dataclasses.asdict(pipe.sampler), "guidance": dataclasses.asdict(pipe.guidance),
        "shift": pipe.shift, "latent_shape": list(pipe.latent_shape), "image_size": [size, size],
        "dtype": plan.job.dtype, "quantize": plan.job.quantize,
    }
    return FidPlan(spec, labels, (size, size))


def write_or_check_plan(folder: Path, fid: FidPlan) -> None:
    """plan.json and labels.npy first; an existing plan must be this one."""
    plan_file = folder / "plan.json"
    if plan_file.exists():
        try:
            old = json.loads(plan_file.read_text())
        except (OSError, ValueError) as e:
            raise UserError(f"{plan_file} is not readable JSON ({e}); use another --output") from e
        if old.get("plan_sha256") != fid.sha256:
            differs = sorted(k for k in set(old.get("plan", {})) | set(fid.spec) if old.get("plan", {}).get(k)
                             != json.loads(json.dumps(fid.spec)).get(k))
            raise UserError(f"{folder} holds another plan (it differs in: {', '.join(differs) or 'its hash'}); "
                            "use another --output, or the options that made it")
        return
    if folder.exists() and any(p.name != ".DS_Store" for p in folder.iterdir()):
        raise UserError(f"{folder} exists and holds files but no plan.json; give an empty or new --output folder")
    folder.mkdir(parents=True, exist_ok=True)
    buf = _npy_bytes(fid.labels)
    write_bytes(folder / "labels.npy", buf)
    record = {"plan_sha256": fid.sha256, "plan": fid.spec, "rae_version": __version__,
              "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    write_text(plan_file, json.dumps(record, indent=2) + "\n")


def _npy_bytes(array: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, array, allow_pickle=False)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------- shards


def shard_path(folder: Path, k: int) -> Path:
    return folder / "shards" / f"shard-{k:05d}.npz"


def shard_ok(folder: Path, fid: FidPlan, k: int) -> bool:
    """Whether shard k exists, belongs to this plan and holds the right number of images and labels."""
    path = shard_path(folder, k)
    if not path.is_file():
        return False
    lo, hi = fid.shard_range(k)
    try:
        if str(npz.load_small(path, "plan_sha256")) != fid.sha256:
            return False
        if not np.array_equal(npz.load_small(path, "labels"), fid.labels[lo:hi]):
            return False
        with npz.open_array(path, "images") as arr:
            return arr.shape == (hi - lo, *fid.image_size, 3) and arr.dtype == np.uint8
    except npz.NpzError:
        return False


def write_shard(folder: Path, fid: FidPlan, k: int, images: np.ndarray, engine_info: dict[str, Any],
                batch_size: int) -> None:
    lo, hi = fid.shard_range(k)
    made = json.dumps({**engine_info, "batch_size": batch_size, "rae_version": __version__}, sort_keys=True)
    npz.write_npz(shard_path(folder, k), [npz.whole("images", images), npz.whole("labels", fid.labels[lo:hi]),
                                          npz.whole("plan_sha256", np.array(fid.sha256)),
                                          npz.whole("made_by", np.array(made))])


def pack(folder: Path, fid: FidPlan) -> Path:
    """DIR/samples.npz from the shards in order, streamed; then DIR/samples.json (provenance)."""
    n = fid.num_samples

    def images():
        for k in range(fid.num_shards):
            with npz.open_array(shard_path(folder, k), "images") as arr:
                yield from arr.batches(256)

    out = folder / "samples.npz"
    npz.write_npz(out, [npz.Member("arr_0", (n, *fid.image_size, 3), np.dtype(np.uint8), images()),
                        npz.whole("arr_1", fid.labels)])
    made_by = sorted({str(npz.load_small(shard_path(folder, k), "made_by")) for k in range(fid.num_shards)})
    record = {"samples": "samples.npz", "plan_sha256": fid.sha256, "num_samples": n,
              "samples_sha256": sha256_file(out), "made_by": [json.loads(m) for m in made_by],
              "packed": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}
    write_text(folder / "samples.json", json.dumps(record, indent=2) + "\n")
    return out


def packed(folder: Path, fid: FidPlan) -> bool:
    try:
        record = json.loads((folder / "samples.json").read_text())
    except (OSError, ValueError):
        return False
    return record.get("plan_sha256") == fid.sha256 and (folder / "samples.npz").is_file()


@contextlib.contextmanager
def pack_lock(folder: Path):
    """Only one process packs (under torchrun every rank may find the shards complete at once)."""
    lock = folder / ".pack.lock"
    try:
        fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        yield False
        return
    try:
        os.write(fd, str(os.getpid()).encode())
        os.close(fd)
        yield True
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()


# ---------------------------------------------------------------------------------------------- running


class Progress(Listener):
    """One bar over this process's images (images/s and ETA) and one over the steps of the current batch."""

    def __init__(self, total: int, steps: int, quiet: bool):
        self.images = bar(total, "sample-fid", quiet, position=0, unit="img")
        self.steps_total, self.quiet, self.steps = steps, quiet, None

    def batch_started(self, index: int, count: int, chunk) -> None:
        self.steps = bar(self.steps_total, f"batch of {len(chunk)}", self.quiet, position=1)

    def step(self, state: StepState) -> None:
        self.steps.update(1)

    def batch_sampled(self, index: int, count: int) -> None:
        self.steps.close()

    def close(self) -> None:
        self.images.close()


def settings_job(o: dict[str, Any]) -> SampleJob:
    """The SampleJob holding the pipeline settings (its class and seed are placeholders: sample-fid's labels
    and noise are per sample)."""
    return SampleJob(classes=("0",), seeds=(0,), preset=o["preset"],
                     model=None if o["model"] is None else str(o["model"]),
                     config=None if o["config"] is None else str(o["config"]), steps=o["steps"],
                     sampler=o["sampler"], guidance=o["guidance"], scale=o["scale"],
                     interval=parse_interval(o["interval"]) if o["interval"] is not None else None,
                     dtype=o["dtype"] or "float32", quantize=int(o["quantize"]) if o["quantize"] else None,
                     batch_size=o["batch_size"])


def run(o: dict[str, Any]) -> None:
    folder = Path(o["output"]).expanduser()
    slot, slots = process_slot(parse_shard(o["shard_spec"]))
    registry = load_registry(o["presets_file"])
    plan = plan_job(settings_job(o), registry, Store(o["models_dir"], log=_echo))
    fid = make_plan(o, plan)
    write_or_check_plan(folder, fid)
    _echo(f"plan {fid.sha256[:12]}: {fid.num_samples} images of {fid.image_size[0]} px in {fid.num_shards} shards "
          f"of {fid.shard_size}, seed {fid.spec['seed']}, labels {fid.spec['labels']['mode']}")
    if packed(folder, fid):
        _echo(f"{folder / 'samples.npz'} is complete")
        click.echo(str(folder / "samples.npz"))
        return
    mine = [k for k in range(fid.num_shards) if k % slots == slot]
    todo = [k for k in mine if not shard_ok(folder, fid, k)]
    if slots > 1:
        _echo(f"process {slot} of {slots}: {len(mine)} shards, {len(todo)} to make")
    elif len(todo) < len(mine):
        _echo(f"resuming: {len(mine) - len(todo)} of {len(mine)} shards exist")
    existing = next((k for k in range(fid.num_shards) if k not in todo and shard_path(folder, k).is_file()), None)
    if todo and existing is not None:
        made = json.loads(str(npz.load_small(shard_path(folder, existing), "made_by")))
        if made.get("batch_size") != o["batch_size"]:
            _echo(f"note: the existing shards were made with --batch-size {made.get('batch_size')}; a different "
                  "batch size changes pixels by float rounding only, but the npz will not be byte-identical to a "
                  "single run")
    if todo:
        make_shards(o, folder, fid, plan, todo)
    missing = [k for k in range(fid.num_shards) if not shard_ok(folder, fid, k)]
    if missing:
        _echo(f"{fid.num_shards - len(missing)} of {fid.num_shards} shards exist; samples.npz is packed when the "
              f"others are made (run the same command for them, e.g. with --shard)")
        return
    with pack_lock(folder) as mine_to_pack:
        if not mine_to_pack:
            _echo(f"another process is packing {folder / 'samples.npz'} (else remove {folder / '.pack.lock'})")
            return
        _echo(f"packing {fid.num_samples} images into {folder / 'samples.npz'}")
        click.echo(str(pack(folder, fid)))


def _select_device() -> None:
    """Under torchrun, each rank uses its own GPU."""
    if "LOCAL_RANK" not in os.environ:
        return
    with contextlib.suppress(ImportError):
        import torch

        if torch.cuda.is_available():
            torch.cuda.set_device(int(os.environ["LOCAL_RANK"]) % torch.cuda.device_count())


def make_shards(o: dict[str, Any], folder: Path, fid: FidPlan, plan: Plan, todo: list[int]) -> None:
    backend = choose_backend(o["backend"])
    check_quantize(backend, plan.job.quantize)  # before a CUDA device is chosen
    if backend == "torch":
        _select_device()
    engine = make_engine(backend, plan.job.dtype, plan.job.quantize, _echo)
    why = f" (auto: {auto_reason(engine.name, engine.device)})" if o["backend"] == "auto" else ""
    _echo(f"backend: {engine.name} on {engine.device}, {engine.dtype}{why}")
    for note in plan.notes:
        _echo(f"note: {note}")
    info = engine.describe()
    seed = fid.spec["seed"]
    progress = Progress(sum(hi - lo for lo, hi in map(fid.shard_range, todo)), plan.pipe.sampler.num_steps - 1,
                        o["quiet"])
    try:
        for k in todo:
            lo, hi = fid.shard_range(k)
            items = [Item(i, seed, i, int(fid.labels[i])) for i in range(lo, hi)]
            work = tuple(tuple(items[j:j + o["batch_size"]]) for j in range(0, len(items), o["batch_size"]))
            shard_plan = dataclasses.replace(plan, work=work, keep=tuple(items))
            images = np.zeros((hi - lo, *fid.image_size, 3), dtype=np.uint8)
            noise = lambda chunk: per_sample_noise(seed, [it.index for it in chunk], plan.pipe.latent_shape)  # noqa: E731
            for item, image in generate(engine, shard_plan, progress, noise=noise):
                images[item.index - lo] = image
                if o["png"]:
                    save_png(folder / "png" / f"{item.index:06d}.png", image,
                             {"rae": json.dumps({"plan_sha256": fid.sha256, "index": item.index,
                                                 "class": item.class_id})})
                progress.images.update(1)
            write_shard(folder, fid, k, images, info, o["batch_size"])
    finally:
        progress.close()
