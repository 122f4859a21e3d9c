"""`rae sample`: class-conditional images from a DiT^DH (or LightningDiT) and an RAE decoder."""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import string
from pathlib import Path
from typing import Any

import click
import numpy as np

from rae_spec.files import check_output
from rae_spec.parameters import parameter_count

from .engines import auto_reason, check_quantize, choose_backend, make_engine
from .errors import UserError
from .hub import Store
from .job import (
    MAX_BATCH,
    MAX_ROWS_PER_SEED,
    Listener,
    Plan,
    SampleJob,
    generate,
    grid_image,
    image_record,
    plan_job,
    save_image,
)
from .machine import FULL_SIZE_PARAMETERS, MAX_AUTO_BATCH, available_memory, choose_batch_size, precision_of, slow_path
from .metadata import grid_record, read_record, same_job
from .options import (
    backend_options,
    debug_option,
    models_dir_option,
    output_options,
    parse_interval,
    pipeline_options,
    presets_option,
)
from .progress import Phases, bar
from .registry import load_registry

DEFAULT_OUTPUT = "sample-{seed}-{class}-{index}.png"
DEFAULT_GRID = "sample-grid.png"
PLACEHOLDERS = {"seed", "class", "index", "name"}
# Options that change what is generated: a replay (--from-metadata) takes them from the record.
JOB_OPTIONS = {"classes": "--class", "num_images": "--num-images", "seeds": "--seed", "steps": "--steps",
               "sampler": "--sampler", "guidance": "--guidance", "scale": "--scale", "interval": "--interval",
               "preset": "--preset", "model": "--model", "config": "--config", "grid": "--grid"}

EXAMPLES = """
\b
Examples:
  rae sample --class 207 --output golden.png
  rae sample --class "golden retriever" --class otter -n 4 --seed 0 --seed 1 --grid
  rae sample --class 88 --guidance cfg --scale 3 --interval 0.1,1 --steps 100
  rae sample --config DiTDHXL-DINOv2-B_AG.yaml --class 207 --seed 0 --output out/{seed}-{index}.png
  rae sample --preset dit-dh-xl-256 --model runs/exp1/checkpoints/ --class 1
  rae sample --from-metadata sample-0-207-0.png
"""


@click.command("sample", epilog=EXAMPLES)
@click.option("--class", "classes", multiple=True, metavar="ID|NAME",
              help="ImageNet class id or name (any synonym, any case); repeatable.")
@click.option("-n", "--num-images", type=click.IntRange(1, MAX_ROWS_PER_SEED), default=1, show_default=True,
              help="Images per class and seed.")
@click.option("--seed", "seeds", multiple=True, type=click.IntRange(0),
              help="Noise seed; repeatable [default: a random seed, printed].")
@pipeline_options
@backend_options
@click.option("--batch-size", type=click.IntRange(1, MAX_BATCH), default=None,
              help="Images per forward pass (splits the work, never changes the noise) [default: the largest, up "
                   "to 8, whose estimated peak memory fits the memory available].")
@click.option("--low-memory", is_flag=True,
              help="Free the DiT before loading the decoder (lower peak memory; images are written at the end).")
@click.option("-o", "--output", type=str, default=None,
              help=f"Image path with {{seed}}, {{class}}, {{index}} (and {{name}}) placeholders "
                   f"[default: {DEFAULT_OUTPUT}, or {DEFAULT_GRID} with --grid].")
@click.option("--grid", is_flag=True, help="Write all images as one grid (with -n > 1, one row per class and seed).")
@click.option("--metadata", is_flag=True, help="Also write each image's provenance as JSON beside it.")
@click.option("--overwrite", is_flag=True, help="Replace existing files (without it, only images this command wrote "
              "for the same job, and their JSON, are replaced).")
@click.option("--allow-nonfinite", is_flag=True, help="Write images even when sampling produced NaN or Inf "
              "(they come out black or garbled); by default that stops the command with an error.")
