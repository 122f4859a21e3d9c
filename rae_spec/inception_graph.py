"""The 2015 Inception graph (`classify_image_graph_def.pb`) as TensorFlow lays it out: its weights read into
PyTorch names without TensorFlow, and graphs of the same layout written (for tests and verification).

Layer L of the table (`rae_spec.inception`) is, in the graph: `L/conv2d_params` (HWIO kernel) ->
`L/Conv2D` -> `L/batchnorm` (BatchNormWithGlobalNormalization with `L/batchnorm/{moving_mean,
moving_variance,beta,gamma}`) -> `L` (Relu). Blocks concatenate into `<block>/join`. The image enters at
`ExpandDims:0` (B, H, W, 3) float in [0, 255], then `ResizeBilinear` (299 x 299), `Sub` 128, `Mul` 1/128.
`pool_3` is an 8 x 8 average pool; `softmax/logits/MatMul` multiplies pool_3 by `softmax/weights`.

BatchNormWithGlobalNormalization ignores gamma when its attribute `scale_after_normalization` is false;
the reader follows the attribute (gamma becomes 1), so both readings of a file give what TensorFlow
computes. A graph whose layers do not match the table (another network) is refused.
"""

from __future__ import annotations

import numpy as np

from . import graphdef
from .graphdef import DT_FLOAT, DT_INT32, GraphDefError, Node
from .inception import (
    BLOCKS,
    BN_EPS,
    INPUT_SIZE,
    PIXEL_SHIFT,
    Conv,
    InceptionConfig,
    Pool,
    Split,
    check_shapes,
    config_from_shapes,
    join,
)

PRODUCER = 8  # BatchNormWithGlobalNormalization exists only in GraphDefs older than version 9
_FLOAT = ("type", DT_FLOAT)
_INT32 = ("type", DT_INT32)


# ---------------------------------------------------------------------------------------------- reading


def _check_conv(nodes: dict[str, Node], layer: str, conv: Conv) -> None:
    node = nodes.get(f"{layer}/Conv2D")
    if node is None or node.op != "Conv2D":
        raise GraphDefError(f"{layer}/Conv2D is missing: not the Inception-v3 FID graph")
    strides, padding = node.attr.get("strides"), node.attr.get("padding")
    if strides != [1, conv.stride, conv.stride, 1] or padding != conv.padding.encode():
        raise GraphDefError(f"{layer}/Conv2D has strides {strides}, padding {padding!r}; the Inception-v3 FID graph "
                            f"has stride {conv.stride}, {conv.padding}")
    bn = nodes.get(f"{layer}/batchnorm")
    if bn is None or bn.op != "BatchNormWithGlobalNormalization":
        raise GraphDefError(f"{layer}/batchnorm is not a BatchNormWithGlobalNormalization")
    eps = bn.attr.get("variance_epsilon")
    if eps is None or not np.isclose(eps, BN_EPS):
        raise GraphDefError(f"{layer}/batchnorm has variance_epsilon {eps}, expected {BN_EPS}")


def _check_pool(nodes: dict[str, Node], name: str, pool: Pool) -> None:
    node = nodes.get(name)
    op = "AvgPool" if pool.kind == "avg" else "MaxPool"
    if node is None or node.op != op or node.attr.get("padding") != pool.padding.encode():
        raise GraphDefError(f"{name} is not a {pool.padding} {op}: not the Inception-v3 FID graph")


