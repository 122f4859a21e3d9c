"""The 2015 Inception graph's layout: the table, the GraphDef reader and writer (checked against the protobuf
library where it is installed), and what the reader refuses."""

import numpy as np
import pytest

from rae_spec import graphdef
from rae_spec.graphdef import GraphDefError
from rae_spec.inception import InceptionConfig, layer_names, parameters, random_weights
from rae_spec.inception_graph import effective_weights, graph_from_weights, weights_from_graph

TINY = InceptionConfig(channel_divisor=8, num_classes=16)


def test_table_matches_the_real_network():
    params = parameters()
    assert sum(k.endswith("conv.weight") for k in params) == 94  # torchvision / torch-fidelity's 94 BasicConv2d
    assert params["Conv2d_1a_3x3.conv.weight"] == (32, 3, 3, 3)
    assert params["Mixed_6d.branch7x7_2.conv.weight"] == (160, 160, 1, 7)
    assert params["Mixed_7c.branch3x3dbl_3b.conv.weight"] == (384, 384, 3, 1)
    assert params["fc.weight"] == (1008, 2048)
    conv_params = sum(int(np.prod(s)) for k, s in params.items() if k.endswith("conv.weight"))
    assert conv_params == 21_751_136  # torch-fidelity's FeatureExtractorInceptionV3 (checked once by building it)
    names = layer_names()
    assert names["mixed_6/conv"] == "Mixed_6d.branch1x1"  # ADM's sFID layer
    assert names["mixed_10/tower_1/mixed/conv_1"] == "Mixed_7c.branch3x3dbl_3b"
    assert names["conv_4"] == "Conv2d_4a_3x3" and len(names) == 94


@pytest.mark.parametrize("scaled", [False, True])
def test_graph_round_trip_follows_scale_after_normalization(scaled):
    w = random_weights(3, TINY)
    config, back = weights_from_graph(graph_from_weights(w, scale_after_normalization=scaled))
    assert config == TINY
    expected = effective_weights(w, scaled)
    assert set(back) == set(expected)
    for k in expected:
        np.testing.assert_array_equal(back[k], expected[k], err_msg=k)
    assert scaled or all((back[k] == 1).all() for k in back if k.endswith(".bn.weight"))


def test_written_graph_parses_with_the_protobuf_library():
    graph_pb2 = pytest.importorskip("tensorboard.compat.proto.graph_pb2")
    from tensorboard.util import tensor_util

    w = random_weights(4, TINY)
    data = graph_from_weights(w)
    g = graph_pb2.GraphDef()
    g.ParseFromString(data)
    nodes = {n.name: n for n in g.node}
    ours = graphdef.parse(data)
    assert set(nodes) == set(ours) and g.versions.producer == 8
    bn = nodes["mixed_6/conv/batchnorm"]
    assert bn.op == "BatchNormWithGlobalNormalization" and list(bn.input)[0] == "mixed_6/conv/Conv2D"
    assert not bn.attr["scale_after_normalization"].b and bn.attr["variance_epsilon"].f == pytest.approx(0.001)
    conv = nodes["mixed_3/conv/Conv2D"]
    assert list(conv.attr["strides"].list.i) == [1, 2, 2, 1] and conv.attr["padding"].s == b"VALID"
    assert nodes["mixed_10/tower_2/pool"].op == "MaxPool" and nodes["mixed_9/tower_2/pool"].op == "AvgPool"
    kernel = tensor_util.make_ndarray(nodes["mixed_6/conv/conv2d_params"].attr["value"].tensor)
    np.testing.assert_array_equal(kernel, w["Mixed_6d.branch1x1.conv.weight"].transpose(2, 3, 1, 0))
    # and the other way: a tensor written by the protobuf library (float_val, not tensor_content) reads back
    scalar = graph_pb2.GraphDef()
    node = scalar.node.add(name="c", op="Const")
    node.attr["value"].tensor.CopyFrom(tensor_util.make_tensor_proto(np.float32(2.5), shape=[3]))
    np.testing.assert_array_equal(graphdef.constants(graphdef.parse(scalar.SerializeToString()))["c"], [2.5] * 3)


def test_reader_refuses_other_files():
    with pytest.raises(GraphDefError):
        graphdef.parse(b"\x0a\xff\xff\xff\x0f")  # a length running past the end
    with pytest.raises(GraphDefError):
        graphdef.parse(b"")
    w = random_weights(5, TINY)
    data = graph_from_weights(w)
    with pytest.raises(GraphDefError):
        weights_from_graph(data[: len(data) // 2])
    other = graphdef.serialize([n for n in graphdef.parse(data).values() if n.name != "mixed_6/conv/Conv2D"], 8)
    with pytest.raises(GraphDefError, match="mixed_6/conv/Conv2D"):
        weights_from_graph(other)
    nodes = graphdef.parse(data)
    nodes["mixed/tower/conv_1/Conv2D"].attr["padding"] = b"VALID"
    with pytest.raises(GraphDefError, match="padding"):
        weights_from_graph(graphdef.serialize(list(nodes.values()), 8))
