"""Run a TensorFlow.js graph model's original graph with TensorFlow itself, as the reference the
rebuilt Keras models are checked against (tests and bench only: the product reads the files with
numpy alone)."""
from __future__ import annotations

import numpy as np

from fer.train.tfjs import GraphModel


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
        elif node.op == "Placeholder":
            rank = len(node.attr["shape"].shape.dim)
            node.attr["shape"].shape.CopyFrom(tf.TensorShape([None] * rank).as_proto())
    graph_def = tf.compat.v1.graph_util.extract_sub_graph(graph_def, [output])
    with tf.Graph().as_default() as g:
        tf.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session(graph=g) as session:
            return session.run(f"{output}:0", {f"{k}:0": v for k, v in feed.items()})
