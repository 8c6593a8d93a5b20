"""Run a TensorFlow.js graph model's original graph with TensorFlow itself, as the reference the
rebuilt Keras models are checked against (tests and bench only: the product reads the files with
numpy alone)."""
from __future__ import annotations

import numpy as np

from fer.train.tfjs import GraphModel


#: TensorFlow.js op names -> TensorFlow's (its converter keeps TensorFlow's fused kernels).
_TFJS_FUSED_OPS = {"_FusedConv2D": "_FusedConv2D", "FusedDepthwiseConv2dNative": "_FusedDepthwiseConv2dNative",
                   "_FusedMatMul": "_FusedMatMul"}


def run_original_graph(graph: GraphModel, output: str, feed: dict[str, np.ndarray]) -> np.ndarray:
    """``output`` (a node name) of ``graph`` for ``feed`` ({placeholder name: array}).

    The GraphDef is parsed from the JSON with protobuf, the weights are written into its Const
    nodes, placeholders accept any batch and image size, and only what ``output`` needs is kept
    (so ops TensorFlow fused at export time for other heads need not import).
    """
    import tensorflow as tf
    from google.protobuf import json_format

    graph_def = json_format.ParseDict(graph.topology, tf.compat.v1.GraphDef())
    for node in graph_def.node:
        if node.op == "Const":
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(graph.weights[node.name]))
        elif node.op in _TFJS_FUSED_OPS:
            # TensorFlow.js names fused ops its own way and drops the argument types TensorFlow wants.
            node.op = _TFJS_FUSED_OPS[node.op]
            if node.op == "_FusedDepthwiseConv2dNative":
                del node.attr["explicit_paddings"]
            elif "TArgs" not in node.attr:
                node.attr["TArgs"].list.type.extend([tf.float32.as_datatype_enum] * node.attr["num_args"].i)
        elif node.op == "Placeholder":
            rank = len(node.attr["shape"].shape.dim)
            node.attr["shape"].shape.CopyFrom(tf.TensorShape([None] * rank).as_proto())
    graph_def = tf.compat.v1.graph_util.extract_sub_graph(graph_def, [output])
    with tf.Graph().as_default() as g:
        tf.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session(graph=g) as session:
            return session.run(f"{output}:0", {f"{k}:0": v for k, v in feed.items()})


def original_feature(name: str, rgb: np.ndarray) -> np.ndarray:
    """The feature ``build_backbone(name)`` should compute, from the original graph, for RGB 0..255
    faces ``(n, s, s, 3)``: each network fed its own preprocessing by hand (faceres BGR minus the
    mean; mobilefacenet (RGB - 127.5) / 128, its last feature map averaged over space)."""
    from fer.train.backbones import BACKBONES
    from fer.train.tfjs import load_graph_model

    rgb = rgb.astype(np.float32)
    graph = load_graph_model(name)
    if name == "faceres":
        bgr_mean = np.array([103.939, 116.779, 123.68], np.float32)
        return run_original_graph(graph, BACKBONES[name], {"input_1": rgb[..., ::-1] - bgr_mean})
    if name == "mobilefacenet":
        feature_map = run_original_graph(graph, BACKBONES[name], {"img_inputs": (rgb - 127.5) / 128.0})
        return feature_map.mean(axis=(1, 2))
    raise ValueError(f"no reference for {name!r}")
