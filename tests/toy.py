"""Small random pieces for tests and the CPU learning checks: an image folder of random shapes, and a
randomly initialized (not pretrained) frozen encoder saved as a model folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from rae_spec.configs import EncoderConfig
from rae_torch.encoders import build_encoder
from rae_torch.train.export import save_model_folder


def make_image_folder(root: str | Path, classes: int = 3, per_class: int = 8, size: tuple[int, int] = (40, 36),
                      seed: int = 0) -> Path:
    """PNG images of coloured rectangles on noise, one colour family per class (so classes differ)."""
    root = Path(root)
    rng = np.random.default_rng(seed)
    for c in range(classes):
        (root / f"class_{c:02d}").mkdir(parents=True, exist_ok=True)
        base = np.array([(c * 97) % 256, (c * 57 + 80) % 256, (c * 151 + 30) % 256], dtype=np.float64)
        for i in range(per_class):
            w, h = size
            arr = rng.normal(128, 20, (h, w, 3))
            y0, x0 = rng.integers(0, h // 2), rng.integers(0, w // 2)
            arr[y0:y0 + h // 2, x0:x0 + w // 2] = base + rng.normal(0, 10, 3)
            Image.fromarray(arr.clip(0, 255).astype(np.uint8)).save(root / f"class_{c:02d}" / f"img_{i:03d}.png")
    return root


def random_encoder(config: EncoderConfig, seed: int = 0) -> torch.nn.Module:
    """An encoder of `config` with random weights (torch's default init for Linear / Conv / LayerNorm,
    N(0, 0.02) for the tokens and position table). Not a pretrained representation."""
    torch.manual_seed(seed)
    enc = build_encoder(config)
    with torch.no_grad():
        for name, p in enc.named_parameters():
            if any(k in name for k in ("cls_token", "register_tokens", "position_embedding", "mask_token")):
                p.normal_(0.0, 0.02)
    return enc.eval()


def save_random_encoder(config: EncoderConfig, folder: str | Path, seed: int = 0) -> Path:
    enc = random_encoder(config, seed)
    return save_model_folder(enc.state_dict(), config, folder, origin='{"note": "random-init encoder, not pretrained"}')
