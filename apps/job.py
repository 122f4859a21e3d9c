"""A sampling job: what `rae sample`'s options, a PNG's `rae` metadata record and the app's API describe.

Every front end builds a frozen `SampleJob` and hands it to the same three steps:

    plan = plan_job(job, registry, store)           # resolve files, settings, class names (no compute)
    for item, image in generate(engine, plan, ...):  # noise, sampling, decoding on one engine
        save_image(path, image, image_record(plan, item, engine))

so the image for a job never depends on which front end ran it. `None` settings take the pipeline's own
(a preset's published settings). A job always names its seeds: front ends draw a random one first.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rae_spec import samplers
from rae_spec.configs import ConfigError, GuidanceConfig, SamplerConfig, from_dict, to_dict
from rae_spec.noise import rows_noise
from rae_spec.presets import local_path
from rae_spec.step_state import CancelCheck, StepState

from . import reference_yaml
from .classes import ClassVocabulary, vocabulary
from .engines.base import DTYPES, Engine
from .errors import UserError
from .hub import Store
from .images import grid, save_png, to_uint8
from .machine import MAX_AUTO_BATCH
from .metadata import (
    FORMAT,
    GRID_FORMAT,
    file_record,
    grid_record,
    png_chunks,
    sample_record,
    sha256,
    write_sidecar,
)
from .pipeline import SamplingPipeline, check_compatible, dit_from_path, from_preset, with_dit
from .pipeline_folder import is_pipeline_folder, pipeline_from_folder
from .plan import Item, chunks, generation_order
from .registry import Registry

SAMPLER_CHOICES = {name: SamplerConfig(mode=mode, method=method)
                   for name, (mode, method) in samplers.cli_choices().items()}
GUIDANCE_CHOICES = ("none", "cfg", "autoguidance")
QUANTIZE_CHOICES = (4, 8)
# Bounds on a job's size, so a record or API body cannot ask for terabytes: each seed's logical batch
# (classes x images per class) is drawn whole by the noise convention (about 0.8 MB per row at 768x16x16).
MAX_ROWS_PER_SEED = 1024
MAX_SEEDS = 10_000
MAX_BATCH = 1024
MAX_STEPS = 10_000
MAX_SEED = 2**63 - 1
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin")


def sampler_name(config: SamplerConfig) -> str:
    """The --sampler choice of a SamplerConfig."""
    return "sde" if config.mode == "sde" else config.method


@dataclass(frozen=True)
class SampleJob:
    """What to generate. The pipeline is a preset (default: the registry's), a `model` (a DiT, with the
    preset's decoder, or a whole pipeline folder) or a reference `config` YAML. `classes` are ids or names
    as the user gave them. `row` replays one image: only that row of the single seed's logical batch is
    made (its work batch is re-run, so the floats are those of the recorded run)."""

    classes: tuple[str, ...]
    seeds: tuple[int, ...]
    num_images: int = 1
    preset: str | None = None
    model: str | None = None
    config: str | None = None
    steps: int | None = None
    sampler: str | None = None
    guidance: str | None = None
    scale: float | None = None
    interval: tuple[float, float] | None = None
    dtype: str = "float32"
    quantize: int | None = None
    batch_size: int | None = None  # None: the largest batch (up to 8) that fits the memory available
    grid: bool = False
    row: int | None = None

    def __post_init__(self) -> None:
        if not self.classes:
            raise UserError("no class given: pass --class with an id (e.g. --class 207) or a name "
                            "(e.g. --class 'golden retriever'); repeatable")
        if not self.seeds:
            raise UserError("no seed given: pass --seed (a whole number >= 0)")
        if any(isinstance(s, bool) or not isinstance(s, int) or not 0 <= s <= MAX_SEED for s in self.seeds):
            raise UserError(f"--seed must be whole numbers from 0 to 2**63 - 1, got {list(self.seeds)[:10]}")
        if len(set(self.seeds)) < len(self.seeds):  # the same seed makes the same images again
            twice = next(s for i, s in enumerate(self.seeds) if s in self.seeds[:i])
            raise UserError(f"--seed {twice} is given twice; each seed gives its own images")
        if len(self.seeds) > MAX_SEEDS:
            raise UserError(f"a job takes at most {MAX_SEEDS} seeds, got {len(self.seeds)}")
        for name, value, low, high in (("--num-images", self.num_images, 1, MAX_ROWS_PER_SEED),
                                       ("--batch-size", self.batch_size, 1, MAX_BATCH),
                                       ("--steps", self.steps, 2, MAX_STEPS)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or not low <= value <= high):
                raise UserError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
        if len(self.classes) * self.num_images > MAX_ROWS_PER_SEED:
            raise UserError(f"at most {MAX_ROWS_PER_SEED} images per seed (classes x --num-images), got "
                            f"{len(self.classes)} x {self.num_images}; use more seeds")
        if self.sampler is not None and self.sampler not in SAMPLER_CHOICES:
            raise UserError(f"--sampler must be one of {', '.join(SAMPLER_CHOICES)}, got {self.sampler!r}")
        if self.guidance is not None and self.guidance not in GUIDANCE_CHOICES:
            raise UserError(f"--guidance must be one of {', '.join(GUIDANCE_CHOICES)}, got {self.guidance!r}")
        if self.scale is not None and (isinstance(self.scale, bool) or not isinstance(self.scale, (int, float))
                                       or not math.isfinite(self.scale)):
            raise UserError(f"--scale must be a finite number, got {self.scale!r}")
        if self.interval is not None:
            lo, hi = self.interval
            if not 0.0 <= lo < hi <= 1.0:  # NaN fails every comparison
                raise UserError(f"--interval needs 0 <= LO < HI <= 1, got {lo},{hi}")
        if self.dtype not in DTYPES:
            raise UserError(f"--dtype must be one of {', '.join(DTYPES)}, got {self.dtype!r}")
        if self.quantize is not None and self.quantize not in QUANTIZE_CHOICES:
            raise UserError(f"--quantize must be 4 or 8, got {self.quantize!r}")
        if self.config is not None and (self.preset is not None or self.model is not None):
            raise UserError("--config describes the whole pipeline; it cannot be combined with --preset or --model")
        if self.row is not None and (len(self.seeds) != 1 or not 0 <= self.row < len(self.classes) * self.num_images):
            raise UserError(f"row {self.row} is not an image of this job")

    # ------------------------------------------------------------------------------------------ JSON

    def to_json(self) -> dict[str, Any]:
        """The job with the names of `rae sample`'s options (what `POST /api/jobs` takes)."""
        out = {"class": list(self.classes), "seed": list(self.seeds), "num_images": self.num_images,
               "preset": self.preset, "model": self.model, "config": self.config, "steps": self.steps,
               "sampler": self.sampler, "guidance": self.guidance, "scale": self.scale,
               "interval": list(self.interval) if self.interval is not None else None, "dtype": self.dtype,
               "quantize": self.quantize, "batch_size": self.batch_size, "grid": self.grid, "row": self.row}
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SampleJob:
        """A job from `rae sample` option names: class (ids or names), seed, num_images, steps, sampler,
        guidance, scale, interval [lo, hi], dtype, quantize, batch_size, preset (model, config, grid, row)."""
        if not isinstance(data, dict):
            raise UserError("a job is a JSON object with the names of rae sample's options")
        unknown = sorted(set(data) - set(JSON_FIELDS))
        if unknown:
            raise UserError(f"unknown job fields {unknown}; known: {', '.join(JSON_FIELDS)}")
        d = {k: v for k, v in data.items() if v is not None}
        classes = d.get("class", [])
        classes = [classes] if isinstance(classes, (str, int)) else classes
        seeds = d.get("seed", [])
        seeds = [seeds] if isinstance(seeds, int) else seeds
        if not isinstance(classes, list) or not isinstance(seeds, list):
            raise UserError("class and seed are lists (class: ids or names, seed: whole numbers)")
        interval = d.get("interval")
        if interval is not None:
            if (not isinstance(interval, list) or len(interval) != 2
                    or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in interval)):
                raise UserError(f"--interval must be [LO, HI] (two numbers), got {interval!r}")
            interval = (float(interval[0]), float(interval[1]))
        quantize = d.get("quantize")
        if isinstance(quantize, str) and quantize.isdigit():
            quantize = int(quantize)
        scale = d.get("scale")
        return cls(classes=tuple(str(c) for c in classes), seeds=tuple(seeds), num_images=d.get("num_images", 1),
                   preset=d.get("preset"), model=d.get("model"), config=d.get("config"), steps=d.get("steps"),
                   sampler=d.get("sampler"), guidance=d.get("guidance"),
                   scale=float(scale) if isinstance(scale, int) and not isinstance(scale, bool) else scale,
                   interval=interval, dtype=d.get("dtype", "float32"), quantize=quantize,
                   batch_size=d.get("batch_size"), grid=bool(d.get("grid", False)), row=d.get("row"))

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> SampleJob:
        """The job that makes a recorded image (or grid) again: its pipeline, classes, seed(s), batch split,
        sampler, guidance, dtype and quantization. A record is untrusted input (anyone can write a PNG's
        text chunk): it is checked field by field, and it may name only presets, model folders and hub
        files, or local files whose sha256 is the one recorded (never any other local file to parse)."""
        try:
            _check_recorded_sources(record)
            return cls._from_record(record)
        except (UserError, ConfigError):
            raise
        except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
            raise UserError(f"the metadata record is malformed ({type(e).__name__}: "
                            f"{' '.join(str(e).split())[:120]})") from e

    @classmethod
    def _from_record(cls, record: dict[str, Any]) -> SampleJob:
        source = record.get("source", {})
        if record.get("format") == GRID_FORMAT:
            seeds, classes, n, batch_size, row = record["seeds"], record["classes"], record["num_images"], \
                record["batch_size"], None
        else:
            b = record["batch"]
            seeds, classes, n, batch_size, row = [record["seed"]], b["classes"], b["num_images"], b["batch_size"], \
                b["row"]
        sampler = from_dict(record["sampler"], SamplerConfig)
        g = from_dict(record["guidance"], GuidanceConfig)
        return cls(classes=tuple(str(c) for c in classes), seeds=tuple(seeds), num_images=n,
                   preset=source.get("preset"), model=source.get("model"), config=source.get("config"),
                   steps=sampler.num_steps, sampler=sampler_name(sampler), guidance=g.method,
                   scale=g.scale if g.method != "none" else None, interval=g.interval if g.active else None,
                   dtype=record.get("dtype") or "float32", quantize=record.get("quantize") or None,
                   batch_size=batch_size, grid=record.get("format") == GRID_FORMAT, row=row)


