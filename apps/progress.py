"""Progress bars (tqdm, on stderr) and, with -v, the time and peak memory of every phase."""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator

from tqdm import tqdm

from .hub import human_size


def bar(total: int, desc: str, quiet: bool, leave: bool = False, position: int | None = None,
        unit: str = "step") -> tqdm:
    return tqdm(total=total, desc=desc, leave=leave, file=sys.stderr, disable=quiet, position=position,
                dynamic_ncols=True, unit=unit)


class Phases:
    """Times phases (load, sample, decode, ...) and the engine's peak memory during each."""

    def __init__(self, engine, verbose: bool, echo: Callable[[str], None]):
        self.engine = engine
        self.verbose = verbose
        self.echo = echo
        self.totals: dict[str, list[float]] = {}  # name -> [seconds, peak bytes, count]

    @contextlib.contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        self.engine.reset_peak_memory()
        start = time.perf_counter()
        yield
        seconds = time.perf_counter() - start
        peak = self.engine.peak_memory() or 0
        total = self.totals.setdefault(name, [0.0, 0, 0])
        total[0] += seconds
        total[1] = max(total[1], peak)
        total[2] += 1
        if self.verbose:
            self.echo(f"{name}: {seconds:.2f} s, {self._memory(peak)}")

    def _memory(self, peak: int) -> str:
        kind = getattr(self.engine, "memory_kind", lambda: "peak memory")()
        return f"{kind} {human_size(peak)}"

    def summary(self) -> list[str]:
        return [f"{name}: {s:.2f} s in {n} run{'s' if n > 1 else ''}, {self._memory(int(p))}"
                for name, (s, p, n) in self.totals.items()]
