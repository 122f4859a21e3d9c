"""Inception-v3 as the FID graph computes it (ADM's evaluator, torch-fidelity), built from rae_spec.inception.

`InceptionV3(config)(images)` takes (B, H, W, 3) images in [0, 255] (uint8 or float) and returns the
features ADM's evaluator reads: pool_3 (B, 2048) and mixed_6/conv's first 7 channels in NHWC order
(B, 17 * 17 * 7). Parameter names are torch-fidelity's (`weights-inception-2015-12-05-6726825d.pth`);
the classifier `fc` is not part of the module (the Inception Score multiplies pool_3 by its weight in
rae_spec.evaluator). Every step follows the TensorFlow kernels' arithmetic: TF1 bilinear resize
(rae_spec.resample.tf1_bilinear_taps), batch norm as (x - mean) * (rsqrt(var + eps) * gamma) + beta,
average pools that exclude padding. The twin is rae_mlx.inception.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rae_spec.inception import (
    BLOCKS,
    BN_EPS,
    INPUT_SIZE,
    PIXEL_SHIFT,
    SPATIAL_BLOCK,
    SPATIAL_CHANNELS,
    SPATIAL_CONV,
    Block,
    Conv,
    InceptionConfig,
    Pool,
    Split,
    check_shapes,
    config_from_shapes,
    output_channels,
)
from rae_spec.resample import tf1_bilinear_taps


class BatchNorm(nn.Module):
    """Inference batch norm in TensorFlow's order of operations (no num_batches_tracked buffer)."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))
        self.register_buffer("running_mean", torch.zeros(channels))
        self.register_buffer("running_var", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = torch.rsqrt(self.running_var + BN_EPS) * self.weight
        return (x - self.running_mean[:, None, None]) * scale[:, None, None] + self.bias[:, None, None]


class BasicConv2d(nn.Module):
    def __init__(self, in_channels: int, spec: Conv, config: InceptionConfig):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, config.width(spec.out), spec.kernel, spec.stride, spec.pad, bias=False)
        self.bn = BatchNorm(config.width(spec.out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def pool(x: torch.Tensor, spec: Pool) -> torch.Tensor:
    pad = spec.size // 2 if spec.padding == "SAME" else 0
    if spec.kind == "max":
        return F.max_pool2d(x, spec.size, spec.stride, pad)
    return F.avg_pool2d(x, spec.size, spec.stride, pad, count_include_pad=False)


class InceptionBlock(nn.Module):
    """Branches of convs and pools, concatenated on channels; convs are attributes named as in the table."""

    def __init__(self, in_channels: int, spec: Block, config: InceptionConfig):
        super().__init__()
        self.spec = spec
        for branch in spec.branches:
            c = in_channels
            for step in branch:
                if isinstance(step, Conv):
                    self.add_module(step.torch, BasicConv2d(c, step, config))
                    c = config.width(step.out)
                elif isinstance(step, Split):
                    for conv in (step.a, step.b):
                        self.add_module(conv.torch, BasicConv2d(c, conv, config))

    def branch(self, x: torch.Tensor, steps) -> torch.Tensor:
        for step in steps:
            if isinstance(step, Pool):
                x = pool(x, step)
            elif isinstance(step, Split):
                x = torch.cat([self.get_submodule(c.torch)(x) for c in (step.a, step.b)], 1)
            else:
                x = self.get_submodule(step.torch)(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.branch(x, steps) for steps in self.spec.branches], 1)


class InceptionV3(nn.Module):
    def __init__(self, config: InceptionConfig | None = None):
        config = config or InceptionConfig()
        super().__init__()
        self.config = config
        self.order: list[str | Pool] = []  # module names and stem pools, in order
        channels = 3
        for block in BLOCKS:
            step = block.branches[0][0]
            if block.torch:
                self.add_module(block.torch, InceptionBlock(channels, block, config))
                self.order.append(block.torch)
            elif isinstance(step, Conv):
                self.add_module(step.torch, BasicConv2d(channels, step, config))
                self.order.append(step.torch)
            else:
                self.order.append(step)
            channels = output_channels(block, config, channels)
        self._taps: dict[tuple[int, int], tuple[torch.Tensor, ...]] = {}

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """(B, H, W, 3) in [0, 255] -> (B, 3, 299, 299): TF1 bilinear resize, then (x - 128) / 128."""
        x = images.to(torch.float32).permute(0, 3, 1, 2)
        h, w = x.shape[2:]
        key = (h, w)
        if key not in self._taps:
            self._taps[key] = tuple(torch.from_numpy(a).to(x.device) for size in (h, w)
                                    for a in tf1_bilinear_taps(size, INPUT_SIZE))
        y0, y1, ly, x0, x1, lx = self._taps[key]
        top, bottom = x[:, :, y0], x[:, :, y1]
        top = top[..., x0] + (top[..., x1] - top[..., x0]) * lx
        bottom = bottom[..., x0] + (bottom[..., x1] - bottom[..., x0]) * lx
        x = top + (bottom - top) * ly[:, None]
        return (x - PIXEL_SHIFT) * (1.0 / PIXEL_SHIFT)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(pool_3 features (B, F), sFID features (B, 17 * 17 * 7) in NHWC order)."""
        x = self.preprocess(images)
        spatial = None
        for item in self.order:
            if isinstance(item, Pool):
                x = pool(x, item)
                continue
            block = self.get_submodule(item)
            if item == SPATIAL_BLOCK:  # mixed_6/conv: recomputed here (a 1x1 conv, cheap) to keep forward plain
                kept = block.get_submodule(SPATIAL_CONV)(x)
                spatial = kept[:, :SPATIAL_CHANNELS].permute(0, 2, 3, 1).flatten(1)
            x = block(x)
        return x.mean(dim=(2, 3)), spatial

    @classmethod
    def from_weights(cls, weights: dict[str, np.ndarray]) -> InceptionV3:
        """The network of these float32 weights (PyTorch names and layouts, as rae_spec.inception.parameters;
        fc.* are the classifier's and stay out)."""
        shapes = {k: tuple(v.shape) for k, v in weights.items()}
        config = config_from_shapes(shapes)
        check_shapes(shapes, config)
        model = cls(config)
        state = {k: torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)) for k, v in weights.items()
                 if not k.startswith("fc.")}
        model.load_state_dict(state, strict=True)
        return model.eval()