JSON_FIELDS = ("class", "seed", "num_images", "preset", "model", "config", "steps", "sampler", "guidance", "scale",
               "interval", "dtype", "quantize", "batch_size", "grid", "row")


def _check_recorded_sources(record: dict[str, Any]) -> None:
    """What a record's `source` may point at: a preset name; a model or pipeline folder; a weights file or a
    reference YAML only if its sha256 is the one the record holds (so a forged record cannot make rae
    parse an arbitrary local file, a device or a FIFO)."""
    source = record.get("source", {})
    if not isinstance(source, dict) or not all(isinstance(source.get(k), (str, type(None)))
                                               for k in ("preset", "model", "config")):
        raise UserError("the metadata record's source must name a preset, a model or a config")
    files = record.get("files", {})
    if not isinstance(files, dict) or not all(isinstance(v, dict) and isinstance(v.get("sha256"), str)
                                              and isinstance(v.get("origin"), str) for v in files.values()):
        raise UserError("the metadata record's files must map roles to {origin, sha256}")
    for key, recorded in (("model", files.get("dit", {}).get("sha256")), ("config", source.get("config_sha256"))):
        value = source.get(key)
        if value is None:
            continue
        path = Path(value)
        if not path.exists():
            raise UserError(f"the recorded --{key} {value} does not exist on this machine")
        if key == "model" and path.is_dir():
            if not any((path / n).is_file() for n in ("config.json", "pipeline.json")):
                raise UserError(f"the recorded --model {value} is not a model or pipeline folder")
            continue
        suffixes = WEIGHT_SUFFIXES if key == "model" else (".yaml", ".yml")
        if not path.is_file() or path.suffix.lower() not in suffixes:
            raise UserError(f"the recorded --{key} {value} is not a {'weights file' if key == 'model' else 'YAML'} "
                            "rae would read")
        if not isinstance(recorded, str) or sha256(path) != recorded:
            raise UserError(f"the recorded --{key} {value} is not the file the image was made with (its sha256 "
                            f"differs); to use it as it is now, run rae sample --{key} {value}")


