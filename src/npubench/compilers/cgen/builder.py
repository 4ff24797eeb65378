"""Accumulates the C text of one generated model: constant data, op parameters, statements.

The operator lowerings (``ops.py``) call into a :class:`CodeBuilder`; the generator creates it
with the memory plan's tensor offsets. May import: numpy, npubench.errors,
``npubench.analysis.tflite_reader`` (the model records) and sibling cgen modules.
"""

from __future__ import annotations

import numpy as np

from npubench.analysis.tflite_reader import ModelRecord, OperatorRecord, TensorRecord
from npubench.compilers.cgen.emit import c_comment, const_array, const_struct
from npubench.errors import CompilerError


class CodeBuilder:
    """Hands out C expressions for tensors and collects declarations and statements."""

    def __init__(
        self, graph: ModelRecord, prefix: str, arena: str, offsets: dict[int, int]
    ) -> None:
        self.graph = graph
        self.prefix = prefix
        self.arena = arena
        self.offsets = offsets  # activation tensor index -> arena offset
        self.declarations: list[str] = []
        self.statements: list[str] = []
        self.warnings: list[str] = []
        self._constants: dict[int, str] = {}
        self.constant_bytes = 0

    def tensor(self, index: int) -> TensorRecord:
        return self.graph.tensors[index]

    def ref(self, index: int) -> str:
        """A C pointer expression for the data of tensor ``index`` (arena slot or const array)."""
        if index < 0:
            return "0"
        if index in self.offsets:
            return f"({self.arena} + {self.offsets[index]})"
        tensor = self.tensor(index)
        data = tensor.array()
        if data is None:
            raise CompilerError(
                f"tensor {index} ({tensor.name!r}) is neither computed by an operator nor constant",
                hint="the model may have several inputs or variables, which cgen does not handle",
            )
        if index not in self._constants:
            name = f"{self.prefix}_t{index}"
            self.declarations.append(f"/* {c_comment(tensor.name)} {list(tensor.shape)} */\n")
            self.declarations.append(const_array(name, data))
            self._constants[index] = name
            self.constant_bytes += int(data.nbytes)
        return self._constants[index]

    def symbol(self, op: OperatorRecord, what: str) -> str:
        return f"{self.prefix}_op{op.index}_{what}"

    def array(self, op: OperatorRecord, what: str, values: np.ndarray) -> str:
        """Declare an op-level constant array (multipliers, shifts) and return its name."""
        name = self.symbol(op, what)
        self.declarations.append(const_array(name, values))
        self.constant_bytes += int(np.asarray(values).nbytes)
        return name

    def params(self, op: OperatorRecord, ctype: str, fields: dict) -> str:
        """Declare the op's parameter struct and return ``&name``."""
        name = self.symbol(op, "params")
        self.declarations.append(const_struct(ctype, name, fields))
        return f"&{name}"

    def call(self, op: OperatorRecord, statement: str) -> None:
        out_name = self.tensor(op.outputs[0]).name if op.outputs else ""
        self.statements.append(f"    /* op {op.index}: {op.op} -> {c_comment(out_name)} */")
        self.statements.append(f"    {statement}")
