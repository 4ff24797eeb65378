"""Generation-time quantization arithmetic, computed exactly as TFLite (Micro) does it.

Multipliers and shifts are derived in Python once, from the float32 scales stored in the model,
with the same double-precision expressions and the same double->int rounding as TFLite's
``quantization_util.cc`` and TFLM's kernel ``Prepare`` functions, so the generated C gets the
identical integers. May import: numpy only.
"""

from __future__ import annotations

import math

import numpy as np

INT8_MIN = -128
INT8_MAX = 127


def tflite_round(x: float) -> float:
    """``std::round``: halves go away from zero (Python's round() goes to even)."""
    a = abs(x)
    r = math.floor(a)
    if a - r >= 0.5:  # a - r is exact for doubles, unlike floor(a + 0.5)
        r += 1.0
    return math.copysign(r, x)


def quantize_multiplier(real_multiplier: float) -> tuple[int, int]:
    """TFLite ``QuantizeMultiplier``: (int32 significand in [2^30, 2^31), power-of-two shift)."""
    if real_multiplier == 0.0:
        return 0, 0
    q, shift = math.frexp(real_multiplier)
    q_fixed = int(tflite_round(q * float(1 << 31)))
    if q_fixed == 1 << 31:
        q_fixed //= 2
        shift += 1
    if shift < -31:
        shift = 0
        q_fixed = 0
    return q_fixed, shift


def quantize_multiplier_greater_than_one(real_multiplier: float) -> tuple[int, int]:
    """TFLite ``QuantizeMultiplierGreaterThanOne``: a non-negative left shift."""
    multiplier, shift = quantize_multiplier(real_multiplier)
    if shift < 0:
        raise ValueError(f"multiplier {real_multiplier} is below one")
    return multiplier, shift


def f32(x: float | np.floating) -> float:
    """The value as TFLite holds it: a float32 widened to double."""
    return float(np.float32(x))


def activation_range(activation: int, scale: float, zero_point: int) -> tuple[int, int]:
    """TFLite ``CalculateActivationRangeQuantized`` for an int8 output.

    ``activation`` is the TFLite ActivationFunctionType (0 none, 1 RELU, 2 RELU_N1_TO_1, 3 RELU6).
    The quantization of the bounds happens in float32 as in TFLite's ``Quantize`` lambda.
    """

    def quantize(value: float) -> int:
        q = np.float32(np.float32(value) / np.float32(scale))
        return zero_point + int(tflite_round(float(q)))

    if activation == 0:
        return INT8_MIN, INT8_MAX
    if activation == 1:
        return max(INT8_MIN, quantize(0.0)), INT8_MAX
    if activation == 3:
        return max(INT8_MIN, quantize(0.0)), min(INT8_MAX, quantize(6.0))
    if activation == 2:
        return max(INT8_MIN, quantize(-1.0)), min(INT8_MAX, quantize(1.0))
    raise ValueError(f"unsupported fused activation type {activation}")


def calculate_input_radius(input_integer_bits: int, input_left_shift: int) -> int:
    """TFLite ``CalculateInputRadius`` with 31 total signed bits."""
    max_input_rescaled = (
        1.0
        * ((1 << input_integer_bits) - 1)
        * float(1 << (31 - input_integer_bits))
        / float(1 << input_left_shift)
    )
    return math.floor(max_input_rescaled)


def softmax_params(beta: float, input_scale: float) -> tuple[int, int, int]:
    """TFLM int8 softmax prepare: (input_multiplier, input_left_shift, diff_min)."""
    scaled_diff_integer_bits = 5
    real = min(
        beta * input_scale * float(1 << (31 - scaled_diff_integer_bits)),
        float((1 << 31) - 1),
    )
    multiplier, left_shift = quantize_multiplier_greater_than_one(real)
    diff_min = -calculate_input_radius(scaled_diff_integer_bits, left_shift)
    return multiplier, left_shift, diff_min


def logistic_params(input_scale: float) -> tuple[int, int, int]:
    """TFLM int8 logistic prepare: (input_multiplier, input_left_shift, input_range_radius).

    TFLM takes frexp directly here (no QuantizeMultiplier), so the significand is not
    renormalised when it rounds up to 2^31.
    """
    input_integer_bits = 4
    real = input_scale * float(1 << (31 - input_integer_bits))
    q, left_shift = math.frexp(real)
    multiplier = int(tflite_round(q * float(1 << 31)))
    radius = calculate_input_radius(input_integer_bits, left_shift)
    return multiplier, left_shift, radius


def mean_multiplier(multiplier: int, shift: int, num_elements: int) -> tuple[int, int]:
    """TFLite ``QuantizedMeanOrSum``: fold 1/num_elements into the output multiplier."""
    pot = num_elements.bit_length() - 1  # 63 - CountLeadingZeros(uint64)
    pot = min(pot, 32, 31 + shift)  # shift >= -31 after quantize_multiplier, so pot >= 0
    # int64 division truncates toward zero; both operands are non-negative so // agrees.
    return (multiplier << pot) // num_elements, shift - pot