# ---------------------------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class Plan:
    """A job resolved against its pipeline: everything `generate` needs, found before any compute."""

    job: SampleJob
    pipe: SamplingPipeline
    vocab: ClassVocabulary
    class_ids: tuple[int, ...]
    work: tuple[tuple[Item, ...], ...]  # work batches, in order
    keep: tuple[Item, ...]  # the images to write
    files: dict[str, Any] = field(default_factory=dict)  # provenance of each model file
    notes: tuple[str, ...] = ()

    @property
    def rows_per_seed(self) -> int:
        return len(self.class_ids) * self.job.num_images

    @property
    def total_steps(self) -> int:
        return len(self.work) * (self.pipe.sampler.num_steps - 1)


def plan_job(job: SampleJob, registry: Registry, store: Store, record: dict[str, Any] | None = None, *,
             download: bool = True) -> Plan:
    """Resolve the pipeline, apply the job's settings, parse its classes, split the work. With the `record`
    the job was made from, the notes say what differs from the recorded run. `download=False`: a preset's
    missing file is an error that names the `rae download` command, never a download. A job without a batch
    size gets MAX_AUTO_BATCH here; `rae sample` and the app choose one that fits first
    (apps.machine.choose_batch_size)."""
    if job.batch_size is None:
        job = dataclasses.replace(job, batch_size=MAX_AUTO_BATCH)
    pipe = apply_settings(resolve(registry, store, job, download=download), job)
    vocab = vocabulary(pipe.num_classes, [(n,) for n in pipe.class_names] if pipe.class_names else None)
    class_ids = tuple(vocab.parse_all(job.classes))
    items = generation_order(job.seeds, class_ids, job.num_images)
    work = chunks(items, job.batch_size)
    keep = items
    if job.row is not None:  # a replayed image re-runs only the work batch it was made in
        work = [next(c for c in work if any(it.row == job.row for it in c))]
        keep = [next(it for it in work[0] if it.row == job.row)]
    files = {role: file_record(w) for role, w in pipe.weights().items()}
    if "config" in pipe.source:
        pipe = dataclasses.replace(pipe, source={**pipe.source, "config_sha256": sha256(pipe.source["config"])})
    notes = list(pipe.notes) + (replay_differences(record, pipe, files) if record is not None else [])
    return Plan(job, pipe, vocab, class_ids, tuple(tuple(c) for c in work), tuple(keep), files, tuple(notes))


