"""The `rae` command: a click group of subcommands, with errors a user can act on.

Errors caused by the input (an unknown class, a missing or wrong file, a bad option combination,
offline without the files, a full or read-only disk) print one line on stderr and exit with status 2;
`--debug` adds the traceback. Ctrl-C exits with 130 and SIGTERM with 143, both leaving no partial files.
`rae train` is mounted from the training package when it is installed (it needs torch; nothing else here
does until a command runs).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import traceback
from pathlib import Path

import click

from rae_spec.signals import EXIT_SIGTERM, Terminated, sigterm_as_interrupt

from . import __version__
from .app.cli import app
from .classes_cmd import classes
from .convert_cmd import convert
from .download import download
from .errors import EXIT_INTERRUPTED, EXIT_USAGE, is_user_error, one_line
from .evaluate import evaluate_cmd
from .info import info
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


class RaeGroup(click.Group):
    """Lazily mounts `train` and turns exceptions into one-line errors."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        names = super().list_commands(ctx)
        return sorted(names + ["train"]) if _train_available() else names

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name == "train" and _train_available():
            from importlib import import_module

            return import_module(TRAIN_MODULE).train_cli
        return super().get_command(ctx, name)

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        argv = list(sys.argv[1:] if args is None else args)
        debug = "--debug" in argv or os.environ.get("RAE_DEBUG", "") not in ("", "0")
        try:
            with sigterm_as_interrupt():
                code = super().main(argv, prog_name or "rae", complete_var, standalone_mode=False, **extra)
        except (click.exceptions.Abort, KeyboardInterrupt) as e:  # click turns Ctrl-C into Abort
            click.echo("interrupted: finished files are complete, unfinished ones were not written", err=True)
            terminated = isinstance(e, Terminated) or isinstance(e.__context__, Terminated)
            sys.exit(EXIT_SIGTERM if terminated else EXIT_INTERRUPTED)
        except click.exceptions.UsageError as e:
            if debug:
                traceback.print_exc()
            command = e.ctx.command_path if e.ctx is not None else "rae"
            click.echo(f"error: {one_line(e.format_message()).rstrip('.')} (see `{command} --help`)", err=True)
            sys.exit(EXIT_USAGE)
        except click.ClickException as e:
            if debug:
                traceback.print_exc()
            click.echo(f"error: {one_line(e.format_message())}", err=True)
            sys.exit(e.exit_code)
        except Exception as e:  # noqa: BLE001 - the last line of defence: one line, unless --debug
            if debug:
                traceback.print_exc()
            if is_user_error(e):
                click.echo(f"error: {one_line(e)}", err=True)
                sys.exit(EXIT_USAGE)
            click.echo(f"error: unexpected {type(e).__name__}: {one_line(e)} (run with --debug for the traceback)",
                       err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


@click.group("rae", cls=RaeGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="rae")
@click.option("--debug", is_flag=True, expose_value=False, help="Show the full traceback of an error.")
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


def main() -> None:
    cli.main()


if __name__ == "__main__":
    main()
