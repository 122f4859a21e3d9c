"""Stage-2 training throughput with the latent cache against online encoding, measured in one run.

A toy ImageFolder (random shapes, PNG), a small random-init DINOv2-style encoder, a small DiT^DH; the same
stage-2 config trained for --steps steps twice: once encoding every batch (decode PNG, ADM crop, flip,
encoder forward), once reading the cache built beforehand (both flips). Prints samples/s of each, the
ratio, the cache build time, and the number of epochs after which building the cache has paid off.

    python bench/cache_speedup.py [--image-size 64] [--encoder-layers 4] [--steps 60]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rae_spec import EncoderConfig  # noqa: E402
from rae_torch.train import Stage2Trainer, build_cache, load_config  # noqa: E402
from rae_torch.train.distributed import init  # noqa: E402
from rae_torch.train.tracking import setup_logging  # noqa: E402
from tests.toy import make_image_folder, save_random_encoder  # noqa: E402


def timed_steps(cfg) -> float:
    """Samples per second over the configured steps, after one warm-up step."""
    trainer = Stage2Trainer(cfg, runtime=init("cpu"))
    trainer.build()
    it = trainer.loader()
    trainer.train_step([next(it)])
    steps = cfg.train.max_steps
    t0 = time.perf_counter()
    for _ in range(steps):
        trainer.train_step([next(it)])
    return steps * cfg.train.global_batch_size / (time.perf_counter() - t0)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--encoder-width", type=int, default=64)
    p.add_argument("--encoder-layers", type=int, default=4)
    p.add_argument("--images", type=int, default=512)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    setup_logging(None, False)
    root = Path(tempfile.mkdtemp(prefix="rae_cache_bench_"))
    try:
        S, w = args.image_size, args.encoder_width
        make_image_folder(root / "data", classes=8, per_class=args.images // 8, size=(S + S // 4, S))
        enc = EncoderConfig(kind="dinov2", hidden_size=w, num_layers=args.encoder_layers, num_heads=max(w // 32, 1),
                            intermediate_size=4 * w, patch_size=8, image_size=S)
        save_random_encoder(enc, root / "encoder")
        grid = S // 8
        data = {"path": str(root / "data"), "image_size": S, "num_workers": args.workers}
        t0 = time.perf_counter()
        build_cache(load_config("cache", data={"output_dir": str(root / "cache"), "encoder": str(root / "encoder"),
                                                "encoder_input_size": S, "batch_size": 64, "dtype": "bfloat16",
                                                "progress": False, "data": data}))
        build_s = time.perf_counter() - t0
        speeds = {}
        for name, cache in (("online", None), ("cache", str(root / "cache"))):
            cfg = load_config("stage2", data={
                "output_dir": str(root / name), "encoder": str(root / "encoder"), "encoder_input_size": S,
                "model": {"type": "DiTDHConfig", "input_size": grid, "in_channels": w, "hidden_size": [w, 2 * w],
                          "depth": [2, 1], "num_heads": [max(w // 32, 1), max(w // 16, 1)], "num_classes": 8},
                "data": {**data, "cache": cache},
                "train": {"global_batch_size": args.batch, "max_steps": args.steps, "progress": False,
                          "tensorboard": False}})
            speeds[name] = timed_steps(cfg)
        ratio = speeds["cache"] / speeds["online"]
        per_epoch_saved = args.images / speeds["online"] - args.images / speeds["cache"]
        print(f"images {args.images} at {S} px, encoder {args.encoder_layers}x{w} (random init), "
              f"DiT^DH [{w}, {2 * w}], batch {args.batch}, {args.steps} steps, {torch.get_num_threads()} thread(s)")
        print(f"online encoding: {speeds['online']:.1f} samples/s")
        print(f"latent cache:    {speeds['cache']:.1f} samples/s")
        print(f"cache build: {build_s:.1f}s for {args.images} images x 2 flips; pays off after "
              f"{build_s / max(per_epoch_saved, 1e-9):.2f} epochs")
        print(f"cache_speedup={ratio:.3f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
