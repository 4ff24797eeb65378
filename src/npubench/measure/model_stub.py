"""Host reference of the harness's built-in workload "npb-dense-v1".

The C file ``harness/models/dense/npb_model_dense.c`` is one int8 fully connected layer
(1024 -> 128) whose weights follow a closed formula; this module recomputes its exact output
with numpy so a run on a board or emulator can be checked bit for bit, and holds the
descriptor whose SHA-256 prefix the firmware reports as its model hash. It stands in for a
real int8 network until generated model code is linked into the harness.

May import: numpy and the standard library.
"""

from __future__ import annotations

import hashlib

import numpy as np

DENSE_IN = 1024
DENSE_OUT = 128
DENSE_SHIFT = 12
DENSE_NAME = "npb-dense-v1"
DENSE_DESCRIPTOR = (
    "npb-dense-v1 in=1024 out=128 int8 w[j][i]=((37*i+101*j+13)%255)-127 "
    "b[j]=((7919*j)%2001)-1000 y[j]=clamp(floor((b[j]+sum_i x[i]*w[j][i])/4096),-128,127) "
    "post=argmax(y)"
)
"""Canonical description of the workload; its SHA-256 identifies the "model"."""


def dense_model_hash() -> str:
    """The 16-hex-digit model hash the dense firmware announces in HELLO."""
    return hashlib.sha256(DENSE_DESCRIPTOR.encode()).hexdigest()[:16]


def dense_weights() -> tuple[np.ndarray, np.ndarray]:
    """(weights int8 [out, in], bias int32 [out]) exactly as the C init stage builds them."""
    i = np.arange(DENSE_IN, dtype=np.int64)
    j = np.arange(DENSE_OUT, dtype=np.int64)[:, None]
    w = ((37 * i + 101 * j + 13) % 255 - 127).astype(np.int8)
    b = ((7919 * np.arange(DENSE_OUT, dtype=np.int64)) % 2001 - 1000).astype(np.int32)
    return w, b


def dense_reference(x: bytes) -> bytes:
    """The output bytes (int8 as two's complement) the firmware must produce for input x."""
    if len(x) != DENSE_IN:
        raise ValueError(f"npb-dense-v1 takes {DENSE_IN} input bytes, got {len(x)}")
    w, b = dense_weights()
    xi = np.frombuffer(x, dtype=np.int8).astype(np.int64)
    acc = w.astype(np.int64) @ xi + b
    # numpy's >> on signed integers floors, like the firmware's offset-and-shift.
    y = np.clip(acc >> DENSE_SHIFT, -128, 127).astype(np.int8)
    return y.tobytes()


def dense_postprocess(output: bytes) -> int:
    """The firmware's postprocess result: index of the first maximum int8 output."""
    return int(np.argmax(np.frombuffer(output, dtype=np.int8)))
