"""`rae sample`: class-conditional images from a DiT^DH (or LightningDiT) and an RAE decoder."""

from __future__ import annotations

import dataclasses
import json
import math
import secrets
import string
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import numpy as np

from rae_spec import samplers
from rae_spec.configs import GuidanceConfig, SamplerConfig, from_dict

from . import reference_yaml
from .classes import vocabulary
from .engines import auto_reason, choose_backend, make_engine
from .errors import UserError
from .hub import Store
from .images import grid, save_png, to_uint8
from .metadata import (
    FORMAT,
    GRID_FORMAT,
    PNG_KEY,
    file_record,
    grid_record,
    png_chunks,
    read_record,
    sample_record,
    sha256,
    write_sidecar,
)
from .options import backend_options, debug_option, models_dir_option, output_options, presets_option
from .pipeline import SamplingPipeline, check_compatible, dit_from_path, from_preset, with_dit
from .pipeline_folder import is_pipeline_folder, pipeline_from_folder
from .plan import Item, chunks, generation_order, initial_noise
from .progress import Phases, bar
from .registry import load_registry, local_folder

DEFAULT_OUTPUT = "sample-{seed}-{class}-{index}.png"
DEFAULT_GRID = "sample-grid.png"
PLACEHOLDERS = {"seed", "class", "index", "name"}
SAMPLER_CHOICES = {name: SamplerConfig(mode=mode, method=method)
                   for name, (mode, method) in samplers.cli_choices().items()}
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
@click.option("-n", "--num-images", type=click.IntRange(1), default=1, show_default=True,
              help="Images per class and seed.")
@click.option("--seed", "seeds", multiple=True, type=click.IntRange(0),
              help="Noise seed; repeatable [default: a random seed, printed].")
@click.option("--steps", type=click.IntRange(2), default=None,
              help="Time-grid points, counted as the reference does (50 points = 49 model steps).")
@click.option("--sampler", type=click.Choice(list(SAMPLER_CHOICES)), default=None,
              help=f"{samplers.describe()} [default: the preset's].")
@click.option("--guidance", type=click.Choice(["none", "cfg", "autoguidance"]), default=None,
              help="Guidance method [default: the preset's].")
@click.option("--scale", type=float, default=None, help="Guidance scale (1 = unguided).")
@click.option("--interval", type=str, default=None, metavar="LO,HI",
              help="Guide only where LO <= t <= HI (t = 1 is noise).")
@click.option("--preset", type=str, default=None, help="Pipeline preset [default: dit-dh-xl-256-ag].")
@click.option("--model", type=click.Path(path_type=Path), default=None,
              help="Your DiT (a folder with config.json and weights, or a checkpoint with config.json beside it), "
                   "or a whole pipeline folder (pipeline.json, as training exports).")
@click.option("--config", type=click.Path(path_type=Path), default=None,
              help="A reference implementation sampling YAML (stage_1, stage_2, transport, sampler, guidance, misc).")
@backend_options
@click.option("--batch-size", type=click.IntRange(1), default=8, show_default=True,
              help="Images per forward pass (splits the work, never changes the noise).")
@click.option("--low-memory", is_flag=True,
              help="Free the DiT before loading the decoder (lower peak memory; images are written at the end).")
@click.option("-o", "--output", type=str, default=None,
              help=f"Image path with {{seed}}, {{class}}, {{index}} (and {{name}}) placeholders "
                   f"[default: {DEFAULT_OUTPUT}, or {DEFAULT_GRID} with --grid].")
@click.option("--grid", is_flag=True, help="Write all images as one grid (with -n > 1, one row per class and seed).")
@click.option("--metadata", is_flag=True, help="Also write each image's provenance as JSON beside it.")
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


