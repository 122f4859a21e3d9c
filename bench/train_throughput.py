"""Stage-2 DiT^DH-XL training throughput (images/s) and peak memory on one CUDA GPU, through the real
trainer (rae_torch.train.stage2.Stage2Trainer.train_step: data, encoding or cache read, noise, forward,
backward, clip, AdamW, EMA).

Variants: precision fp32 (TF32) / bf16, torch.compile off / on, online encoding (a random-init
DINOv2-B: the same FLOPs as the pretrained one) / latent cache (bf16). Data: --images synthetic 256 px
JPEGs in an ImageFolder, encoded into a cache once. Every variant runs in this one process, so the
ratios compare like with like; each prints one JSON line, and a table follows.

    python bench/train_throughput.py                     # on a GPU machine (~5-8 min on one H100)
    python bench/train_throughput.py --tiny --device cpu # a smoke test of the script itself
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rae_spec import EncoderConfig  # noqa: E402
from rae_spec.presets import DINOV2_B, DITDH_XL  # noqa: E402
from rae_torch.train import Stage2Trainer, build_cache, load_config  # noqa: E402
from rae_torch.train.distributed import init  # noqa: E402
from rae_torch.train.tracking import setup_logging  # noqa: E402
from tests.toy import save_random_encoder  # noqa: E402


def write_images(root: Path, n: int, size: int, classes: int = 16) -> None:
    rng = np.random.default_rng(0)
    for i in range(n):
        folder = root / f"c{i % classes:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        arr = rng.integers(0, 256, (size + size // 4, size, 3), dtype=np.uint8)
        Image.fromarray(arr).save(folder / f"{i:06d}.jpg", quality=90)


def measure(cfg, device: str, warmup: int, steps: int) -> dict:
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
    trainer = Stage2Trainer(cfg, runtime=init(device))
    trainer.build()
    it = trainer.loader()
    t_compile = time.perf_counter()
    for _ in range(warmup):
        trainer.train_step([next(it)])
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    warm_s = time.perf_counter() - t_compile
    t0 = time.perf_counter()
    for _ in range(steps):
        metrics = trainer.train_step([next(it)])
    float(metrics["loss"])  # wait for the device
    dt = time.perf_counter() - t0
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else float("nan")
    del trainer, it
    return {"images_per_s": steps * cfg.train.global_batch_size / dt, "step_s": dt / steps, "peak_gib": peak,
            "warmup_s": warm_s}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cuda")
    p.add_argument("--batch", type=int, default=64, help="images per step (one GPU)")
    p.add_argument("--images", type=int, default=1024)
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--workers", type=int, default=8)
    p.add_argument("--variants", default="fp32,bf16,bf16+compile,bf16+cache,bf16+compile+cache",
                   help="comma-separated: precision[+compile][+cache]")
    p.add_argument("--tiny", action="store_true", help="small models (to smoke-test the script on a CPU)")
    args = p.parse_args()
    setup_logging(None, False)
    root = Path(tempfile.mkdtemp(prefix="rae_throughput_"))
    try:
        size = 64 if args.tiny else 256
        write_images(root / "data", args.images, size)
        if args.tiny:
            enc = EncoderConfig(kind="dinov2", hidden_size=32, num_layers=2, num_heads=2, intermediate_size=64,
                                patch_size=8, image_size=64)
            model = {"type": "DiTDHConfig", "input_size": 8, "in_channels": 32, "hidden_size": [32, 64],
                     "depth": [2, 1], "num_heads": [2, 2], "num_classes": 16}
            enc_size = 64
        else:
            enc = DINOV2_B
            model = {"type": "DiTDHConfig", "input_size": 16, "in_channels": 768, **{k: list(v) for k, v in
                                                                                       DITDH_XL.items()}}
            enc_size = 224
        save_random_encoder(enc, root / "encoder")
        data = {"path": str(root / "data"), "image_size": size, "num_workers": args.workers}
        t0 = time.perf_counter()
        build_cache(load_config("cache", data={"output_dir": str(root / "cache"), "encoder": str(root / "encoder"),
                                                "encoder_input_size": enc_size, "batch_size": 64,
                                                "dtype": "bfloat16", "precision": "bf16" if not args.tiny else "fp32",
                                                "progress": False, "data": data}), init(args.device))
        cache_s = time.perf_counter() - t0
        rows = []
        for variant in args.variants.split(","):
            parts = variant.split("+")
            cfg = load_config("stage2", data={
                "output_dir": str(root / "run"), "model": model, "encoder": str(root / "encoder"),
                "encoder_input_size": enc_size,
                "data": {**data, "cache": str(root / "cache") if "cache" in parts else None},
                "train": {"global_batch_size": args.batch, "max_steps": args.steps, "precision": parts[0],
                          "compile": "compile" in parts, "tf32": True, "progress": False, "tensorboard": False}})
            result = {"variant": variant, "batch": args.batch, "device": torch.cuda.get_device_name()
                      if args.device.startswith("cuda") else "cpu", **measure(cfg, args.device, args.warmup,
                                                                              args.steps)}
            rows.append(result)
            print(json.dumps(result), flush=True)
        base = rows[0]["images_per_s"]
        print(f"latent cache build: {cache_s:.1f}s for {args.images} images x 2 flips")
        print(f"{'variant':24s} {'images/s':>10s} {'vs ' + rows[0]['variant']:>12s} {'peak GiB':>9s}")
        for r in rows:
            print(f"{r['variant']:24s} {r['images_per_s']:10.1f} {r['images_per_s'] / base:12.2f} "
                  f"{r['peak_gib']:9.2f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