@click.option("--from-metadata", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Make again the image (or grid) recorded in a PNG or JSON written by rae sample.")
@models_dir_option
@presets_option
@output_options
@debug_option
@click.pass_context
def sample(ctx: click.Context, **opts: Any) -> None:
    """Sample class-conditional images.

    The default is the released DiT^DH-XL at 256 px with autoguidance (DiT^DH-S guide, scale 1.42) and
    50 Euler grid points; its weights are downloaded into the Hugging Face cache on first use.
    Noise: for each seed, np.random.default_rng(seed).standard_normal((classes x n, C, H, W)) in
    NCHW, classes in the order given, each repeated n times; the same seed gives the same image on
    every backend.
    """
    run(ctx, **opts)


def _given(ctx: click.Context, name: str) -> bool:
    source = ctx.get_parameter_source(name)
    return source is not None and source.name in ("COMMANDLINE", "ENVIRONMENT")


def _echo(message: str) -> None:
    click.echo(message, err=True)


def job_from_options(o: dict[str, Any], seeds: list[int]) -> SampleJob:
    """The SampleJob the command line describes."""
    return SampleJob(classes=tuple(o["classes"]), seeds=tuple(seeds), num_images=o["num_images"],
                     preset=o["preset"], model=_path_text(o["model"]), config=_path_text(o["config"]),
                     steps=o["steps"], sampler=o["sampler"], guidance=o["guidance"], scale=o["scale"],
                     interval=parse_interval(o["interval"]) if o["interval"] is not None else None,
                     dtype=o["dtype"] or "float32", quantize=int(o["quantize"]) if o["quantize"] else None,
                     batch_size=o["batch_size"] or MAX_AUTO_BATCH, grid=o["grid"])


def _path_text(path: Path | None) -> str | None:
    return None if path is None else str(path)


def replay_job(ctx: click.Context, o: dict[str, Any]) -> tuple[SampleJob, str, dict[str, Any]]:
    """(the job recorded in --from-metadata, the backend to run it on, the record). Batch size, dtype and
    quantization given on the command line replace the recorded ones; `--backend auto` picks the recorded
    backend when it is installed."""
    clashing = [flag for name, flag in JOB_OPTIONS.items() if _given(ctx, name)]
    if clashing:
        raise UserError("--from-metadata replays a recorded image; it cannot be combined with " + ", ".join(clashing))
    record = read_record(o["from_metadata"])
    job = SampleJob.from_record(record)
    changes: dict[str, Any] = {}
    if _given(ctx, "batch_size"):
        changes["batch_size"] = o["batch_size"]
    if o["dtype"] is not None:
        changes["dtype"] = o["dtype"]
    if o["quantize"] is not None:
        changes["quantize"] = int(o["quantize"])
    if changes:
        job = dataclasses.replace(job, **changes)
    backend = o["backend"]
    if backend == "auto" and record.get("backend") in ("torch", "mlx"):
        try:
            backend = choose_backend(record["backend"])
        except UserError:
            _echo(f"note: the image was made with {record['backend']}, which is not available here")
    return job, backend, record


class Bars(Listener):
    """tqdm bars: one per batch of steps, and one over the batches when there are several."""

    def __init__(self, batches: int, quiet: bool, steps: int):
        self.quiet, self.steps = quiet, steps
        self.outer = bar(batches, "batches", quiet or batches == 1, position=0, unit="batch")
        self.inner = None

    def batch_started(self, index: int, count: int, chunk) -> None:
        self.inner = bar(self.steps, f"batch {index + 1}/{count}" if count > 1 else "sampling", self.quiet,
                         position=1 if count > 1 else None)

    def step(self, state) -> None:
        self.inner.update(1)

    def batch_sampled(self, index: int, count: int) -> None:
        self.inner.close()
        self.outer.update(1)

    def close(self) -> None:
        self.outer.close()


def run(ctx: click.Context, **o: Any) -> None:
    registry = load_registry(o["presets_file"])
    store = Store(o["models_dir"], log=_echo)
    record = None
    if o["from_metadata"] is not None:
        job, backend_name, record = replay_job(ctx, o)
        seeds_given = True
    else:
        if o["config"] is not None and (o["preset"] is not None or o["model"] is not None):
            raise UserError("--config describes the whole pipeline; it cannot be combined with --preset or --model")
        seeds_given = bool(o["seeds"])
        job = job_from_options(o, list(o["seeds"]) or [secrets.randbelow(2**31)])
        backend_name = o["backend"]
    if o["output"] is not None:  # a bad template, a folder, a file as parent, a read-only place: in the first second
        precheck_template(o["output"], job.grid)
    plan = plan_job(job, registry, store, record)
    targets = output_paths(o, plan, record)

    backend = choose_backend(backend_name)
    check_quantize(backend, job.quantize)
    engine = make_engine(backend, job.dtype, job.quantize, _echo)
    why = "" if o["backend"] != "auto" else " (the recorded backend)" if backend_name != "auto" else \
        f" (auto: {auto_reason(engine.name, engine.device)})"
    _echo(f"backend: {engine.name} on {engine.device}, {engine.dtype}{why}")
    if record is None and o["batch_size"] is None:  # the largest batch that fits; a replay keeps the recorded one
        batch, line = choose_batch_size(plan.pipe, precision_of(job.dtype, job.quantize), plan.rows_per_seed
                                        * len(job.seeds), available_memory(engine.name, engine.device),
                                        o["low_memory"], engine.name)
        if line:
            _echo(line)
        if batch != job.batch_size:
            job = dataclasses.replace(job, batch_size=batch)
            plan = plan_job(job, registry, store, record)
    check_targets(targets, plan, {"backend": backend, "dtype": job.dtype, "quantize": job.quantize}, o)
    if parameter_count(plan.pipe.dit.config) >= FULL_SIZE_PARAMETERS and (slow := slow_path(engine.name,
                                                                                             engine.device)):
        _echo(f"warning: {slow}")
    if not seeds_given:
        _echo(f"seed: {job.seeds[0]} (random; pass --seed to choose)")
    for note in plan.notes:
        _echo(f"note: {note}")

    phases = Phases(engine, o["verbose"], _echo)
    bars = Bars(len(plan.work), o["quiet"], plan.pipe.sampler.num_steps - 1)
    written: list[Path] = []
    grid_images: list[np.ndarray] = []
    info = engine.describe()
    for item, image in generate(engine, plan, bars, low_memory=o["low_memory"], phase=phases,
                                allow_nonfinite=o["allow_nonfinite"], warn=_echo):
        if job.grid:
            grid_images.append(image)
        else:
            written.append(save_image(targets[item.index], image, image_record(plan, item, info), o["metadata"]))
    bars.close()
    if job.grid:
        image, record = grid_image(plan, grid_images, info)
        written.append(save_image(targets[-1], image, record, o["metadata"]))
    for path in written:
        click.echo(str(path))
    if o["verbose"]:
        for line in phases.summary():
            _echo(f"total {line}")


# ---------------------------------------------------------------------------------------------- outputs


def _fields(template: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as e:
        raise UserError(f"--output {template!r} is not a valid template: {e}") from e


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_") or "class"


def output_paths(o: dict[str, Any], plan: Plan, replay: dict | None) -> dict[int, Path] | list[Path]:
    """Where each image of the plan goes (a list of one path for a grid), checked before any compute."""
    template = o["output"]
    items, vocab = plan.keep, plan.vocab
    if template is None and replay is not None:  # never overwrite the recorded image
        template = f"{Path(o['from_metadata']).stem}-replay.png"
    if plan.job.grid:
        template = template or DEFAULT_GRID
        if _fields(template):
            raise UserError("--grid writes one image: its --output cannot have placeholders")
        return [_png(template)]
    template = template or DEFAULT_OUTPUT
    fields = _fields(template)
    unknown = fields - PLACEHOLDERS
    if unknown:
        raise UserError(f"--output {template!r} has unknown placeholders {sorted(unknown)}; "
                        "use {seed}, {class}, {index} or {name}")
    if not fields and len(items) > 1:  # one name for several images: number them
        stem = Path(template)
        template = str(stem.with_name(f"{stem.stem}-{{index}}{stem.suffix}"))
    out: dict[int, Path] = {}
    for it in items:
        try:
            name = template.format(**{"seed": it.seed, "class": it.class_id, "index": it.index,
                                      "name": _slug(vocab.name(it.class_id))})
        except (ValueError, KeyError, IndexError) as e:
            raise UserError(f"--output {template!r} cannot be filled in: {e}") from e
        out[it.index] = _png(name)
    if len(set(out.values())) < len(out):
        raise UserError(f"--output {template!r} gives several images the same file name; add {{index}}")
    return out


# Record fields that describe the machine, not the image: a rerun elsewhere still makes "the same" image.
ENVIRONMENT_FIELDS = ("rae_version", "device", "torch_version", "mlx_version")


def precheck_template(template: str, grid: bool = False) -> None:
    """The --output template checked before any file is resolved (or downloaded): its placeholders, and its
    folder part: not a folder itself, not under a file, in a place we can write (placeholders filled with a
    stand-in)."""
    fields = _fields(template)
    if grid and fields:
        raise UserError("--grid writes one image: its --output cannot have placeholders")
    if fields - PLACEHOLDERS:
        raise UserError(f"--output {template!r} has unknown placeholders {sorted(fields - PLACEHOLDERS)}; "
                        "use {seed}, {class}, {index} or {name}")
    suffix = Path(template).suffix
    if suffix.lower() not in ("", ".png") and not {"{", "}"} & set(suffix):
        _png(template)  # its message
    stand_in = {name: "0" for name in PLACEHOLDERS}
    try:
        path = template.format(**stand_in) if _fields(template) <= PLACEHOLDERS else template
        if not path.endswith(("/", os.sep)):
            path = str(_png(path))
    except (ValueError, KeyError, IndexError, UserError):
        return  # output_paths reports the template's own problem
    check_output(path, overwrite=True, what="--output")


def check_targets(targets: dict[int, Path] | list[Path], plan: Plan, engine_info: dict[str, Any],
                  o: dict[str, Any]) -> None:
    """Every image (and JSON) path checked before any compute (rae_spec.files' rule): an existing file is
    replaced only with --overwrite, or when it is this job's own earlier output (its record matches)."""
    if plan.job.grid:
        record = grid_record(plan.pipe, seeds=list(plan.job.seeds), classes=list(plan.class_ids),
                             class_names=[plan.vocab.name(c) for c in plan.class_ids],
                             num_images=plan.job.num_images, batch_size=plan.job.batch_size, columns=0,
                             engine_info=engine_info, files=plan.files)
        pairs = [(targets[-1], record)]
    else:
        pairs = [(targets[it.index], image_record(plan, it, engine_info)) for it in plan.keep]
    for path, record in pairs:
        job = {k: v for k, v in json.loads(json.dumps(record)).items()
               if k not in ENVIRONMENT_FIELDS and k != "columns"}
        ours = lambda p, job=job: same_job(p, job)  # noqa: E731
        check_output(path, overwrite=o["overwrite"], replaceable=ours, what="image")
        if o["metadata"]:
            check_output(path.with_suffix(".json"), overwrite=o["overwrite"], replaceable=ours,
                         what="metadata file")


def _png(name: str) -> Path:
    path = Path(name).expanduser()
    if path.suffix == "":
        path = path.with_suffix(".png")
    if path.suffix.lower() != ".png":
        raise UserError(f"--output {name!r}: images are written as PNG, so the name must end in .png")
    return path
