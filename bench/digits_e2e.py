"""End-to-end learning check on CPU: sklearn's digits through the whole rae_torch training path.

  1. sklearn's 1797 8x8 digits, upscaled (bicubic) to 32x32 RGB, written as an ImageFolder (10 classes).
  2. A frozen encoder: a 2-layer DINOv2-style ViT with RANDOM weights (no pretrained weights can be
     downloaded here; the RAE recipe only needs a fixed, informative encoder).
  3. Stage 1: the ViT pixel decoder (L1, noise_tau), via rae_torch.train.stage1.
  4. Latent statistics (exact per-position mean/var) and a latent cache, via rae_torch.train.
  5. Stage 2: DiT^DH with classifier-free-guidance dropout, trained from the latent cache.
  6. 100 samples per class through the exported pipeline folder (rae_torch.load_model + Sampler).
  7. An SVM trained on the real digits (8x8) labels the samples (4x4-average-pooled back to 8x8).

The last line printed is `digits_accuracy=<fraction of samples labelled as their class>` (chance 0.1).
With --install the exported pipeline is copied into rae_spec/presets_data/digits-demo (the built-in
`digits-demo` preset). Model sizes and sampling settings are those of rae_spec.presets.DIGITS_*.

    python bench/digits_e2e.py [--out DIR] [--install]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from rae_spec.configs import PipelineConfig  # noqa: E402
from rae_spec.presets import (  # noqa: E402
    DIGITS_DECODER,
    DIGITS_DIT,
    DIGITS_ENCODER,
    DIGITS_GUIDANCE,
    DIGITS_SAMPLER,
    LOCAL_DATA,
)
from rae_torch import Sampler, guided_velocity, load_model, load_stats  # noqa: E402
from rae_torch.train import build_cache, compute_stats, load_config, train_stage1, train_stage2  # noqa: E402
from rae_torch.train.codec import LatentDecoder  # noqa: E402
from rae_torch.train.distributed import init  # noqa: E402
from rae_torch.train.tracking import image_grid, save_png, setup_logging  # noqa: E402
from tests.toy import save_random_encoder  # noqa: E402

SIZE = 32


def write_digits(root: Path) -> tuple[np.ndarray, np.ndarray]:
    """The digits as 32x32 PNGs in root/<digit>/; returns the 8x8 images (0..16) and labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    for label in range(10):
        (root / str(label)).mkdir(parents=True, exist_ok=True)
    for i, (img, label) in enumerate(zip(digits.images, digits.target, strict=True)):
        small = Image.fromarray((img * (255.0 / 16.0)).round().astype(np.uint8))
        big = small.resize((SIZE, SIZE), Image.BICUBIC).convert("RGB")
        big.save(root / str(label) / f"{i:04d}.png")
    return digits.images, digits.target


def to_8x8(images: torch.Tensor) -> np.ndarray:
    """(B, 3, 32, 32) in [0, 1] -> (B, 64) in the digits' 0..16 scale (grey, 4x4 average pooling)."""
    grey = images.clamp(0, 1).mean(dim=1, keepdim=True)
    return (torch.nn.functional.avg_pool2d(grey, 4) * 16.0).flatten(1).numpy()


