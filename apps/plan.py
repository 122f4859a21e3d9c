"""The generation order, shared by every backend.

For each seed, in the order given, one logical batch holds the requested classes in the order given,
each repeated n times (class-major): B = len(classes) * n rows. Its initial noise is
`np.random.default_rng(seed).standard_normal((B, C, H, W), dtype=np.float32)` (numpy, NCHW; see
rae_spec.noise), so a seed gives the same image on every backend. Images are numbered in that order,
seed after seed.

`--batch-size` only splits a logical batch into chunks of rows; the noise of a row never depends on it.
The SDE's per-step noise comes from the same generator, also drawn for the whole logical batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Item:
    """One image to generate: its global index, seed, row in the seed's logical batch, and class."""

    index: int
    seed: int
    row: int
    class_id: int


def generation_order(seeds: Sequence[int], classes: Sequence[int], n: int) -> list[Item]:
    """Every image in generation order: seed-major, then class, then repeat."""
    items = []
    for seed in seeds:
        rows = [c for c in classes for _ in range(n)]
        for row, class_id in enumerate(rows):
            items.append(Item(len(items), seed, row, class_id))
    return items


def chunks(items: Sequence[Item], batch_size: int) -> list[list[Item]]:
    """Split the items into work batches of at most batch_size rows, never across seeds."""
    out: list[list[Item]] = []
    for item in items:
        if out and out[-1][0].seed == item.seed and len(out[-1]) < batch_size:
            out[-1].append(item)
        else:
            out.append([item])
    return out
