"""rae_apps: the `rae` command line, a thin front end over rae_spec and the torch / MLX backends.

Nothing here imports torch or mlx at module level: a backend is imported only when a command needs it
(apps/engines), so `rae --help`, `rae download` and `rae info` work with neither installed.
"""

from rae_spec import __version__

__all__ = ["__version__"]
