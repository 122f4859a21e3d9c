"""Errors a user can act on. The CLI prints them as one line on stderr and exits with status 2."""

from __future__ import annotations

from rae_spec.configs import ConfigError
from rae_spec.files import USER_OS_ERRNOS, OutputError

EXIT_USAGE = 2  # a problem with the input: options, classes, files, configs
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT


class UserError(Exception):
    """Something the user can fix (an option, a file, a missing download); the message says how."""


class MissingFileError(UserError):
    """A model file is neither in the models folder nor in the Hugging Face cache (and cannot be fetched)."""


# Backend errors are recognised by name so this module never imports torch or mlx.
_USER_ERROR_NAMES = {"CheckpointError", "ConfigError", "OutputError", "TorchPickleError", "SafetensorsError"}


def is_user_error(exc: BaseException) -> bool:
    """True for errors caused by the input (bad file, bad config, a full or read-only disk), which deserve one
    line, not a traceback."""
    if isinstance(exc, (UserError, ConfigError, OutputError)):
        return True
    if isinstance(exc, OSError) and exc.errno in USER_OS_ERRNOS:
        return True
    return any(cls.__name__ in _USER_ERROR_NAMES for cls in type(exc).__mro__)


def error_message(exc: BaseException) -> str:
    """What the CLI and the app say about an error (the CLI after `error: `): the input error's one line, or
    the type of an unexpected one with its message."""
    if is_user_error(exc):
        return one_line(exc)
    return f"unexpected {type(exc).__name__}: {one_line(exc)}"


def one_line(exc: BaseException) -> str:
    """The message of an exception folded onto one line (an OS error as 'what: path')."""
    if isinstance(exc, OSError) and exc.strerror:
        names = " -> ".join(str(n) for n in (exc.filename, exc.filename2) if n is not None)
        text = f"{exc.strerror}: {names}" if names else exc.strerror
    else:
        text = str(exc)
    text = " ".join(text.split())
    return text or type(exc).__name__
