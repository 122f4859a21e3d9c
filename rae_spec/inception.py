"""The Inception-v3 of the FID literature (the 2015 TensorFlow graph `classify_image_graph_def.pb`), as data.

One table (`BLOCKS`) says every layer of the network: its name in the TensorFlow graph (what ADM's
evaluator reads, e.g. `mixed_6/conv`), its name in PyTorch (torch-fidelity's
`weights-inception-2015-12-05-6726825d.pth`, e.g. `Mixed_6d.branch1x1`), kernel, stride, padding and
width. Both backends build their modules from it (`rae_torch.inception`, `rae_mlx.inception`), the `.pb`
reader maps TensorFlow names to PyTorch names with it, and `parameters()` lists the weights it implies.

What differs from torchvision's Inception-v3 (and why torch-fidelity patches it): average pools exclude
the zero padding (TensorFlow's SAME pooling), the last block pools with max instead of average, the
classifier has 1008 outputs, and every batch norm has eps 0.001. A layer is conv (no bias) -> batch
norm -> ReLU. Concatenation follows the graph: `conv`, `tower`, `tower_1`, `tower_2` / `pool`.

`InceptionConfig.channel_divisor` shrinks every width (a tiny network with the same topology, for
tests); 1 is the real network: pool_3 has 2048 features, mixed_6/conv 192 channels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

INPUT_SIZE = 299  # the graph resizes every image to 299 x 299 (TF1 bilinear) ...
PIXEL_SHIFT = 128.0  # ... and feeds (x - 128) / 128
BN_EPS = 0.001
SPATIAL_LAYER = "mixed_6/conv"  # ADM's sFID layer: its first SPATIAL_CHANNELS channels, NHWC order
SPATIAL_CHANNELS = 7
POOL_LAYER = "pool_3"


@dataclass(frozen=True)
class InceptionConfig:
    channel_divisor: int = 1  # 1: the real network; 8: a tiny one for tests (same layers, 1/8 of the width)
    num_classes: int = 1008  # rows of softmax/weights (the IS classifier); 1008 in the 2015 graph

    def width(self, channels: int) -> int:
        if channels % self.channel_divisor:
            raise ValueError(f"channel_divisor {self.channel_divisor} does not divide {channels}")
        return channels // self.channel_divisor

    @property
    def features(self) -> int:
        """Width of pool_3 (2048 for the real network)."""
        return self.width(2048)


@dataclass(frozen=True)
class Conv:
    """conv (no bias) + batch norm + ReLU. kernel (h, w); padding 'SAME' (stride 1: (k-1)/2) or 'VALID'."""

    tf: str  # name in the TensorFlow graph, relative to the block
    torch: str  # name in PyTorch, relative to the block
    out: int  # output channels of the real network
    kernel: tuple[int, int] = (1, 1)
    stride: int = 1
    padding: str = "SAME"

    @property
    def pad(self) -> tuple[int, int]:
        if self.padding == "VALID":
            return (0, 0)
        return ((self.kernel[0] - 1) // 2, (self.kernel[1] - 1) // 2)


@dataclass(frozen=True)
class Pool:
    """3 x 3 pooling: 'avg' (stride 1, SAME, padding excluded from the mean) or 'max' (SAME or VALID)."""

    tf: str
    kind: str  # "avg" or "max"
    stride: int = 1
    padding: str = "SAME"
    size: int = 3


@dataclass(frozen=True)
class Split:
    """Two convolutions of the same input, concatenated (the E blocks' 1x3 / 3x1 pairs)."""

    tf: str
    a: Conv
    b: Conv


Step = Conv | Pool | Split


@dataclass(frozen=True)
class Block:
    """A named group of branches whose outputs are concatenated on channels (a stem block has one branch)."""

    tf: str  # "" for stem layers (they sit at the graph's top level)
    torch: str  # "" for stem layers
    branches: tuple[tuple[Step, ...], ...]


def _a(tf: str, torch: str, pool_features: int) -> Block:
    return Block(tf, torch, (
        (Conv("conv", "branch1x1", 64),),
        (Conv("tower/conv", "branch5x5_1", 48), Conv("tower/conv_1", "branch5x5_2", 64, (5, 5))),
        (Conv("tower_1/conv", "branch3x3dbl_1", 64), Conv("tower_1/conv_1", "branch3x3dbl_2", 96, (3, 3)),
         Conv("tower_1/conv_2", "branch3x3dbl_3", 96, (3, 3))),
        (Pool("tower_2/pool", "avg"), Conv("tower_2/conv", "branch_pool", pool_features)),
    ))


def _c(tf: str, torch: str, c7: int) -> Block:
    return Block(tf, torch, (
        (Conv("conv", "branch1x1", 192),),
        (Conv("tower/conv", "branch7x7_1", c7), Conv("tower/conv_1", "branch7x7_2", c7, (1, 7)),
         Conv("tower/conv_2", "branch7x7_3", 192, (7, 1))),
        (Conv("tower_1/conv", "branch7x7dbl_1", c7), Conv("tower_1/conv_1", "branch7x7dbl_2", c7, (7, 1)),
         Conv("tower_1/conv_2", "branch7x7dbl_3", c7, (1, 7)), Conv("tower_1/conv_3", "branch7x7dbl_4", c7, (7, 1)),
         Conv("tower_1/conv_4", "branch7x7dbl_5", 192, (1, 7))),
        (Pool("tower_2/pool", "avg"), Conv("tower_2/conv", "branch_pool", 192)),
    ))


def _e(tf: str, torch: str, pool: str) -> Block:
    return Block(tf, torch, (
        (Conv("conv", "branch1x1", 320),),
        (Conv("tower/conv", "branch3x3_1", 384),
         Split("tower/mixed", Conv("tower/mixed/conv", "branch3x3_2a", 384, (1, 3)),
               Conv("tower/mixed/conv_1", "branch3x3_2b", 384, (3, 1)))),
        (Conv("tower_1/conv", "branch3x3dbl_1", 448), Conv("tower_1/conv_1", "branch3x3dbl_2", 384, (3, 3)),
         Split("tower_1/mixed", Conv("tower_1/mixed/conv", "branch3x3dbl_3a", 384, (1, 3)),
               Conv("tower_1/mixed/conv_1", "branch3x3dbl_3b", 384, (3, 1)))),
        (Pool("tower_2/pool", pool), Conv("tower_2/conv", "branch_pool", 192)),
    ))


def _stem(tf: str, torch: str, out: int, kernel: int, padding: str = "VALID", stride: int = 1) -> Block:
    return Block("", "", ((Conv(tf, torch, out, (kernel, kernel), stride, padding),),))


def _max_pool(tf: str) -> Block:
    return Block("", "", ((Pool(tf, "max", 2, "VALID"),),))


BLOCKS: tuple[Block, ...] = (
    _stem("conv", "Conv2d_1a_3x3", 32, 3, stride=2),
    _stem("conv_1", "Conv2d_2a_3x3", 32, 3),
    _stem("conv_2", "Conv2d_2b_3x3", 64, 3, padding="SAME"),
    _max_pool("pool"),
    _stem("conv_3", "Conv2d_3b_1x1", 80, 1),
    _stem("conv_4", "Conv2d_4a_3x3", 192, 3),
    _max_pool("pool_1"),
    _a("mixed", "Mixed_5b", 32),
    _a("mixed_1", "Mixed_5c", 64),
    _a("mixed_2", "Mixed_5d", 64),
    Block("mixed_3", "Mixed_6a", (
        (Conv("conv", "branch3x3", 384, (3, 3), 2, "VALID"),),
        (Conv("tower/conv", "branch3x3dbl_1", 64), Conv("tower/conv_1", "branch3x3dbl_2", 96, (3, 3)),
         Conv("tower/conv_2", "branch3x3dbl_3", 96, (3, 3), 2, "VALID")),
        (Pool("pool", "max", 2, "VALID"),),
    )),
    _c("mixed_4", "Mixed_6b", 128),
    _c("mixed_5", "Mixed_6c", 160),
    _c("mixed_6", "Mixed_6d", 160),
    _c("mixed_7", "Mixed_6e", 192),
    Block("mixed_8", "Mixed_7a", (
        (Conv("tower/conv", "branch3x3_1", 192), Conv("tower/conv_1", "branch3x3_2", 320, (3, 3), 2, "VALID")),
        (Conv("tower_1/conv", "branch7x7x3_1", 192), Conv("tower_1/conv_1", "branch7x7x3_2", 192, (1, 7)),
         Conv("tower_1/conv_2", "branch7x7x3_3", 192, (7, 1)),
         Conv("tower_1/conv_3", "branch7x7x3_4", 192, (3, 3), 2, "VALID")),
        (Pool("pool", "max", 2, "VALID"),),
    )),
    _e("mixed_9", "Mixed_7b", "avg"),
    _e("mixed_10", "Mixed_7c", "max"),
)
SPATIAL_BLOCK, SPATIAL_CONV = "Mixed_6d", "branch1x1"  # = SPATIAL_LAYER in PyTorch names


def join(*parts: str, sep: str = "/") -> str:
    return sep.join(p for p in parts if p)


def convs(block: Block) -> list[Conv]:
    out = []
    for branch in block.branches:
        for step in branch:
            if isinstance(step, Conv):
                out.append(step)
            elif isinstance(step, Split):
                out += [step.a, step.b]
    return out


def layer_names() -> dict[str, str]:
    """TensorFlow layer name (e.g. 'mixed_6/conv') -> PyTorch module name ('Mixed_6d.branch1x1')."""
    return {join(b.tf, c.tf): join(b.torch, c.torch, sep=".") for b in BLOCKS for c in convs(b)}


def output_channels(block: Block, config: InceptionConfig, in_channels: int) -> int:
    """Channels after a block: the sum over its branches of each branch's last width."""
    total = 0
    for branch in block.branches:
        last = branch[-1]
        if isinstance(last, Conv):
            total += config.width(last.out)
        elif isinstance(last, Split):
            total += config.width(last.a.out) + config.width(last.b.out)
        else:  # a branch that only pools keeps the block's input channels
            total += in_channels
    return total


def parameters(config: InceptionConfig | None = None) -> dict[str, tuple[int, ...]]:
    """Every weight of the network in PyTorch names and layouts (conv OIHW), plus the classifier `fc`."""
    config = config or InceptionConfig()
    out: dict[str, tuple[int, ...]] = {}
    channels = 3
    for block in BLOCKS:
        for branch in block.branches:
            c_in = channels
            for step in branch:
                pairs = [step] if isinstance(step, Conv) else [step.a, step.b] if isinstance(step, Split) else []
                for conv in pairs:
                    name = join(block.torch, conv.torch, sep=".")
                    width = config.width(conv.out)
                    out[f"{name}.conv.weight"] = (width, c_in, *conv.kernel)
                    for stat in ("weight", "bias", "running_mean", "running_var"):
                        out[f"{name}.bn.{stat}"] = (width,)
                if pairs:
                    c_in = sum(config.width(c.out) for c in pairs)
        channels = output_channels(block, config, channels)
    out["fc.weight"] = (config.num_classes, config.features)
    out["fc.bias"] = (config.num_classes,)
    return out


def config_from_shapes(shapes: dict[str, tuple[int, ...]]) -> InceptionConfig:
    """The config whose parameters() a weights file holds (the width from the first conv, classes from fc)."""
    first = shapes.get("Conv2d_1a_3x3.conv.weight")
    fc = shapes.get("fc.weight")
    if first is None or fc is None or len(first) != 4 or len(fc) != 2 or first[0] <= 0 or 32 % first[0]:
        raise ValueError("not an Inception-v3 of the FID graph (no Conv2d_1a_3x3 conv with a width dividing 32, "
                         "or no fc)")
    return InceptionConfig(channel_divisor=32 // first[0], num_classes=fc[0])


def check_shapes(shapes: dict[str, tuple[int, ...]], config: InceptionConfig) -> None:
    """Raise ValueError naming the first missing, unexpected or misshapen weight."""
    expected = parameters(config)
    missing = [k for k in expected if k not in shapes]
    extra = [k for k in shapes if k not in expected]
    if missing or extra:
        raise ValueError(f"weights do not match the Inception-v3 graph: missing {missing[:3]}, unexpected {extra[:3]}")
    for k, shape in expected.items():
        if tuple(shapes[k]) != shape:
            raise ValueError(f"{k} has shape {tuple(shapes[k])}, expected {shape}")


def random_weights(seed: int, config: InceptionConfig | None = None) -> dict[str, np.ndarray]:
    """Random float32 weights with the real layout, from a numpy seed (the same arrays on every machine).

    Scaled so activations keep a realistic size through the network: He-scaled kernels, batch norm
    statistics near (0, 1), the last block's kernels scaled down so pool_3 features are of order 0.5 as in
    the real graph (squared norms of ~1,000 keep ADM's float16 distances in their usual regime). For tests
    and the TensorFlow-verified fixture (tools/verify_evaluator.py); the real weights come from a file.
    """
    rng = np.random.default_rng(seed)
    config = config or InceptionConfig()
    out: dict[str, np.ndarray] = {}
    for name, shape in parameters(config).items():
        if name.endswith("conv.weight"):
            fan_in = shape[1] * shape[2] * shape[3]
            gain = 0.35 if name.startswith("Mixed_7c.") else 1.0
            w = rng.standard_normal(shape, dtype=np.float32) * np.float32(gain * np.sqrt(2.0 / fan_in))
        elif name.endswith("bn.weight"):
            w = rng.uniform(0.5, 1.5, shape).astype(np.float32)
        elif name.endswith("bn.bias"):
            w = rng.uniform(-0.2, 0.2, shape).astype(np.float32)
        elif name.endswith("running_mean"):
            w = rng.uniform(-0.1, 0.1, shape).astype(np.float32)
        elif name.endswith("running_var"):
            w = rng.uniform(0.5, 1.5, shape).astype(np.float32)
        elif name == "fc.weight":
            w = rng.standard_normal(shape, dtype=np.float32) * np.float32(8.0 / np.sqrt(shape[1]))
        else:  # fc.bias
            w = rng.standard_normal(shape, dtype=np.float32)
        out[name] = w
    return out