def run(ctx: click.Context, **o: Any) -> None:
    registry = load_registry(o["presets_file"])
    store = Store(o["models_dir"], log=_echo)
    replay = None
    if o["from_metadata"] is not None:
        clashing = [flag for name, flag in JOB_OPTIONS.items() if _given(ctx, name)]
        if clashing:
            raise UserError("--from-metadata replays a recorded image; it cannot be combined with "
                            + ", ".join(clashing))
        replay = read_record(o["from_metadata"])
        o = _replay_options(replay, o, batch_size_given=_given(ctx, "batch_size"))
    if o["config"] is not None and (o["preset"] is not None or o["model"] is not None):
        raise UserError("--config describes the whole pipeline; it cannot be combined with --preset or --model")

    pipe = resolve(registry, store, o)
    if replay is not None:
        pipe = check_compatible(dataclasses.replace(pipe, sampler=from_dict(replay["sampler"]),
                                                    guidance=from_dict(replay["guidance"])))
    else:
        pipe = apply_overrides(pipe, o)
    vocab = vocabulary(pipe.num_classes, [(n,) for n in pipe.class_names] if pipe.class_names else None)
    if not o["classes"]:
        raise UserError("no class given: pass --class with an id (e.g. --class 207) or a name "
                        "(e.g. --class 'golden retriever'); repeatable")
    class_ids = vocab.parse_all(o["classes"])
    seeds = list(o["seeds"]) or [secrets.randbelow(2**31)]
    n = o["num_images"]
    work, keep = _work(generation_order(seeds, class_ids, n), o["batch_size"], replay)
    targets = _targets(o, keep, vocab, replay)

    backend = choose_backend(o["backend"])
    if o["quantize"] is not None and backend != "mlx":
        raise UserError("--quantize works with the MLX backend only (use --backend mlx)")
    engine = make_engine(backend, o["dtype"] or "float32", int(o["quantize"]) if o["quantize"] else None, _echo)
    why = f" (auto: {auto_reason(engine.name, engine.device)})" if o["backend"] == "auto" else ""
    _echo(f"backend: {engine.name} on {engine.device}, {engine.dtype}{why}")
    if not o["seeds"]:
        _echo(f"seed: {seeds[0]} (random; pass --seed to choose)")
    files = {role: file_record(w) for role, w in pipe.weights().items()}
    if "config" in pipe.source:
        pipe = dataclasses.replace(pipe, source={**pipe.source, "config_sha256": sha256(pipe.source["config"])})
    notes = list(pipe.notes) + (_replay_differences(replay, pipe.source, files) if replay is not None else [])
    for note in notes:
        _echo(f"note: {note}")

    phases = Phases(engine, o["verbose"], _echo)
    kept = {it.index for it in keep}
    written: list[Path] = []
    grid_images: list[np.ndarray] = []
    for item, image in _generate(engine, pipe, work, len(class_ids) * n, phases, o["quiet"], o["low_memory"]):
        if item.index not in kept:
            continue
        if o["grid"]:
            grid_images.append(image)
            continue
        record = sample_record(pipe, index=item.index, seed=item.seed, row=item.row, class_id=item.class_id,
                               class_name=vocab.name(item.class_id), classes=class_ids, num_images=n,
                               batch_size=o["batch_size"], engine_info=engine.describe(), files=files)
        written.append(_write(targets[item.index], image, png_chunks(record), record, o["metadata"]))
    if o["grid"]:
        columns = n if n > 1 else min(len(grid_images), math.ceil(math.sqrt(len(grid_images))))
        record = grid_record(pipe, seeds=seeds, classes=class_ids, class_names=[vocab.name(c) for c in class_ids],
                             num_images=n, batch_size=o["batch_size"], columns=columns,
                             engine_info=engine.describe(), files=files)
        chunks_ = {PNG_KEY: json.dumps(record, sort_keys=True), "Software": f"rae {record['rae_version']}"}
        written.append(_write(targets[-1], grid(grid_images, columns), chunks_, record, o["metadata"]))
    for path in written:
        click.echo(str(path))
    if o["verbose"]:
        for line in phases.summary():
            _echo(f"total {line}")


def _work(items: list[Item], batch_size: int, replay: dict | None) -> tuple[list[list[Item]], list[Item]]:
    """(work batches, items to write). A replayed image re-runs only the batch it was made in."""
    if replay is None or replay.get("format") != FORMAT:
        return chunks(items, batch_size), items
    row = replay["batch"]["row"]
    chunk = next(c for c in chunks(items, batch_size) if any(it.row == row for it in c))
    return [chunk], [next(it for it in chunk if it.row == row)]


