"""Options shared by several subcommands, so they are spelled and documented the same everywhere."""

from __future__ import annotations

from pathlib import Path

import click

from rae_spec import samplers

from .engines.base import DTYPES
from .errors import UserError
from .hub import MODELS_DIR_ENV
from .job import MAX_STEPS

BACKEND_CHOICES = ("auto", "mlx", "torch")


def debug_option(f):
    return click.option("--debug", is_flag=True, expose_value=False,
                        help="Show the full traceback of an error.")(f)


def models_dir_option(f):
    return click.option("--models-dir", type=click.Path(file_okay=False, path_type=Path), envvar=MODELS_DIR_ENV,
                        help="Find preset and hub files in this plain folder (DIR/<org>/<repo>/<file>, as `rae "
                             "download --models-dir` fills it) instead of the Hugging Face cache "
                             f"[env {MODELS_DIR_ENV}].")(f)


def presets_option(f):
    return click.option("--presets", "presets_file", type=click.Path(dir_okay=False, path_type=Path),
                        envvar="RAE_PRESETS",
                        help="JSON file adding or changing presets (see `rae info --help`) [env RAE_PRESETS].")(f)


def backend_options(f):
    f = click.option("--quantize", type=click.Choice(["4", "8"]), default=None,
                     help="Quantize the linear layers' weights to 4 or 8 bits (MLX only).")(f)
    f = click.option("--dtype", type=click.Choice(DTYPES), default=None,
                     help="Compute dtype [default: float32].")(f)
    f = click.option("--backend", type=click.Choice(BACKEND_CHOICES), default="auto", show_default=True,
                     help="auto: MLX on Apple silicon, else torch (CUDA when available, else CPU).")(f)
    return f


def output_options(f):
    f = click.option("-q", "--quiet", is_flag=True, help="No progress bars.")(f)
    f = click.option("-v", "--verbose", is_flag=True, help="Print the time and peak memory of every phase.")(f)
    return f


def pipeline_options(f):
    """What pipeline samples and how: --preset / --model / --config, --steps, --sampler, --guidance, --scale,
    --interval (rae sample and rae sample-fid)."""
    f = click.option("--config", type=click.Path(path_type=Path), default=None,
                     help="A reference implementation sampling YAML (stage_1, stage_2, transport, sampler, guidance, "
                          "misc).")(f)
    f = click.option("--model", type=click.Path(path_type=Path), default=None,
                     help="Your DiT (a folder with config.json and weights, or a checkpoint with config.json beside "
                          "it), or a whole pipeline folder (pipeline.json, as training exports).")(f)
    f = click.option("--preset", type=str, default=None, help="Pipeline preset [default: dit-dh-xl-256-ag].")(f)
    f = click.option("--interval", type=str, default=None, metavar="LO,HI",
                     help="Guide only where LO <= t <= HI (t = 1 is noise).")(f)
    f = click.option("--scale", type=float, default=None, help="Guidance scale (1 = unguided).")(f)
    f = click.option("--guidance", type=click.Choice(["none", "cfg", "autoguidance"]), default=None,
                     help="Guidance method [default: the preset's].")(f)
    f = click.option("--sampler", type=click.Choice(list(samplers.cli_choices())), default=None,
                     help=f"{samplers.describe()} [default: the preset's].")(f)
    f = click.option("--steps", type=click.IntRange(2, MAX_STEPS), default=None,
                     help="Time-grid points, counted as the reference does (50 points = 49 model steps).")(f)
    return f


def parse_interval(text: str) -> tuple[float, float]:
    """--interval LO,HI -> (lo, hi) with 0 <= lo < hi <= 1."""
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError as e:
        raise UserError(f"--interval must be LO,HI (two numbers, e.g. 0.1,1.0), got {text!r}") from e
    if not 0.0 <= lo < hi <= 1.0:
        raise UserError(f"--interval needs 0 <= LO < HI <= 1, got {text!r}")
    return lo, hi
