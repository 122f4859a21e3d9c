"""The paper's width finding at toy scale: a DiT narrower than the latent's token dimension cannot fit
even a single latent.

Flow matching on one fixed latent x (token dimension n, a 4x4 grid): the target is v = eps - x. A DiT of
width d predicts each token through its final linear layer W (n x d) plus a bias, i.e. from a d-dim
affine subspace of R^n; the part of eps orthogonal to it (n - d of n isotropic dims) cannot be predicted,
so the per-element loss is at least (n - d) / n for d < n, whatever the training. For d >= n the floor is
0 and the loss falls towards it. DiT^DH with a narrow body but a head of width >= n escapes the floor
(the paper's reason for the wide, shallow head).

Prints a table (model, width, final loss = mean of the last 10% of steps, the floor) and one line per
row `width_law <model> d=<d> loss=<l> floor=<f>`.

    python bench/width_law.py [--n 64] [--steps 1500]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rae_spec import DiTDHConfig, LightningDiTConfig, TransportConfig  # noqa: E402
from rae_torch import build_dit  # noqa: E402
from rae_torch.transport import Transport  # noqa: E402


def overfit(config, x: torch.Tensor, steps: int, batch: int, lr: float, seed: int) -> float:
    """Train `config` by flow matching on the single latent x; the mean loss over the last 10% of steps."""
    torch.manual_seed(seed)
    model = build_dit(config).train()
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr, betas=(0.9, 0.95),
                            weight_decay=0.0)
    dim = x.numel()
    transport = Transport(TransportConfig(time_dist_shift_dim=dim, time_dist_shift_base=min(4096, dim)))
    data = x.expand(batch, *x.shape)
    labels = torch.zeros(batch, dtype=torch.long)
    tail = []
    for step in range(steps):
        lr_now = lr * min(1.0, (step + 1) / 100)
        for g in opt.param_groups:
            g["lr"] = lr_now
        loss = transport.loss(model, data, labels)["loss"].mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step >= steps - max(steps // 10, 1):
            tail.append(loss.item())
    return sum(tail) / len(tail)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=64, help="token dimension (latent channels)")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    n, grid = args.n, 4
    x = torch.randn(n, grid, grid, generator=torch.Generator().manual_seed(0))
    common = dict(input_size=grid, patch_size=1, in_channels=n, num_classes=1, class_dropout_prob=0.0)
    rows = []
    for d in sorted({n // 4, n // 2, 3 * n // 4, n, 2 * n}):
        rows.append(("DiT", d, LightningDiTConfig(hidden_size=d, depth=2, num_heads=max(d // 16, 1), **common)))
    narrow = n // 2
    rows.append(("DiT^DH", narrow, DiTDHConfig(hidden_size=(narrow, 2 * n), depth=(2, 1),
                                              num_heads=(max(narrow // 16, 1), 2 * n // 16), **common)))
    print(f"single latent: {n} channels x {grid}x{grid} tokens, {args.steps} steps of batch {args.batch}")
    print(f"{'model':8s} {'width':>12s} {'final loss':>11s} {'floor (n-d)/n':>14s}  seconds")
    results = []
    for name, d, cfg in rows:
        t0 = time.perf_counter()
        loss = overfit(cfg, x, args.steps, args.batch, args.lr, seed=1)
        head = cfg.hidden_size[1] if isinstance(cfg, DiTDHConfig) else d
        floor = max(n - head, 0) / n
        width = f"{d}" if name == "DiT" else f"{d} (head {head})"
        print(f"{name:8s} {width:>12s} {loss:11.4f} {floor:14.4f}  {time.perf_counter() - t0:.0f}", flush=True)
        results.append((name, d, head, loss, floor))
    for name, d, head, loss, floor in results:
        print(f"width_law {name} d={d} head={head} loss={loss:.4f} floor={floor:.4f}")


if __name__ == "__main__":
    main()
