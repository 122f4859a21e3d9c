"""Options shared by several subcommands, so they are spelled and documented the same everywhere."""

from __future__ import annotations

from pathlib import Path

import click

from .engines.base import DTYPES
from .hub import MODELS_DIR_ENV

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