def weights_from_graph(data: bytes) -> tuple[InceptionConfig, dict[str, np.ndarray]]:
    """(config, float32 weights in PyTorch names and layouts) of a serialized Inception GraphDef."""
    nodes = graphdef.parse(data)
    consts = graphdef.constants(nodes)

    def const(name: str) -> np.ndarray:
        if name not in consts:
            raise GraphDefError(f"the graph has no constant {name}: not the Inception-v3 FID graph")
        return consts[name].astype(np.float32, copy=False)

    out: dict[str, np.ndarray] = {}
    for block in BLOCKS:
        for branch in block.branches:
            for step in branch:
                if isinstance(step, Pool):
                    _check_pool(nodes, join(block.tf, step.tf), step)
                    continue
                for conv in [step] if isinstance(step, Conv) else [step.a, step.b]:
                    layer, name = join(block.tf, conv.tf), join(block.torch, conv.torch, sep=".")
                    _check_conv(nodes, layer, conv)
                    kernel = const(f"{layer}/conv2d_params")
                    if kernel.ndim != 4:
                        raise GraphDefError(f"{layer}/conv2d_params is not a 4-d kernel")
                    out[f"{name}.conv.weight"] = np.ascontiguousarray(kernel.transpose(3, 2, 0, 1))
                    bn = f"{layer}/batchnorm"
                    beta = const(f"{bn}/beta")
                    scaled = nodes[bn].attr.get("scale_after_normalization", True)
                    out[f"{name}.bn.weight"] = const(f"{bn}/gamma") if scaled else np.ones_like(beta)
                    out[f"{name}.bn.bias"] = beta
                    out[f"{name}.bn.running_mean"] = const(f"{bn}/moving_mean")
                    out[f"{name}.bn.running_var"] = const(f"{bn}/moving_variance")
    _check_pool(nodes, "pool_3", Pool("pool_3", "avg", 1, "VALID", 8))
    out["fc.weight"] = np.ascontiguousarray(const("softmax/weights").T)
    out["fc.bias"] = const("softmax/biases")
    shapes = {k: tuple(v.shape) for k, v in out.items()}
    try:
        config = config_from_shapes(shapes)
        check_shapes(shapes, config)
    except ValueError as e:
        raise GraphDefError(str(e)) from e
    return config, out


# ---------------------------------------------------------------------------------------------- writing


def _const(name: str, value: np.ndarray) -> Node:
    value = np.asarray(value)
    return Node(name, "Const", [], {"dtype": ("type", 1 if value.dtype == np.float32 else DT_INT32), "value": value})


def _pool_node(name: str, x: str, pool: Pool) -> Node:
    k, s = pool.size, pool.stride
    return Node(name, "AvgPool" if pool.kind == "avg" else "MaxPool", [x],
                {"T": _FLOAT, "ksize": [1, k, k, 1], "strides": [1, s, s, 1], "padding": pool.padding,
                 "data_format": "NHWC"})


def _concat(name: str, parts: list[str]) -> list[Node]:
    return [_const(f"{name}/concat_dim", np.array(3, np.int32)),
            Node(name, "Concat", [f"{name}/concat_dim", *parts], {"N": len(parts), "T": _FLOAT})]


