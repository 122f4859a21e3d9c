"""SIGTERM handled like Ctrl-C, for every command.

`timeout`, `docker stop`, `kill` and job schedulers stop a process with SIGTERM, whose default action
kills Python on the spot: no `finally`, no cleanup of temporary files. Inside `sigterm_as_interrupt()`
SIGTERM raises `Terminated`, a KeyboardInterrupt, so it takes exactly the path Ctrl-C takes: atomic writers
delete their temporary files, finished files stay, and the command exits with 128 + 15. (The training loop
installs its own handler while it trains, to save a checkpoint at the next step boundary instead.)
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator

EXIT_SIGTERM = 128 + signal.SIGTERM


class Terminated(KeyboardInterrupt):
    """The process received SIGTERM."""


def _raise(signum, frame) -> None:
    raise Terminated(f"terminated by signal {signum}")


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises Terminated (main thread only; elsewhere a no-op)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
