"""Small int8 TFLite models for the analysis tests, built with Keras + TFLiteConverter.

Tests call ``ensure_models(root)``: it converts every model in one subprocess (importing
TensorFlow costs seconds and memory, and the converter must not share the test process) and
keeps the files under ``root`` keyed by this file's content and the TensorFlow version, so later
runs reuse them. Run as a script (``python _tflite_models.py OUT_DIR``) it builds into OUT_DIR.

Each model is full-integer quantized (TFLITE_BUILTINS_INT8, int8 input and output) with a
seeded representative dataset; ``float_conv`` is the same convolution left in float32 and
``degenerate_softmax`` a real model TFLM aborts on.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

MODEL_NAMES = (
    "conv_same_s2",
    "conv_valid_dilated",
    "depthwise",
    "fc",
    "pool_add_concat",
    "residual",
    "small_convnet",
    "degenerate_softmax",
    "float_conv",
    "gather_head",
)


def ensure_models(root: Path) -> dict[str, Path]:
    """Paths of every test model, building them under ``root`` unless already there."""
    source = Path(__file__).read_bytes()
    tf_version = importlib.metadata.version("tensorflow")
    key = hashlib.sha256(source + tf_version.encode()).hexdigest()[:16]
    final = Path(root) / key
    if not (final / ".complete").exists():
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=final.parent))
        try:
            env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
            done = subprocess.run(
                [sys.executable, __file__, str(tmp)],
                capture_output=True,
                text=True,
                timeout=600,
                env=env,
            )
            if done.returncode != 0:
                raise RuntimeError(f"building test models failed:\n{done.stderr[-4000:]}")
            (tmp / ".complete").write_text("ok\n")
            # A concurrent run may have finished first; its files are identical.
            with contextlib.suppress(OSError):
                os.rename(tmp, final)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return {name: final / f"{name}.tflite" for name in MODEL_NAMES}


def _build_all(out_dir: Path) -> None:
    import keras
    import numpy as np
    import tensorflow as tf
    from keras import layers

    # Non-zero biases: the converter drops an all-zero bias, and the tests count bias params.
    bias = "random_uniform"

    def convert(model: keras.Model, quantize: bool = True) -> bytes:
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        if quantize:
            shape = [1, *model.inputs[0].shape[1:]]

            def representative():
                rng = np.random.default_rng(0)
                for _ in range(16):
                    yield [rng.uniform(-1.0, 1.0, shape).astype(np.float32)]

            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = representative
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            converter.inference_input_type = tf.int8
            converter.inference_output_type = tf.int8
        return converter.convert()

    def model(input_shape: tuple[int, ...], body) -> keras.Model:
        keras.utils.set_random_seed(0)
        inp = keras.Input(input_shape, batch_size=1)
        return keras.Model(inp, body(inp))

    def conv_same_s2(x):
        return layers.Conv2D(
            8, 3, strides=2, padding="same", activation="relu", bias_initializer=bias
        )(x)

    def conv_valid_dilated(x):
        return layers.Conv2D(4, 3, dilation_rate=2, padding="valid", bias_initializer=bias)(x)

    def depthwise(x):
        return layers.DepthwiseConv2D(
            3, depth_multiplier=2, padding="valid", bias_initializer=bias
        )(x)

    def fc(x):
        return layers.Dense(10, activation="relu6", bias_initializer=bias)(x)

    def pool_add_concat(x):
        a = layers.Conv2D(4, 1, bias_initializer=bias)(x)
        b = layers.MaxPooling2D(3, strides=1, padding="same")(x)
        s = layers.Add()([a, b])
        c = layers.Concatenate()([s, x])
        return layers.AveragePooling2D(2)(c)

    def residual(x):
        c1 = layers.Conv2D(8, 3, padding="same", activation="relu", bias_initializer=bias)(x)
        c2 = layers.Conv2D(4, 3, padding="same", bias_initializer=bias)(c1)
        y = layers.Add()([x, c2])
        return layers.Conv2D(2, 1, bias_initializer=bias)(y)

    def small_convnet(x):
        x = layers.Conv2D(
            8, 3, strides=2, padding="same", activation="relu", bias_initializer=bias
        )(x)
        x = layers.DepthwiseConv2D(3, padding="same", activation="relu", bias_initializer=bias)(x)
        x = layers.Conv2D(16, 1, activation="relu", bias_initializer=bias)(x)
        x = layers.GlobalAveragePooling2D()(x)
        x = layers.Dense(5, bias_initializer=bias)(x)
        return layers.Softmax()(x)

    def degenerate_softmax(x):
        # Near-zero weights: the softmax input range is ~1e-8, so its scale is degenerate and
        # TFLM (and LiteRT) abort the process on it.
        tiny = keras.initializers.RandomUniform(-1e-9, 1e-9)
        x = layers.Dense(4, kernel_initializer=tiny, bias_initializer="zeros")(x)
        return layers.Softmax()(x)

    def gather_head(x):
        # GATHER: TFLM runs it, Ethos-U falls back to the CPU, npubench's C generator has none.
        x = layers.Conv2D(4, 3, padding="same", bias_initializer=bias)(x)
        x = layers.Reshape((8 * 8 * 4,))(x)
        return layers.Lambda(lambda t: tf.gather(t, list(range(0, 20, 2)), axis=1))(x)

    specs = {
        "conv_same_s2": ((16, 16, 3), conv_same_s2, True),
        "conv_valid_dilated": ((10, 10, 2), conv_valid_dilated, True),
        "depthwise": ((12, 12, 4), depthwise, True),
        "fc": ((20,), fc, True),
        "pool_add_concat": ((8, 8, 4), pool_add_concat, True),
        "residual": ((8, 8, 4), residual, True),
        "small_convnet": ((16, 16, 3), small_convnet, True),
        "degenerate_softmax": ((8,), degenerate_softmax, True),
        "float_conv": ((16, 16, 3), conv_same_s2, False),
        "gather_head": ((8, 8, 3), gather_head, True),
    }
    assert tuple(specs) == MODEL_NAMES
    for name, (shape, body, quantize) in specs.items():
        (out_dir / f"{name}.tflite").write_bytes(convert(model(shape, body), quantize))


if __name__ == "__main__":
    _build_all(Path(sys.argv[1]))
