"""Text helpers for the C generator: constant arrays, struct initialisers, identifiers.

May import: numpy only.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np

_C_TYPES = {
    np.dtype(np.int8): "int8_t",
    np.dtype(np.int16): "int16_t",
    np.dtype(np.int32): "int32_t",
    np.dtype(np.uint8): "uint8_t",
}


def c_type(dtype: np.dtype) -> str:
    try:
        return _C_TYPES[np.dtype(dtype)]
    except KeyError:
        raise ValueError(f"no C type for {dtype}") from None


def c_int(value: int) -> str:
    """An int32 literal; INT32_MIN cannot be written as a plain negative literal in C."""
    value = int(value)
    if value == -(2**31):
        return "INT32_MIN"
    return str(value)


def c_comment(text: str) -> str:
    """Text safe inside a /* */ comment on one line."""
    return re.sub(r"[^\x20-\x7e]", "?", text).replace("*/", "* /")[:120]


def const_array(name: str, values: np.ndarray, per_line: int = 24) -> str:
    """``static const T name[N] = {...};`` with the values of a flat integer array."""
    flat = np.asarray(values).reshape(-1)
    ctype = c_type(flat.dtype)
    items = [c_int(v) for v in flat.tolist()]
    if not items:
        items = ["0"]  # C forbids empty initialisers; the kernel never reads it
    lines = [", ".join(items[i : i + per_line]) for i in range(0, len(items), per_line)]
    body = ",\n    ".join(lines)
    return f"static const {ctype} {name}[{max(1, flat.size)}] = {{\n    {body}\n}};\n"


def _field_value(value: int | Sequence[int]) -> str:
    if isinstance(value, (list, tuple)):
        return "{" + ", ".join(c_int(v) for v in value) + "}"
    return c_int(int(value))  # type: ignore[arg-type]


def const_struct(ctype: str, name: str, fields: Mapping[str, int | Sequence[int]]) -> str:
    """``static const ctype name = {.field = value, ...};`` (C99 designated initialisers)."""
    body = ",\n    ".join(f".{k} = {_field_value(v)}" for k, v in fields.items())
    return f"static const {ctype} {name} = {{\n    {body}\n}};\n"


def extend_to_4d(shape: Iterable[int]) -> list[int]:
    """Left-pad a shape of rank <= 4 with ones (TFLite's RuntimeShape::ExtendedShape)."""
    dims = [int(d) for d in shape]
    if len(dims) > 4:
        raise ValueError(f"rank {len(dims)} > 4")
    return [1] * (4 - len(dims)) + dims


def contiguous_strides(dims: Sequence[int]) -> list[int]:
    strides = [1] * len(dims)
    for k in range(len(dims) - 2, -1, -1):
        strides[k] = strides[k + 1] * int(dims[k + 1])
    return strides
