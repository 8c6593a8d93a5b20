"""Convert a trained Keras classifier into the LiteRT file the product serves (int8 weights and
activations, float input/output), calibrated on real training crops."""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np


def export_litert(keras_model, out_path: str | Path, calibration: np.ndarray | None,
                  quantize: bool | str = True) -> Path:
    """Write ``out_path`` (.tflite). ``calibration``: (N, s, s) gray or (N, s, s, 3) RGB uint8 crops
    covering the classes. ``quantize``: "int8" (or True: weights and activations), "dynamic" (int8
    weights only), "float16" (half-size weights) or False (float32).

    int8 runs about 4x faster than float32 under XNNPACK on this CPU; the agreement with the
    Keras model is measured by the caller and recorded in the metadata.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    out_path = Path(out_path)
    with tempfile.TemporaryDirectory() as tmp:
        keras_model.export(tmp, format="tf_saved_model", verbose=False)
        conv = tf.lite.TFLiteConverter.from_saved_model(tmp)
        if quantize in ("dynamic", "float16"):
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            if quantize == "float16":
                conv.target_spec.supported_types = [tf.float16]
        elif quantize:
            conv.optimizations = [tf.lite.Optimize.DEFAULT]
            samples = (calibration if calibration.ndim == 4 else calibration[..., None]).astype(np.float32)

            def representative():
                for i in range(len(samples)):
                    yield [samples[i:i + 1]]

            conv.representative_dataset = representative
        out_path.write_bytes(conv.convert())
    return out_path
