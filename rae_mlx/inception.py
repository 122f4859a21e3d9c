"""Inception-v3 as the FID graph computes it, in MLX: the twin of rae_torch.inception (same modules, same
parameter names; conv kernels in MLX's OHWI layout). Works in NHWC, the graph's own layout.

`InceptionV3(config)(images)` takes (B, H, W, 3) images in [0, 255] and returns pool_3 (B, F) and
mixed_6/conv's first 7 channels flattened in NHWC order.
"""

from __future__ import annotations

import mlx.core as mx
import numpy as np
from mlx import nn
from mlx.utils import tree_unflatten

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
    """Inference batch norm in TensorFlow's order of operations, on the last (channel) axis."""

    def __init__(self, channels: int):
        super().__init__()
        self.weight = mx.ones((channels,))
        self.bias = mx.zeros((channels,))
        self.running_mean = mx.zeros((channels,))
        self.running_var = mx.ones((channels,))

    def __call__(self, x: mx.array) -> mx.array:
        scale = mx.rsqrt(self.running_var + BN_EPS) * self.weight
        return (x - self.running_mean) * scale + self.bias


class BasicConv2d(nn.Module):
    def __init__(self, in_channels: int, spec: Conv, config: InceptionConfig):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, config.width(spec.out), spec.kernel, spec.stride, spec.pad, bias=False)
        self.bn = BatchNorm(config.width(spec.out))

    def __call__(self, x: mx.array) -> mx.array:
        return nn.relu(self.bn(self.conv(x)))


def _window_sum_count(x: mx.array, spec: Pool, fill: float) -> tuple[list[mx.array], int, int]:
    pad = spec.size // 2 if spec.padding == "SAME" else 0
    if pad:
        x = mx.pad(x, [(0, 0), (pad, pad), (pad, pad), (0, 0)], constant_values=fill)
    h = (x.shape[1] - spec.size) // spec.stride + 1
    w = (x.shape[2] - spec.size) // spec.stride + 1
    s = spec.stride
    windows = [x[:, i:i + (h - 1) * s + 1:s, j:j + (w - 1) * s + 1:s] for i in range(spec.size)
               for j in range(spec.size)]
    return windows, h, w


def _counts(size: int, n: int, pad: int) -> np.ndarray:
    """How many real (unpadded) inputs each stride-1 window covers along an axis of n inputs."""
    idx = np.arange(n)[:, None] + np.arange(size)[None] - pad
    return ((idx >= 0) & (idx < n)).sum(1)


def pool(x: mx.array, spec: Pool) -> mx.array:
    if spec.kind == "max":
        windows, _, _ = _window_sum_count(x, spec, -float("inf"))
        out = windows[0]
        for win in windows[1:]:
            out = mx.maximum(out, win)
        return out
    windows, h, w = _window_sum_count(x, spec, 0.0)
    total = windows[0]
    for win in windows[1:]:
        total = total + win
    pad = spec.size // 2 if spec.padding == "SAME" else 0
    count = np.outer(_counts(spec.size, h, pad), _counts(spec.size, w, pad)).astype(np.float32)
    return total / mx.array(count)[None, :, :, None]


class InceptionBlock(nn.Module):
    """Branches of convs and pools, concatenated on channels; convs are attributes named as in the table."""

    def __init__(self, in_channels: int, spec: Block, config: InceptionConfig):
        super().__init__()
        self.spec = spec
        for branch in spec.branches:
            c = in_channels
            for step in branch:
                if isinstance(step, Conv):
                    setattr(self, step.torch, BasicConv2d(c, step, config))
                    c = config.width(step.out)
                elif isinstance(step, Split):
                    for conv in (step.a, step.b):
                        setattr(self, conv.torch, BasicConv2d(c, conv, config))

    def branch(self, x: mx.array, steps) -> mx.array:
        for step in steps:
            if isinstance(step, Pool):
                x = pool(x, step)
            elif isinstance(step, Split):
                x = mx.concatenate([self[c.torch](x) for c in (step.a, step.b)], axis=-1)
            else:
                x = self[step.torch](x)
        return x

    def __call__(self, x: mx.array) -> mx.array:
        return mx.concatenate([self.branch(x, steps) for steps in self.spec.branches], axis=-1)


class InceptionV3(nn.Module):
    def __init__(self, config: InceptionConfig | None = None):
        config = config or InceptionConfig()
        super().__init__()
        self.config = config
        self._order: list[str | Pool] = []  # module names and stem pools, in order
        channels = 3
        for block in BLOCKS:
            step = block.branches[0][0]
            if block.torch:
                setattr(self, block.torch, InceptionBlock(channels, block, config))
                self._order.append(block.torch)
            elif isinstance(step, Conv):
                setattr(self, step.torch, BasicConv2d(channels, step, config))
                self._order.append(step.torch)
            else:
                self._order.append(step)
            channels = output_channels(block, config, channels)
        self._taps: dict[tuple[int, int], tuple[mx.array, ...]] = {}

    def preprocess(self, images: mx.array) -> mx.array:
        """(B, H, W, 3) in [0, 255] -> (B, 299, 299, 3): TF1 bilinear resize, then (x - 128) / 128."""
        x = images.astype(mx.float32)
        h, w = x.shape[1:3]
        if (h, w) not in self._taps:
            self._taps[(h, w)] = tuple(mx.array(a) for size in (h, w) for a in tf1_bilinear_taps(size, INPUT_SIZE))
        y0, y1, ly, x0, x1, lx = self._taps[(h, w)]
        top, bottom = mx.take(x, y0, axis=1), mx.take(x, y1, axis=1)
        lx = lx[:, None]
        top_l, bottom_l = mx.take(top, x0, axis=2), mx.take(bottom, x0, axis=2)
        top = top_l + (mx.take(top, x1, axis=2) - top_l) * lx
        bottom = bottom_l + (mx.take(bottom, x1, axis=2) - bottom_l) * lx
        x = top + (bottom - top) * ly[:, None, None]
        return (x - PIXEL_SHIFT) * (1.0 / PIXEL_SHIFT)

    def __call__(self, images: mx.array) -> tuple[mx.array, mx.array]:
        """(pool_3 features (B, F), sFID features (B, 17 * 17 * 7) in NHWC order)."""
        x = self.preprocess(images)
        spatial = None
        for item in self._order:
            if isinstance(item, Pool):
                x = pool(x, item)
                continue
            block = self[item]
            if item == SPATIAL_BLOCK:  # mixed_6/conv: recomputed here (a 1x1 conv, cheap) to keep forward plain
                kept = block[SPATIAL_CONV](x)
                spatial = kept[..., :SPATIAL_CHANNELS].reshape(kept.shape[0], -1)
            x = block(x)
        return x.mean(axis=(1, 2)), spatial

    @classmethod
    def from_weights(cls, weights: dict[str, np.ndarray]) -> InceptionV3:
        """The network of these float32 weights (PyTorch names and layouts, as rae_spec.inception.parameters;
        conv kernels go OIHW -> OHWI; fc.* are the classifier's and stay out)."""
        shapes = {k: tuple(v.shape) for k, v in weights.items()}
        config = config_from_shapes(shapes)
        check_shapes(shapes, config)
        model = cls(config)
        items = [(k, mx.array(np.asarray(v, np.float32).transpose(0, 2, 3, 1) if v.ndim == 4 else
                              np.asarray(v, np.float32))) for k, v in weights.items() if not k.startswith("fc.")]
        model.update(tree_unflatten(items))
        mx.eval(model.parameters())
        return model.eval()