def _generate(engine, pipe: SamplingPipeline, work: list[list[Item]], batch_rows: int, phases: Phases,
              quiet: bool, low_memory: bool) -> Iterator[tuple[Item, np.ndarray]]:
    """Sample and decode each work batch, with a progress bar per batch and per step. With low_memory the
    decoder is loaded only after every batch is sampled and the DiT freed (peak: the larger model, not both)."""
    with phases("load"):
        engine.load_dit(pipe)
        if not low_memory:
            engine.load_decoder(pipe)
    outer = bar(len(work), "batches", quiet or len(work) == 1, position=0, unit="batch")
    sampled = []
    for k, chunk in enumerate(work):
        noise, rng = initial_noise(chunk[0].seed, batch_rows, [it.row for it in chunk], pipe.latent_shape)
        labels = np.array([it.class_id for it in chunk], dtype=np.int64)
        steps = bar(pipe.sampler.num_steps - 1, f"batch {k + 1}/{len(work)}" if len(work) > 1 else "sampling",
                    quiet, position=1 if len(work) > 1 else None)
        with phases("sample"):
            latents = engine.sample(noise, labels, pipe.sampler, pipe.guidance, pipe.shift, rng,
                                    on_step=lambda _, bar=steps: bar.update(1))
        steps.close()
        outer.update(1)
        if low_memory:
            sampled.append((chunk, latents))
            continue
        with phases("decode"):
            images = to_uint8(engine.decode(latents))
        yield from zip(chunk, images, strict=True)
    outer.close()
    if low_memory:
        engine.release("dit")
        with phases("load decoder"):
            engine.load_decoder(pipe)
        for chunk, latents in sampled:
            with phases("decode"):
                images = to_uint8(engine.decode(latents))
            yield from zip(chunk, images, strict=True)


def _write(path: Path, image: np.ndarray, chunks_: dict[str, str], record: dict, sidecar: bool) -> Path:
    save_png(path, image, chunks_)
    if sidecar:
        write_sidecar(path, record)
    return path


# ---------------------------------------------------------------------------------------------- pipeline


def resolve(registry, store: Store, o: dict[str, Any]) -> SamplingPipeline:
    """The pipeline the options name: --config, else --preset (default) with an optional --model."""
    if o["config"] is not None:
        return reference_yaml.sampling_pipeline(o["config"], store)
    if o["model"] is not None and is_pipeline_folder(o["model"]):
        if o["preset"] is not None:
            raise UserError(f"{o['model']} is a whole pipeline (pipeline.json); it cannot be combined with --preset")
        return pipeline_from_folder(o["model"], registry)
    name = o["preset"] or registry.default_pipeline
    folder = local_folder(registry.pipeline(name))
    if folder is not None and is_pipeline_folder(folder):  # a pipeline that ships with the package
        pipe = dataclasses.replace(pipeline_from_folder(folder, registry), source={"preset": name})
    else:
        pipe = from_preset(registry, store, name)
    if o["model"] is not None:
        pipe = with_dit(pipe, dit_from_path(o["model"]), str(Path(o["model"]).resolve()))
    return pipe


