"""The hostile-input catalogue: many seeded variants per category, run in one process, tallied.

    python -m tests.reliability.catalogue               # 40 cases per category (fuzz: 400), seed 0
    python -m tests.reliability.catalogue -n 100 --fuzz 1000 --seed 7 --only fuzz

Prints, per category, the cases tried and how many ended ok (exit 0 with a sound result), in a clear
refusal (exit 2, one line) or in anything else (a traceback, exit 1, a hang over 5 s, more than 1 GB,
exit 0 with a bad result, a user's file changed, a partial file left); then every "anything else" case.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=40, help="cases per category")
    parser.add_argument("--fuzz", type=int, default=400, help="fuzz mutations")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--only", default="", help="run only categories whose name contains this")
    args = parser.parse_args()

    sys.path.insert(0, str(REPO))
    import numpy as np
    import torch

    import tests.conftest  # noqa: F401  (binds rae_apps / rae_convert to this checkout; MLX before mlx.core)
    from tests.apps.conftest import build_world
    from tests.reliability.cases import CATEGORIES, Context
    from tests.reliability.harness import environment

    torch.set_num_threads(1)
    root = Path(tempfile.mkdtemp(prefix="rae-catalogue-"))
    world = build_world(root / "world")
    env = dict(HF_HUB_CACHE=str(world.cache), HF_HUB_OFFLINE="1", RAE_PRESETS=str(world.presets),
               RAE_CACHE=str(root / "rae-cache"))
    for k in ("RAE_MODELS_DIR", "HF_HOME"):
        os.environ.pop(k, None)
    rows, failures = [], []
    start = time.perf_counter()
    with environment(**env):
        ctx = Context(world, root / "cases")  # clean references first, before any hostile file
        rng = np.random.default_rng(args.seed)
        for name, make in CATEGORIES.items():
            if args.only and args.only not in name:
                continue
            count = args.fuzz if name.startswith("fuzz") else args.n
            tally: Counter = Counter()
            t0 = time.perf_counter()
            for case in make(ctx, rng, count):
                outcome = case.run()
                tally[outcome.kind] += 1
                if outcome.kind == "other":
                    failures.append(f"[{case.category}] {case.name}: {outcome.why()}")
            rows.append((name, sum(tally.values()), tally["ok"], tally["refused"], tally["other"],
                         time.perf_counter() - t0))
            print(f"{name}: {rows[-1][1]} cases in {rows[-1][5]:.0f} s", file=sys.stderr, flush=True)
    os.chdir(REPO)
    width = max(len(r[0]) for r in rows)
    print(f"\n{'category':{width}}  tried     ok  refused (exit 2)  anything else")
    for name, tried, ok, refused, other, _ in rows:
        print(f"{name:{width}}  {tried:5d}  {ok:5d}  {refused:16d}  {other:13d}")
    total = [sum(r[i] for r in rows) for i in (1, 2, 3, 4)]
    print(f"{'total':{width}}  {total[0]:5d}  {total[1]:5d}  {total[2]:16d}  {total[3]:13d}")
    print(f"({time.perf_counter() - start:.0f} s, seed {args.seed}, scratch {root})")
    for line in failures:
        print(line)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