def resolve(registry: Registry, store: Store, job: SampleJob, *, download: bool = True) -> SamplingPipeline:
    """The pipeline a job names: its config YAML, else its preset (default) with an optional model."""
    if job.config is not None:
        return reference_yaml.sampling_pipeline(Path(job.config), store, download=download)
    if job.model is not None and is_pipeline_folder(job.model):
        if job.preset is not None:
            raise UserError(f"{job.model} is a whole pipeline (pipeline.json); it cannot be combined with --preset")
        return pipeline_from_folder(job.model, registry)
    name = job.preset or registry.default_pipeline
    folder = local_path(registry.pipeline(name))
    if folder is not None and is_pipeline_folder(folder):  # a pipeline that ships with the package
        pipe = dataclasses.replace(pipeline_from_folder(folder, registry), source={"preset": name})
    else:
        if job.model is None:  # a mistyped class is found before gigabytes are downloaded
            vocabulary(registry.model(registry.pipeline(name).dit).config.num_classes).parse_all(job.classes)
        pipe = from_preset(registry, store, name, download=download)
    if job.model is not None:
        pipe = with_dit(pipe, dit_from_path(job.model), str(Path(job.model).resolve()))
    return pipe


def apply_settings(pipe: SamplingPipeline, job: SampleJob) -> SamplingPipeline:
    """The job's steps, sampler, guidance, scale and interval on top of the pipeline's own settings. A sampler
    name keeps the pipeline's SDE diffusion settings (diffusion_form, diffusion_norm)."""
    sampler = pipe.sampler
    if job.sampler is not None:
        sampler = dataclasses.replace(SAMPLER_CHOICES[job.sampler], num_steps=sampler.num_steps,
                                      diffusion_form=sampler.diffusion_form, diffusion_norm=sampler.diffusion_norm)
    if job.steps is not None:
        sampler = dataclasses.replace(sampler, num_steps=job.steps)
    g = pipe.guidance
    method = job.guidance or g.method
    if method == "none" and (job.scale is not None or job.interval is not None):
        raise UserError("--scale and --interval need guidance: add --guidance cfg or --guidance autoguidance")
    if method != "none" and job.guidance is not None and job.scale is None and not g.active:
        raise UserError(f"--guidance {method} needs a --scale (this pipeline samples unguided)")
    scale = job.scale if job.scale is not None else g.scale
    lo, hi = job.interval if job.interval is not None else (g.t_min, g.t_max)
    guidance = GuidanceConfig(method, float(scale) if method != "none" else 1.0, lo, hi)
    if job.interval is not None and not guidance.active:
        raise UserError("--interval needs active guidance (a --scale other than 1)")
    return check_compatible(dataclasses.replace(pipe, sampler=sampler, guidance=guidance))