def classifier(root: Path, labels: np.ndarray):
    """An RBF SVM on the real digits as the pipeline sees them (32x32 PNG -> 8x8 pooled)."""
    from sklearn.model_selection import cross_val_score
    from sklearn.svm import SVC

    files = sorted(root.glob("*/*.png"), key=lambda p: int(p.stem))
    x = torch.stack([torch.from_numpy(np.asarray(Image.open(f), dtype=np.float32) / 255.0).permute(2, 0, 1)
                     for f in files])
    feats = to_8x8(x)
    clf = SVC(gamma=0.001, C=10.0)
    real_acc = cross_val_score(clf, feats, labels, cv=5).mean()
    return clf.fit(feats, labels), real_acc


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("runs/digits"))
    p.add_argument("--stage1-steps", type=int, default=1000)
    p.add_argument("--stage2-steps", type=int, default=1200)
    p.add_argument("--per-class", type=int, default=100)
    p.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1 is fastest for tiny models)")
    p.add_argument("--install", action="store_true", help="copy the result into rae_spec/presets_data/digits-demo")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    out = args.out
    if out.exists():
        shutil.rmtree(out)
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    rt = init("cpu")
    setup_logging(None, True)

    def phase(name: str, t0: float) -> float:
        timings[name] = time.perf_counter() - t0
        print(f"[{name}] {timings[name]:.1f}s", flush=True)
        return time.perf_counter()

    t = time.perf_counter()
    _, labels = write_digits(out / "data")
    save_random_encoder(DIGITS_ENCODER, out / "encoder", seed=0)
    data = {"path": str(out / "data"), "image_size": SIZE, "flip": False, "resize": SIZE, "num_workers": 0}
    t = phase("data + random encoder", t)

    stage1 = load_config("stage1", data={
        "output_dir": str(out / "stage1"), "encoder": str(out / "encoder"), "encoder_input_size": SIZE,
        "decoder": {"type": "DecoderConfig", **_plain(DIGITS_DECODER)},
        "noise_tau": 0.5, "data": data,
        "loss": {"perceptual_weight": 0.0, "disc_weight": 0.0},
        "optim": {"lr": 2e-3},
        "schedule": {"type": "cosine", "warmup_steps": 50, "decay_end_steps": args.stage1_steps, "final_lr": 2e-4,
                     "warmup_from_zero": True},
        "train": {"global_batch_size": 64, "max_steps": args.stage1_steps, "ema_decay": 0.995, "clip_grad": None,
                  "log_every": 100, "checkpoint_every": 10_000, "sample_every": 0, "seed": 0, "progress": False,
                  "tensorboard": False}})
    m1 = train_stage1(stage1, rt)
    t = phase("stage 1 (decoder)", t)

    stats_file = out / "stats.safetensors"
    compute_stats(load_config("stats", data={
        "output": str(stats_file), "encoder": str(out / "encoder"), "encoder_input_size": SIZE, "flips": "none",
        "batch_size": 256, "progress": False, "data": data}), rt)
    build_cache(load_config("cache", data={
        "output_dir": str(out / "cache"), "encoder": str(out / "encoder"), "encoder_input_size": SIZE,
        "batch_size": 256, "dtype": "float32", "progress": False, "data": data}), rt)
    t = phase("stats + latent cache", t)

    stage2 = load_config("stage2", data={
        "output_dir": str(out / "stage2"), "model": {"type": "DiTDHConfig", **_plain(DIGITS_DIT)},
        "encoder": str(out / "encoder"), "encoder_input_size": SIZE, "stats": str(stats_file),
        "decoder": str(out / "stage1" / "export" / "decoder"),
        "sampler": _plain(DIGITS_SAMPLER), "guidance": _plain(DIGITS_GUIDANCE),
        "data": {**data, "cache": str(out / "cache")},
        "optim": {"lr": 5e-3},
        "schedule": {"type": "cosine", "warmup_steps": 100, "decay_end_steps": args.stage2_steps, "final_lr": 5e-4},
        "train": {"global_batch_size": 64, "max_steps": args.stage2_steps, "ema_decay": 0.995, "clip_grad": 1.0,
                  "log_every": 100, "checkpoint_every": 10_000, "sample_every": 0, "seed": 0, "progress": False,
                  "tensorboard": False}})
    m2 = train_stage2(stage2, rt)
    t = phase("stage 2 (DiT^DH, from the latent cache)", t)

    folder = out / "stage2" / "export"
    pipe = PipelineConfig.load(folder)
    dit, decoder = load_model(folder / pipe.dit), load_model(folder / pipe.decoder)
    encoder_cfg = load_model(folder / pipe.encoder).config
    mean, var = load_stats(folder / pipe.stats, dit.config.latent_shape)
    sampler = Sampler(pipe.sampler, pipe.transport.time_dist_shift)
    rng = np.random.default_rng(1234)
    images, targets = [], []
    with torch.no_grad():
        for label in range(10):
            x = torch.from_numpy(rng.standard_normal((args.per_class, *dit.config.latent_shape), dtype=np.float32))
            y = torch.full((args.per_class,), label)
            z = sampler.sample(x, guided_velocity(dit, y, pipe.guidance))
            images.append(LatentDecoder(decoder, encoder_cfg, mean, var)(z).clamp(0, 1))
            targets += [label] * args.per_class
    images = torch.cat(images)
    save_png(image_grid(torch.cat([images[i * args.per_class: i * args.per_class + 10] for i in range(10)]), nrow=10),
             out / "samples.png")
    t = phase(f"sampling {len(images)} images ({sampler.num_function_evals} NFE, {pipe.guidance.method} "
              f"{pipe.guidance.scale})", t)

    clf, real_acc = classifier(out / "data", labels)
    pred = clf.predict(to_8x8(images))
    acc = float((pred == np.array(targets)).mean())
    per_class = [float((pred[i * args.per_class:(i + 1) * args.per_class] == i).mean()) for i in range(10)]
    phase("classifier", t)
    total = time.perf_counter() - t_start
    summary = {"digits_accuracy": acc, "per_class": per_class, "classifier_real_cv_accuracy": real_acc,
               "stage1_final": m1, "stage2_final": m2, "stage1_rec_curve": curve(out / "stage1", "rec"),
               "stage2_loss_curve": curve(out / "stage2", "loss"), "seconds": timings, "total_seconds": total,
               "encoder": "random-init DINOv2-style ViT (not pretrained)"}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    print(json.dumps(summary, indent=2))
    if args.install:
        target = REPO / "rae_spec" / LOCAL_DATA / "digits-demo"
        if target.exists():
            shutil.rmtree(target)
        shutil.copytree(folder, target)
        for name in ("samples.png", "summary.json"):
            (target / name).write_bytes((out / name).read_bytes())
        print(f"installed {target}")
    print(f"digits_accuracy={acc:.4f}")


def curve(run: Path, key: str) -> list[tuple[int, float]]:
    """(step, value) pairs of `key` from a run's log.txt."""
    points = []
    for line in (run / "log.txt").read_text().splitlines():
        if "] step " in line and f" {key} " in line:
            step = int(line.split("] step ")[1].split(":")[0])
            points.append((step, float(line.split(f" {key} ")[1].split(",")[0])))
    return points


def _plain(config) -> dict:
    from rae_spec import to_dict

    d = to_dict(config)
    d.pop("type")
    return d


if __name__ == "__main__":
    main()
