"""Read an int8 TFLite flatbuffer into plain Python objects for the C code generator.

Uses the flatbuffer bindings bundled with ethos-u-vela (``ethosu.vela.tflite``), which cover the
whole TFLite schema. Only the first subgraph is read. May import: npubench.errors, numpy, vela.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from npubench.errors import CompilerError

# TFLite TensorType enum values -> numpy dtypes (only the types an int8 graph carries).
_TENSOR_TYPES: dict[int, np.dtype[Any]] = {
    0: np.dtype(np.float32),
    1: np.dtype(np.float16),
    2: np.dtype(np.int32),
    3: np.dtype(np.uint8),
    4: np.dtype(np.int64),
    7: np.dtype(np.int16),
    9: np.dtype(np.int8),
}


@dataclass
class Tensor:
    """One tensor of the graph; ``data`` is set for constant tensors (weights, biases, axes)."""

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype[Any]
    scales: np.ndarray  # float32, empty when not quantized
    zero_points: np.ndarray  # int64, empty when not quantized
    quantized_dimension: int
    data: np.ndarray | None = None

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def num_elements(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def scale(self) -> float:
        """The per-tensor scale (the first one for per-channel tensors)."""
        if self.scales.size == 0:
            raise CompilerError(
                f"tensor {self.name!r} has no quantization parameters",
                hint="convert the model to full-integer int8 with int8 input and output",
            )
        return float(self.scales[0])

    @property
    def zero_point(self) -> int:
        return int(self.zero_points[0]) if self.zero_points.size else 0


@dataclass
class Operator:
    """One operator: its builtin name, tensor indices (-1 = absent) and builtin options."""

    index: int
    opcode: str
    inputs: list[int]
    outputs: list[int]
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Graph:
    """The first subgraph of a TFLite model."""

    tensors: list[Tensor]
    operators: list[Operator]
    inputs: list[int]
    outputs: list[int]


def _builtin_names() -> dict[int, str]:
    from ethosu.vela.tflite.BuiltinOperator import BuiltinOperator

    return {
        value: name
        for name, value in vars(BuiltinOperator).items()
        if not name.startswith("_") and isinstance(value, int)
    }


def _options_class_names() -> dict[int, str]:
    from ethosu.vela.tflite.BuiltinOptions import BuiltinOptions

    return {
        value: name
        for name, value in vars(BuiltinOptions).items()
        if not name.startswith("_") and isinstance(value, int)
    }


def _read_options(op: Any, class_names: dict[int, str]) -> dict[str, Any]:
    """All scalar fields of an operator's builtin options table, by their schema names."""
    options_type = op.BuiltinOptionsType()
    if options_type == 0:
        return {}
    class_name = class_names[options_type]
    module = importlib.import_module(f"ethosu.vela.tflite.{class_name}")
    options = getattr(module, class_name)()
    table = op.BuiltinOptions()
    options.Init(table.Bytes, table.Pos)
    fields: dict[str, Any] = {}
    for name, method in inspect.getmembers(type(options), inspect.isfunction):
        if name.startswith(("_", "Init", "GetRootAs")) or name.endswith("BufferHasIdentifier"):
            continue
        # Scalar getters take only self; vector getters take an index and are skipped.
        if len(inspect.signature(method).parameters) == 1 and not name.endswith(
            ("Length", "IsNone")
        ):
            fields[name] = method(options)
    return fields


def read_tflite(path: Path) -> Graph:
    """Parse ``path`` into a :class:`Graph` (first subgraph only)."""
    from ethosu.vela.tflite.Model import Model

    try:
        raw = Path(path).read_bytes()
        model = Model.GetRootAsModel(raw, 0)
        subgraph = model.Subgraphs(0)
    except Exception as exc:  # flatbuffers raises assorted errors on corrupt input
        raise CompilerError(
            f"cannot read TFLite model {path}: {exc}",
            hint="pass an int8 .tflite file produced by the TFLite converter or onnx2tf",
        ) from exc
    if model.SubgraphsLength() != 1:
        raise CompilerError(
            f"{path} has {model.SubgraphsLength()} subgraphs; the C generator reads exactly one",
            hint="control flow (WHILE/IF/CALL_ONCE) is not supported by the C generator",
        )

    tensors = [
        _read_tensor(model, subgraph.Tensors(i), i, raw) for i in range(subgraph.TensorsLength())
    ]
    builtin_names = _builtin_names()
    class_names = _options_class_names()
    operators = []
    for i in range(subgraph.OperatorsLength()):
        op = subgraph.Operators(i)
        code = model.OperatorCodes(op.OpcodeIndex())
        # Codes >= 127 live in BuiltinCode; older files only fill the deprecated byte.
        builtin = max(code.BuiltinCode(), code.DeprecatedBuiltinCode())
        name = builtin_names.get(builtin, f"BUILTIN_{builtin}")
        if name == "CUSTOM":
            name = f"CUSTOM:{(code.CustomCode() or b'').decode()}"
        operators.append(
            Operator(
                index=i,
                opcode=name,
                inputs=[int(t) for t in op.InputsAsNumpy()] if op.InputsLength() else [],
                outputs=[int(t) for t in op.OutputsAsNumpy()] if op.OutputsLength() else [],
                options=_read_options(op, class_names),
            )
        )
    return Graph(
        tensors=tensors,
        operators=operators,
        inputs=[int(t) for t in subgraph.InputsAsNumpy()],
        outputs=[int(t) for t in subgraph.OutputsAsNumpy()],
    )


def _read_tensor(model: Any, t: Any, index: int, raw: bytes) -> Tensor:
    name = (t.Name() or b"").decode(errors="replace")
    dtype = _TENSOR_TYPES.get(t.Type())
    if dtype is None:
        raise CompilerError(
            f"tensor {index} ({name!r}) has TFLite type {t.Type()}, which the C generator "
            "does not handle",
            hint="convert the model to full-integer int8",
        )
    shape = tuple(int(d) for d in t.ShapeAsNumpy()) if t.ShapeLength() else ()
    q = t.Quantization()
    scales = np.zeros(0, np.float32)
    zero_points = np.zeros(0, np.int64)
    qdim = 0
    if q is not None and q.ScaleLength():
        scales = q.ScaleAsNumpy().astype(np.float32)
        zero_points = q.ZeroPointAsNumpy().astype(np.int64)
        qdim = q.QuantizedDimension()
    data = None
    buffer = model.Buffers(t.Buffer())
    if buffer is not None:
        if buffer.DataLength():
            data = np.frombuffer(buffer.DataAsNumpy().tobytes(), dtype=dtype)
        elif buffer.Offset() > 1:  # large models keep buffers after the flatbuffer
            start = buffer.Offset()
            data = np.frombuffer(raw[start : start + buffer.Size()], dtype=dtype)
        if data is not None:
            data = data.reshape(shape) if shape else data.reshape(())
    return Tensor(index, name, shape, dtype, scales, zero_points, qdim, data)