def replay_differences(record: dict[str, Any], pipe: SamplingPipeline, files: dict[str, Any]) -> list[str]:
    """What differs from the recorded run (so the image may differ too)."""
    notes = []
    old = record.get("source", {}).get("config_sha256")
    if old and old != pipe.source.get("config_sha256"):
        notes.append(f"{pipe.source['config']} changed since the image was made")
    for role, entry in record.get("files", {}).items():
        now = files.get(role)
        if now is None or now["sha256"] != entry["sha256"]:
            notes.append(f"the {role} weights differ from the recorded ones ({entry['origin']}, sha256 "
                         f"{entry['sha256'][:12]}...)")
    for what, cls, now in (("sampler", SamplerConfig, pipe.sampler), ("guidance", GuidanceConfig, pipe.guidance)):
        recorded = from_dict(record[what], cls) if what in record else now
        unguided = what == "guidance" and not recorded.active and not now.active
        if recorded != now and not unguided:
            notes.append(f"the {what} settings differ from the recorded ones ({json.dumps(to_dict(recorded))})")
    return notes


# ---------------------------------------------------------------------------------------------- running


class Listener:
    """What `generate` reports; front ends override what they show (progress bars, app events)."""

    def batch_started(self, index: int, count: int, chunk: tuple[Item, ...]) -> None: ...

    def step(self, state: StepState) -> None: ...

    def batch_sampled(self, index: int, count: int) -> None: ...


def no_phase(name: str) -> AbstractContextManager:
    return nullcontext()


def load_models(engine: Engine, pipe: SamplingPipeline, low_memory: bool = False) -> None:
    """Load what sampling needs (engines keep models that are already loaded). With low_memory a decoder
    still loaded from an earlier job is freed first, so the DiT and the decoder are never held together."""
    if low_memory and "decoder" in getattr(engine, "loaded", {}):
        engine.release("decoder")
    engine.load_dit(pipe)
    if not low_memory:
        engine.load_decoder(pipe)


NoiseFn = Callable[[tuple[Item, ...]], tuple[np.ndarray, Any]]


class NonFiniteError(UserError):
    """Sampling or decoding produced NaN or Inf: the image would be black or garbage."""


def check_finite(array: np.ndarray, what: str, chunk: tuple[Item, ...], allow: bool,
                 warn: Callable[[str], None] | None = None) -> None:
    """Stop (NonFiniteError) when `array` holds NaN or Inf, naming the images; with `allow`, only warn."""
    bad = ~np.isfinite(array.reshape(len(chunk), -1)).all(axis=1)
    if not bad.any():
        return
    which = ", ".join(f"seed {it.seed} class {it.class_id}" for it, b in zip(chunk, bad, strict=True) if b)
    message = (f"the {what} of {int(bad.sum())} image(s) hold NaN or Inf values ({which[:200]}): the weights or "
               "settings overflow (an extreme --scale, float16)")
    if not allow:
        raise NonFiniteError(message + "; nothing was written for them (--allow-nonfinite writes them anyway)")
    if warn is not None:
        warn(f"warning: {message}; writing them anyway (--allow-nonfinite)")