def graph_from_weights(weights: dict[str, np.ndarray], scale_after_normalization: bool = False) -> bytes:
    """A serialized GraphDef with the 2015 graph's layout, tensor names and ops, holding these weights
    (PyTorch names, as `rae_spec.inception.parameters`). TensorFlow imports and runs it."""
    config = config_from_shapes({k: tuple(v.shape) for k, v in weights.items()})
    check_shapes({k: tuple(v.shape) for k, v in weights.items()}, config)
    nodes = [
        Node("Cast", "Placeholder", [], {"dtype": _FLOAT}),  # in the real graph: DecodeJpeg -> Cast
        _const("ExpandDims/dim", np.array(0, np.int32)),
        Node("ExpandDims", "ExpandDims", ["Cast", "ExpandDims/dim"], {"T": _FLOAT, "Tdim": _INT32}),
        _const("ResizeBilinear/size", np.array([INPUT_SIZE, INPUT_SIZE], np.int32)),
        Node("ResizeBilinear", "ResizeBilinear", ["ExpandDims", "ResizeBilinear/size"],
             {"T": _FLOAT, "align_corners": False}),
        _const("Sub/y", np.array(PIXEL_SHIFT, np.float32)),
        Node("Sub", "Sub", ["ResizeBilinear", "Sub/y"], {"T": _FLOAT}),
        _const("Mul/y", np.array(1.0 / PIXEL_SHIFT, np.float32)),
        Node("Mul", "Mul", ["Sub", "Mul/y"], {"T": _FLOAT}),
    ]

    def conv_nodes(layer: str, name: str, conv: Conv, x: str) -> str:
        bn = f"{layer}/batchnorm"
        nodes.extend([
            _const(f"{layer}/conv2d_params", weights[f"{name}.conv.weight"].transpose(2, 3, 1, 0)),
            Node(f"{layer}/Conv2D", "Conv2D", [x, f"{layer}/conv2d_params"],
                 {"T": _FLOAT, "strides": [1, conv.stride, conv.stride, 1], "padding": conv.padding,
                  "data_format": "NHWC", "use_cudnn_on_gpu": True}),
            _const(f"{bn}/beta", weights[f"{name}.bn.bias"]),
            _const(f"{bn}/gamma", weights[f"{name}.bn.weight"]),
            _const(f"{bn}/moving_mean", weights[f"{name}.bn.running_mean"]),
            _const(f"{bn}/moving_variance", weights[f"{name}.bn.running_var"]),
            Node(bn, "BatchNormWithGlobalNormalization",
                 [f"{layer}/Conv2D", f"{bn}/moving_mean", f"{bn}/moving_variance", f"{bn}/beta", f"{bn}/gamma"],
                 {"T": _FLOAT, "variance_epsilon": BN_EPS, "scale_after_normalization": scale_after_normalization}),
            Node(layer, "Relu", [bn], {"T": _FLOAT}),
        ])
        return layer

    x = "Mul"
    for block in BLOCKS:
        outs = []
        for branch in block.branches:
            h = x
            for step in branch:
                if isinstance(step, Pool):
                    name = join(block.tf, step.tf)
                    nodes.append(_pool_node(name, h, step))
                    h = name
                elif isinstance(step, Split):
                    parts = [conv_nodes(join(block.tf, c.tf), join(block.torch, c.torch, sep="."), c, h)
                             for c in (step.a, step.b)]
                    h = join(block.tf, step.tf)
                    nodes.extend(_concat(h, parts))
                else:
                    h = conv_nodes(join(block.tf, step.tf), join(block.torch, step.torch, sep="."), step, h)
            outs.append(h)
        if block.tf:
            x = f"{block.tf}/join"
            nodes.extend(_concat(x, outs))
        else:
            x = outs[0]
    features = config.features
    nodes += [
        _pool_node("pool_3", x, Pool("pool_3", "avg", 1, "VALID", 8)),
        _const("pool_3/_reshape/shape", np.array([1, features], np.int32)),
        Node("pool_3/_reshape", "Reshape", ["pool_3", "pool_3/_reshape/shape"], {"T": _FLOAT, "Tshape": _INT32}),
        _const("softmax/weights", np.ascontiguousarray(weights["fc.weight"].T)),
        _const("softmax/biases", weights["fc.bias"]),
        Node("softmax/logits/MatMul", "MatMul", ["pool_3/_reshape", "softmax/weights"],
             {"T": _FLOAT, "transpose_a": False, "transpose_b": False}),
        Node("softmax/logits", "BiasAdd", ["softmax/logits/MatMul", "softmax/biases"], {"T": _FLOAT}),
        Node("softmax", "Softmax", ["softmax/logits"], {"T": _FLOAT}),
    ]
    return graphdef.serialize(nodes, PRODUCER)


def effective_weights(weights: dict[str, np.ndarray], scale_after_normalization: bool) -> dict[str, np.ndarray]:
    """What TensorFlow computes with: gamma is 1 where the graph does not scale after normalization (the
    PyTorch file a converter should write for such a graph)."""
    if scale_after_normalization:
        return dict(weights)
    return {k: np.ones_like(v) if k.endswith(".bn.weight") else v for k, v in weights.items()}
