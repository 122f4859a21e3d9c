"""Run a list of training tasks inside one torchrun process group (used by test_distributed.py).

    python -m torch.distributed.run --standalone --nproc_per_node=2 -m tests.rae_torch.train.dist_worker TASKS.json
"""

from __future__ import annotations

import json
import sys

from rae_torch.train import build_cache, compute_stats, load_config, train_stage1, train_stage2
from rae_torch.train.distributed import cleanup, init

RUNNERS = {"stage1": train_stage1, "stage2": train_stage2, "stats": compute_stats, "cache": build_cache}


def main(path: str) -> None:
    rt = init()
    for task in json.loads(open(path).read()):
        RUNNERS[task["stage"]](load_config(task["stage"], data=task["data"]), rt)
    cleanup()


if __name__ == "__main__":
    main(sys.argv[1])