def generate(engine: Engine, plan: Plan, listener: Listener | None = None, cancel: CancelCheck | None = None,
             low_memory: bool = False, phase: Callable[[str], AbstractContextManager] = no_phase,
             allow_nonfinite: bool = False, warn: Callable[[str], None] | None = None,
             noise: NoiseFn | None = None) -> Iterator[tuple[Item, np.ndarray]]:
    """Sample and decode every work batch of a plan: (item, (H, W, 3) uint8 image) for each image to keep.

    Noise: rae_spec.noise.rows_noise, for each chunk the rows of its seed's logical batch (or `noise(chunk)`:
    (start noise, the generator the SDE continues from), e.g. rae sample-fid's per-sample noise). With low_memory
    the decoder is loaded only after every batch is sampled and the DiT freed (peak: the larger model, not
    both). `cancel()` is asked between steps (rae_spec.step_state.Cancelled ends the generator). Latents and
    decoded images are checked for NaN / Inf (NonFiniteError) unless `allow_nonfinite` (then `warn`)."""
    listener = listener or Listener()
    pipe = plan.pipe
    with phase("load"):
        load_models(engine, pipe, low_memory)
    kept = {it.index for it in plan.keep}

    def decoded(chunk: tuple[Item, ...], latents: np.ndarray) -> list[tuple[Item, np.ndarray]]:
        with phase("decode"):
            images = engine.decode(latents)
        check_finite(images, "decoded pixels", chunk, allow_nonfinite, warn)
        return [(it, im) for it, im in zip(chunk, to_uint8(images), strict=True) if it.index in kept]

    sampled = []
    for k, chunk in enumerate(plan.work):
        listener.batch_started(k, len(plan.work), chunk)
        if noise is None:
            start, rng = rows_noise(chunk[0].seed, plan.rows_per_seed, [it.row for it in chunk], pipe.latent_shape)
        else:
            start, rng = noise(chunk)
        labels = np.array([it.class_id for it in chunk], dtype=np.int64)
        with phase("sample"):
            latents = engine.sample(start, labels, pipe.sampler, pipe.guidance, pipe.shift, rng,
                                    on_step=listener.step, cancel=cancel)
        check_finite(latents, "sampled latents", chunk, allow_nonfinite, warn)
        listener.batch_sampled(k, len(plan.work))
        if low_memory:
            sampled.append((chunk, latents))
            continue
        yield from decoded(chunk, latents)
    if low_memory:
        engine.release("dit")
        with phase("load decoder"):
            engine.load_decoder(pipe)
        for chunk, latents in sampled:
            yield from decoded(chunk, latents)


# ---------------------------------------------------------------------------------------------- writing


def image_record(plan: Plan, item: Item, engine_info: dict[str, Any]) -> dict[str, Any]:
    """The `rae` metadata of one image of a plan."""
    return sample_record(plan.pipe, index=item.index, seed=item.seed, row=item.row, class_id=item.class_id,
                         class_name=plan.vocab.name(item.class_id), classes=list(plan.class_ids),
                         num_images=plan.job.num_images, batch_size=plan.job.batch_size, engine_info=engine_info,
                         files=plan.files)


def grid_image(plan: Plan, images: list[np.ndarray], engine_info: dict[str, Any]) -> tuple[np.ndarray, dict[str, Any]]:
    """(one grid image of a plan's images, its `rae-grid` record). With n > 1 each row is one class and seed,
    else the grid is about square."""
    job = plan.job
    n = job.num_images
    columns = n if n > 1 else min(len(images), math.ceil(math.sqrt(len(images))))
    record = grid_record(plan.pipe, seeds=list(job.seeds), classes=list(plan.class_ids),
                         class_names=[plan.vocab.name(c) for c in plan.class_ids], num_images=n,
                         batch_size=job.batch_size, columns=columns, engine_info=engine_info, files=plan.files)
    return grid(images, columns), record


def save_image(path: Path, image: np.ndarray, record: dict[str, Any], sidecar: bool = False) -> Path:
    """Write the PNG with its metadata (and optionally the JSON beside it), atomically."""
    save_png(path, image, png_chunks(record) if record.get("format") == FORMAT else
             {"rae": json.dumps(record, sort_keys=True), "Software": f"rae {record['rae_version']}"})
    if sidecar:
        write_sidecar(path, record)
    return path
