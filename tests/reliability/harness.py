"""Running one hostile case and judging what happened, the way a user would see it.

A case ends in one of three ways:
- ok: exit status 0 with a sound result (the case's own check: an image equal to the clean one, finite
  pixels, a file left untouched, ...);
- refused: exit status 2 with exactly one `error: ...` line on stderr (informational lines aside), no
  traceback, within the time limit;
- other: anything else (a traceback, exit 1, a hang past the time limit, more than 1 GB of extra memory,
  exit 0 with a bad result). The catalogue's "anything else" column must be 0.

Everything runs in-process (a subprocess costs about a second here): the `rae` CLI through click's runner,
which goes through the same top-level error handler as the real command; loader calls through the CLI's
own classification (`is_user_error`). A SIGALRM timer stops hangs.
"""

from __future__ import annotations

import contextlib
import os
import re
import resource
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

TIME_LIMIT = 5.0
MEMORY_LIMIT = 1 << 30
INFO_PREFIXES = ("backend: ", "note: ", "seed: ", "warning: ", "converting ", "interrupted: ")
LOG_LINE = re.compile(r"^\[\d\d:\d\d:\d\d\] ")  # the training commands' progress log


class Hang(BaseException):
    """The time limit passed (a BaseException, so no `except Exception` in the code under test eats it)."""


@dataclass
class Outcome:
    code: int
    stderr: str
    seconds: float
    rss_growth: int = 0
    problem: str = ""  # set by a case's own check of an exit-0 result (or of what a refusal left behind)
    limit: float = TIME_LIMIT  # training commands build models and read data first: they get longer
    cpu: float = 0.0  # CPU seconds: what "refused within a second" is measured in (a busy machine slows wall time)

    @property
    def kind(self) -> str:
        if self.problem or self.seconds > self.limit or self.rss_growth > MEMORY_LIMIT:
            return "other"
        if self.code == 0:
            return "ok"
        if self.code == 2 and one_error_line(self.stderr):
            return "refused"
        return "other"

    def why(self) -> str:
        if self.problem:
            return self.problem
        if self.seconds > self.limit:
            return f"took {self.seconds:.1f} s"
        if self.rss_growth > MEMORY_LIMIT:
            return f"grew by {self.rss_growth >> 20} MB"
        return f"exit {self.code}: {self.stderr.strip()[-400:]}"


def one_error_line(stderr: str) -> bool:
    lines = [line for line in stderr.strip().splitlines()
             if not line.startswith(INFO_PREFIXES) and not LOG_LINE.match(line)]
    return len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in stderr


def _rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # kB on Linux


@contextlib.contextmanager
def limits(seconds: float = TIME_LIMIT) -> Iterator[dict]:
    """Time the block, stop it (Hang) past `seconds` + 1, and measure its peak-RSS growth."""
    def expire(signum, frame):
        raise Hang(f"still running after {seconds + 1:.0f} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds + 1)
    out = {"start": time.perf_counter(), "cpu0": time.process_time(), "rss": _rss()}
    try:
        yield out
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        out["seconds"] = time.perf_counter() - out["start"]
        out["cpu"] = time.process_time() - out["cpu0"]
        out["rss_growth"] = _rss() - out["rss"]


def run_cli(*args, cli=None, input: str | None = None, limit: float = TIME_LIMIT) -> Outcome:
    """`rae ARGS...` in-process (or another click command `cli`), as a user would run it."""
    from click.testing import CliRunner

    if cli is None:
        from rae_apps.cli import cli
    runner = CliRunner()
    try:
        with limits(limit) as m:
            result = runner.invoke(cli, [str(a) for a in args], catch_exceptions=False, input=input)
    except Hang as e:
        return Outcome(-1, str(e), m["seconds"], m["rss_growth"], limit=limit, cpu=m["cpu"])
    except Exception as e:  # noqa: BLE001 - escaped the CLI's own handler: a traceback for the user
        return Outcome(1, f"Traceback: {type(e).__name__}: {e}", m["seconds"], m["rss_growth"], limit=limit,
                       cpu=m["cpu"])
    return Outcome(result.exit_code, result.stderr, m["seconds"], m["rss_growth"], limit=limit, cpu=m["cpu"])


def run_call(fn: Callable[[], object]) -> tuple[Outcome, object]:
    """A loader call judged as the CLI would report its exception: a user error is one line and exit 2,
    anything else exit 1 with a traceback."""
    from rae_apps.errors import is_user_error, one_line

    result = None
    try:
        with limits() as m:
            result = fn()
    except Hang as e:
        return Outcome(-1, str(e), m["seconds"], m["rss_growth"]), None
    except Exception as e:  # noqa: BLE001 - classified below
        code = 2 if is_user_error(e) else 1
        text = f"error: {one_line(e)}" if code == 2 else f"Traceback: {type(e).__name__}: {e}"
        return Outcome(code, text, m["seconds"], m["rss_growth"]), None
    return Outcome(0, "", m["seconds"], m["rss_growth"]), result


def leftovers(folder: Path) -> list[str]:
    """Temporary or partial files under `folder` (what an interrupted write must not leave)."""
    return sorted(str(p) for p in Path(folder).rglob("*") if p.name.endswith(".tmp") or ".rae-probe-" in p.name)


@contextlib.contextmanager
def environment(**variables: str) -> Iterator[None]:
    old = {k: os.environ.get(k) for k in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
