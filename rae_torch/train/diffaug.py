"""Differentiable augmentation of discriminator inputs (the StyleGAN-T DiffAug the reference uses):
integer translation by up to 1/8 of the side with zero fill, brightness, saturation and contrast
jitter, and optional cutout. Parameters are drawn per sample from its seed (randomness.py); with
prob = 1 (the recipe) this is the reference's transform, whose on/off coin is per batch instead.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .randomness import uniforms

_DRAWS = 10  # 3 coins (translate, color, cutout) + 7 parameters, as the reference's rand01


def diffaug(x: torch.Tensor, seeds, stream: int, prob: float = 1.0, cutout: float = 0.0) -> torch.Tensor:
    """Augment images x (B, C, H, W) in [-1, 1] (computed in float32) with per-sample draws."""
    x = x.float()
    if prob <= 0:
        return x
    B, C, H, W = x.shape
    u = torch.from_numpy(uniforms(seeds, stream, _DRAWS)).to(device=x.device, dtype=torch.float32)
    coins = u[:, :3] <= prob
    r = u[:, 3:].T.reshape(7, B, 1, 1)

    def where(flag: torch.Tensor, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.where(flag.view(B, 1, 1, 1), a, b)

    # Translation: out[i, j] = padded[i + dy + 1, j + dx + 1], indices clamped into the zero border.
    dh, dw = round(H * 0.125), round(W * 0.125)
    ty = (r[0] * (2 * dh + 1)).floor().long() - dh
    tx = (r[1] * (2 * dw + 1)).floor().long() - dw
    rows = (torch.arange(H, device=x.device).view(1, H, 1) + ty + 1).clamp(0, H + 1)
    cols = (torch.arange(W, device=x.device).view(1, 1, W) + tx + 1).clamp(0, W + 1)
    padded = F.pad(x, [1, 1, 1, 1])
    batch = torch.arange(B, device=x.device).view(B, 1, 1)
    moved = padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)
    x = where(coins[:, 0], moved, x)

    # Colour: brightness + U(-0.5, 0.5); saturation x U(0, 2) around the pixel's channel mean;
    # contrast x U(0.5, 1.5) around the image mean.
    c = x + (r[2].unsqueeze(-1) - 0.5)
    m = c.mean(dim=1, keepdim=True)
    c = (c - m) * (r[3].unsqueeze(-1) * 2) + m
    m = c.mean(dim=(1, 2, 3), keepdim=True)
    c = (c - m) * (r[4].unsqueeze(-1) + 0.5) + m
    x = where(coins[:, 1], c, x)

    if cutout > 0:
        ch, cw = round(H * cutout), round(W * cutout)
        oy = (r[5] * (H + (1 - ch % 2))).floor().long().view(B, 1)
        ox = (r[6] * (W + (1 - cw % 2))).floor().long().view(B, 1)
        ys = (oy + torch.arange(ch, device=x.device) - ch // 2).clamp(0, H - 1)  # (B, ch)
        xs = (ox + torch.arange(cw, device=x.device) - cw // 2).clamp(0, W - 1)
        mask = torch.ones(B, H, W, device=x.device)
        mask[batch, ys.view(B, ch, 1), xs.view(B, 1, cw)] = 0
        x = where(coins[:, 2], x * mask.unsqueeze(1), x)
    return x
