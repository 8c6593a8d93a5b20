"""The classifier network: a small VGG-style CNN on 48x48 grayscale crops.

Normalisation (uint8 range -> [0, 1]) lives inside the model so serving code can't forget it.
"""
from __future__ import annotations

import keras
from keras import layers


def _conv_bn_relu(x, filters: int, name: str):
    x = layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.ReLU(name=f"{name}_relu")(x)


def make_model(num_classes: int, image_size: int = 48,
               widths: tuple[int, ...] = (32, 64, 128, 256), dropout: float = 0.4) -> keras.Model:
    """Input: (N, size, size, 1) float pixels in [0, 255]. Output: (N, classes) softmax."""
    inputs = keras.Input((image_size, image_size, 1), name="pixels")
    x = layers.Rescaling(1.0 / 255.0, name="scale")(inputs)
    for stage, filters in enumerate(widths, start=1):
        x = _conv_bn_relu(x, filters, f"s{stage}a")
        x = _conv_bn_relu(x, filters, f"s{stage}b")
        x = layers.MaxPooling2D(name=f"s{stage}_pool")(x)
        x = layers.SpatialDropout2D(0.1, name=f"s{stage}_drop")(x) if stage >= 2 else x
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dropout(dropout, name="head_drop1")(x)
    x = layers.Dense(256, use_bias=False, name="head_dense")(x)
    x = layers.BatchNormalization(name="head_bn")(x)
    x = layers.ReLU(name="head_relu")(x)
    x = layers.Dropout(dropout, name="head_drop2")(x)
    outputs = layers.Dense(num_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name="fer_vgg")
