"""The `rae` command: a click group of subcommands, with errors a user can act on.

Errors caused by the input (an unknown class, a missing or wrong file, a bad option combination,
offline without the files, a full or read-only disk) print one line on stderr and exit with status 2;
`--debug` adds the traceback. Ctrl-C exits with 130 and SIGTERM with 143, both leaving no partial files.
`rae train` is mounted from the training package when it is installed (it needs torch; nothing else here
does until a command runs).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import click

from . import __version__
from .app.cli import app
from .classes_cmd import classes
from .command import CommandGroup
from .convert_cmd import convert
from .doctor import doctor
from .download import download
from .evaluate import evaluate_cmd
from .info import info
from .options import debug_option
from .reconstruct import reconstruct
from .sample import sample
from .sample_fid import sample_fid

TRAIN_MODULE = "rae_torch.train.cli"


def _train_available() -> bool:
    """Whether rae_torch ships the training CLI, found without importing torch."""
    if importlib.util.find_spec("torch") is None:
        return False
    spec = importlib.util.find_spec("rae_torch")
    if spec is None or not spec.submodule_search_locations:
        return False
    return any((Path(p) / "train" / "cli.py").is_file() for p in spec.submodule_search_locations)


class RaeGroup(CommandGroup):
    """Lazily mounts `train`; errors and signals are handled as in every command group (apps/command.py)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = super().list_commands(ctx)
        return sorted(names + ["train"]) if _train_available() else names

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name == "train" and _train_available():
            from importlib import import_module

            return import_module(TRAIN_MODULE).train_cli
        return super().get_command(ctx, name)


@click.group("rae", cls=RaeGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="rae")
@debug_option
def cli() -> None:
    """Representation Autoencoders and DiT^DH: sample, reconstruct, download, inspect.

    \b
    rae sample --class 207 --output golden.png     sample the released DiT^DH-XL (256 px)
    rae reconstruct photo.jpg                      encode + decode with an RAE, print PSNR / SSIM
    rae download dit-dh-xl-256-ag                  fetch a preset's files into the HF cache
    rae convert dit-dh-xl-256 dit-mlx/             a checkpoint -> MLX (or torch) model folder
    rae info dit-dh-xl-256-ag                      configs, sizes, cache status, memory
    rae app                                        the local web app: warm models, previews, gallery
    rae classes retriever                          find ImageNet class ids by name
    rae sample-fid --output fid50k/                50,000 images for FID (sharded, resumable)
    rae eval ref.npz samples.npz --inception F     FID, sFID, IS, precision, recall (ADM's evaluator)
    rae doctor                                     this machine: backend, memory, presets, a timing
    """


cli.add_command(sample)
cli.add_command(app)
cli.add_command(reconstruct)
cli.add_command(download)
cli.add_command(convert)
cli.add_command(info)
cli.add_command(classes)
cli.add_command(sample_fid)
cli.add_command(evaluate_cmd)
cli.add_command(doctor)


def main() -> None:
    cli.main()


if __name__ == "__main__":
    main()
