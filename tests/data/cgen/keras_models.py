"""Build small Keras models covering every cgen operator and convert them to int8 TFLite.

Run as a script in a subprocess (TensorFlow is heavy): ``python keras_models.py OUT_DIR [NAME..]``
writes ``OUT_DIR/<name>.tflite`` (full-integer int8, int8 input and output) for each model.
Weights and calibration data are seeded, so the files are reproducible.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import tensorflow as tf

keras = tf.keras
layers = keras.layers


def convnet() -> keras.Model:
    """Per-channel conv, SAME stride 2, depthwise x2, residual add, pools, mean, dense, softmax."""
    x_in = keras.Input((20, 20, 3), batch_size=1)
    x = layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(x_in)
    y = layers.DepthwiseConv2D(3, padding="same", depth_multiplier=2)(x)
    y = layers.Conv2D(8, 1, activation="relu6")(y)
    x = layers.Add()([x, y])
    x = layers.Conv2D(12, 3, padding="valid", dilation_rate=2)(x)
    x = layers.MaxPooling2D(2, strides=2, padding="same")(x)
    x = layers.AveragePooling2D(3, strides=1, padding="same")(x)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(10)(x)
    return keras.Model(x_in, layers.Softmax()(x))


def misc() -> keras.Model:
    """Conv1D, slice, concat (+requantize), pad, transpose, relu, sigmoid, mul, sub, reshape."""
    x_in = keras.Input((32, 6), batch_size=1)
    a = layers.Conv1D(8, 3, padding="same", activation="relu")(x_in)
    b = layers.Conv1D(4, 5, strides=2, padding="valid")(x_in)
    b = layers.ZeroPadding1D((9, 11))(b)
    x = layers.Concatenate()([a, b[:, 1:33, :]])
    x = layers.ReLU()(x)
    g = layers.Activation("sigmoid")(x)
    x = layers.Multiply()([x, g])
    x = layers.Concatenate()([x, g])
    x = layers.Subtract()([x, layers.Dense(24)(x)])
    x = layers.Permute((2, 1))(x)
    x = layers.Reshape((24, 32, 1))(x)
    x = layers.ZeroPadding2D(((1, 2), (0, 3)))(x)
    x = layers.Conv2D(4, (3, 5), strides=(2, 3), padding="valid")(x)
    x = layers.Flatten()(x)
    return keras.Model(x_in, layers.Dense(16, activation="relu")(x))


def grouped() -> keras.Model:
    """Grouped conv, stride-2 depthwise, channel mean, broadcast add, reduce max, relu6."""
    x_in = keras.Input((12, 12, 8), batch_size=1)
    x = layers.Conv2D(8, 3, padding="same", groups=2)(x_in)
    x = layers.DepthwiseConv2D(3, strides=2, padding="same", activation="relu")(x)
    m = layers.Lambda(lambda t: tf.reduce_mean(t, axis=-1, keepdims=True))(x)
    x = layers.Add()([x, m])
    x = layers.Lambda(lambda t: tf.reduce_max(t, axis=[1, 2]))(x)
    x = layers.ReLU(6.0)(x)
    return keras.Model(x_in, layers.Dense(5)(x))


def mlp() -> keras.Model:
    """Fully connected autoencoder-style MLP ending in a logistic."""
    x_in = keras.Input((40,), batch_size=1)
    x = layers.Dense(24, activation="relu")(x_in)
    x = layers.Dense(8, activation="relu")(x)
    x = layers.Dense(24, activation="relu")(x)
    return keras.Model(x_in, layers.Dense(40, activation="sigmoid")(x))


def softmax_rows() -> keras.Model:
    """SOFTMAX alone on 8 rows of 128: the int8 input reaches it unchanged."""
    x_in = keras.Input((8, 128), batch_size=1)
    return keras.Model(x_in, layers.Softmax()(x_in))


def logistic_only() -> keras.Model:
    """LOGISTIC alone: an input holding all 256 int8 codes tests the whole table."""
    x_in = keras.Input((256,), batch_size=1)
    return keras.Model(x_in, layers.Activation("sigmoid")(x_in))


# Calibration ranges: wide and narrow input scales drive softmax/logistic through their
# saturation (diff_min / input radius) and fine-resolution paths.
INPUT_RANGES = {
    "softmax_wide": (-20.0, 12.0),
    "softmax_narrow": (-1.5, 0.5),
    "logistic_wide": (-12.0, 9.0),
    "logistic_narrow": (-2.0, 2.5),
}
PER_TENSOR_DENSE = {"mlp"}  # exercise per-tensor FULLY_CONNECTED quantization
MODELS = {
    "convnet": convnet,
    "misc": misc,
    "grouped": grouped,
    "mlp": mlp,
    "softmax_wide": softmax_rows,
    "softmax_narrow": softmax_rows,
    "logistic_wide": logistic_only,
    "logistic_narrow": logistic_only,
}


def convert(
    model: keras.Model, seed: int, per_tensor_dense: bool, input_range: tuple[float, float]
) -> bytes:
    rng = np.random.default_rng(seed)
    shape = [1, *model.input_shape[1:]]

    def representative():
        for _ in range(32):
            yield [rng.uniform(*input_range, shape).astype(np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    if per_tensor_dense:
        converter._experimental_disable_per_channel_quantization_for_dense_layers = True
    return converter.convert()


def main() -> None:
    out_dir = Path(sys.argv[1])
    out_dir.mkdir(parents=True, exist_ok=True)
    names = sys.argv[2:] or list(MODELS)
    for i, name in enumerate(names):
        keras.utils.set_random_seed(100 + i)
        model = MODELS[name]()
        # Random biases too, so bias handling is exercised (Keras initialises them to 0).
        for layer in model.layers:
            weights = layer.get_weights()
            if weights:
                rng = np.random.default_rng(i)
                layer.set_weights(
                    [w if w.ndim > 1 else rng.normal(0, 0.2, w.shape) for w in weights]
                )
        (out_dir / f"{name}.tflite").write_bytes(
            convert(
                model,
                seed=i,
                per_tensor_dense=name in PER_TENSOR_DENSE,
                # Off-centre default range: the input zero point is neither 0 nor -128.
                input_range=INPUT_RANGES.get(name, (-0.4, 1.6)),
            )
        )
        print(name, "ok", flush=True)


if __name__ == "__main__":
    main()
