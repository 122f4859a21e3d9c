"""Errors a user can act on. The CLI prints them as one line on stderr and exits with status 2."""

from __future__ import annotations

from rae_spec.configs import ConfigError

EXIT_USAGE = 2  # a problem with the input: options, classes, files, configs
EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT


class UserError(Exception):
    """Something the user can fix (an option, a file, a missing download); the message says how."""


class MissingFileError(UserError):
    """A model file is neither in the models folder nor in the Hugging Face cache (and cannot be fetched)."""


# Backend errors are recognised by name so this module never imports torch or mlx.
_USER_ERROR_NAMES = {"CheckpointError", "ConfigError"}


def is_user_error(exc: BaseException) -> bool:
    """True for errors caused by the input (bad file, bad config), which deserve one line, not a traceback."""
    if isinstance(exc, (UserError, ConfigError)):
        return True
    return any(cls.__name__ in _USER_ERROR_NAMES for cls in type(exc).__mro__)


def one_line(exc: BaseException) -> str:
    """The message of an exception folded onto one line."""
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