def _interval(text: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError as e:
        raise UserError(f"--interval must be LO,HI (two numbers, e.g. 0.1,1.0), got {text!r}") from e
    if not 0.0 <= lo < hi <= 1.0:
        raise UserError(f"--interval needs 0 <= LO < HI <= 1, got {text!r}")
    return lo, hi


def apply_overrides(pipe: SamplingPipeline, o: dict[str, Any]) -> SamplingPipeline:
    """--steps, --sampler, --guidance, --scale, --interval on top of the pipeline's own settings."""
    sampler = pipe.sampler
    if o["sampler"] is not None:
        sampler = dataclasses.replace(SAMPLER_CHOICES[o["sampler"]], num_steps=sampler.num_steps)
    if o["steps"] is not None:
        sampler = dataclasses.replace(sampler, num_steps=o["steps"])
    g = pipe.guidance
    method = o["guidance"] or g.method
    if method == "none" and (o["scale"] is not None or o["interval"] is not None):
        raise UserError("--scale and --interval need guidance: add --guidance cfg or --guidance autoguidance")
    if method != "none" and o["guidance"] is not None and o["scale"] is None and not g.active:
        raise UserError(f"--guidance {method} needs a --scale (this pipeline samples unguided)")
    scale = o["scale"] if o["scale"] is not None else g.scale
    lo, hi = _interval(o["interval"]) if o["interval"] is not None else (g.t_min, g.t_max)
    guidance = GuidanceConfig(method, scale if method != "none" else 1.0, lo, hi)
    if o["interval"] is not None and not guidance.active:
        raise UserError("--interval needs active guidance (a --scale other than 1)")
    return check_compatible(dataclasses.replace(pipe, sampler=sampler, guidance=guidance))


# ---------------------------------------------------------------------------------------------- outputs


def _fields(template: str) -> set[str]:
    try:
        return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}
    except ValueError as e:
        raise UserError(f"--output {template!r} is not a valid template: {e}") from e


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower()).strip("_") or "class"


def _targets(o: dict[str, Any], items: list[Item], vocab, replay: dict | None) -> dict[int, Path] | list[Path]:
    template = o["output"]
    if template is None and replay is not None:  # never overwrite the recorded image
        template = f"{Path(o['from_metadata']).stem}-replay.png"
    if o["grid"]:
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


def _png(name: str) -> Path:
    path = Path(name).expanduser()
    if path.suffix == "":
        path = path.with_suffix(".png")
    if path.suffix.lower() != ".png":
        raise UserError(f"--output {name!r}: images are written as PNG, so the name must end in .png")
    return path


# ---------------------------------------------------------------------------------------------- replay


def _replay_options(record: dict[str, Any], o: dict[str, Any], batch_size_given: bool) -> dict[str, Any]:
    """The options that make the recorded image (or grid) again; sampler and guidance come from the record."""
    o = dict(o)
    source = record.get("source", {})
    o["preset"], o["model"], o["config"] = source.get("preset"), source.get("model"), source.get("config")
    for key in ("model", "config"):
        if o[key] is not None:
            o[key] = Path(o[key])
            if not o[key].exists():
                raise UserError(f"the recorded --{key} {o[key]} does not exist on this machine")
    if record.get("format") == GRID_FORMAT:
        o["seeds"], o["classes"], o["num_images"], o["grid"] = record["seeds"], record["classes"], \
            record["num_images"], True
        recorded_batch = record["batch_size"]
    else:
        o["seeds"], o["classes"] = [record["seed"]], record["batch"]["classes"]
        o["num_images"], recorded_batch = record["batch"]["num_images"], record["batch"]["batch_size"]
    o["classes"] = [str(c) for c in o["classes"]]
    if not batch_size_given:  # the same work split gives the same floats
        o["batch_size"] = recorded_batch
    if o["dtype"] is None:
        o["dtype"] = record.get("dtype")
    if o["backend"] == "auto" and record.get("backend") in ("torch", "mlx"):
        try:
            o["backend"] = choose_backend(record["backend"])
        except UserError:
            _echo(f"note: the image was made with {record['backend']}, which is not available here")
    if o["quantize"] is None and record.get("quantize"):
        o["quantize"] = str(record["quantize"])
    return o


def _replay_differences(record: dict[str, Any], source: dict[str, Any], files: dict[str, Any]) -> list[str]:
    """What differs from the recorded run (so the image may differ too)."""
    notes = []
    old = record.get("source", {}).get("config_sha256")
    if old and old != source.get("config_sha256"):
        notes.append(f"{source['config']} changed since the image was made")
    for role, entry in record.get("files", {}).items():
        now = files.get(role)
        if now is None or now["sha256"] != entry["sha256"]:
            notes.append(f"the {role} weights differ from the recorded ones ({entry['origin']}, sha256 "
                         f"{entry['sha256'][:12]}...)")
    return notes
