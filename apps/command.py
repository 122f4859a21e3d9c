"""How a command group runs from a shell: the `rae` command, and `python -m rae_torch.train` on its own.

SIGTERM takes Ctrl-C's path (rae_spec.signals), so atomic writers delete their temporary files: exit 130 for
Ctrl-C, 143 for SIGTERM. An error caused by the input is one line on stderr with exit status 2; anything else
is one line with status 1. `--debug` (or RAE_DEBUG=1) adds the traceback.
"""

from __future__ import annotations

import os
import sys
import traceback

import click

from rae_spec.signals import EXIT_SIGTERM, Terminated, sigterm_as_interrupt

from .errors import EXIT_INTERRUPTED, EXIT_USAGE, error_message, is_user_error, one_line


class CommandGroup(click.Group):
    """A click group whose standalone `main` turns interrupts and exceptions into exit codes and one-line
    errors (a subcommand group mounted inside another, like `rae train`, is handled by the outer one)."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        argv = list(sys.argv[1:] if args is None else args)
        prog_name = prog_name or self.name
        debug = "--debug" in argv or os.environ.get("RAE_DEBUG", "") not in ("", "0")
        try:
            with sigterm_as_interrupt():
                code = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except (click.exceptions.Abort, KeyboardInterrupt) as e:  # click turns Ctrl-C into Abort
            click.echo("interrupted: finished files are complete, unfinished ones were not written", err=True)
            terminated = isinstance(e, Terminated) or isinstance(e.__context__, Terminated)
            sys.exit(EXIT_SIGTERM if terminated else EXIT_INTERRUPTED)
        except click.exceptions.NoArgsIsHelpError as e:  # `rae`, `rae train`: the help as help, not one line
            click.echo(e.ctx.get_help(), err=True)
            sys.exit(EXIT_USAGE)
        except click.exceptions.UsageError as e:
            if debug:
                traceback.print_exc()
            command = e.ctx.command_path if e.ctx is not None else prog_name
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
            user = is_user_error(e)
            click.echo(f"error: {error_message(e)}" + ("" if user else " (run with --debug for the traceback)"),
                       err=True)
            sys.exit(EXIT_USAGE if user else 1)
        sys.exit(code if isinstance(code, int) else 0)
