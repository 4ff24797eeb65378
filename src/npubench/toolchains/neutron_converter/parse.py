"""Parser of what NXP's eIQ ``neutron-converter`` prints while it converts a TFLite model.

May import nothing from npubench: pure text in, data out, tested on published transcripts kept in
``tests/data/neutron_converter/`` (see its COMMAND.txt). NXP documents no machine-readable
report; the converter prints ``key = value`` lines, which this parser reads:

- ``Converting model with the following options:`` then ``Input = ...``, ``Output = ...``,
  ``Target = ...``;
- ``Conversion statistics:`` then ``Number of operators after import = N``, ``... after
  optimize = N`` (the graph the converter works on), ``Number of operators converted = N`` (into
  Neutron graphs), ``Number of operators NOT converted = N`` (printed twice: after optimize and
  after extract), ``Number of operators after extract = N`` (operators of the converted model),
  ``Number of Neutron graphs = N``, ``Operator conversion ratio = a / b = r`` and ``Operators
  converted = i,j,...`` (indices in the optimized graph);
- ``Time for optimization|extraction|generation = t (seconds)``;
- newer converters (eIQ Neutron SDK, as NXP's MCUXpresso examples show): ``Overall statistics for
  graph "<name>":`` with a ``Memory:`` block ``Total data = N (bytes) (Inputs + Outputs +
  Intermediate Variable Tensors)``, ``Total weights = N (bytes) (Weights)``, ``Total size = N
  (bytes) (All)``; NXP's examples size the TFLM tensor arena from ``Total data`` (x 1.05).

Which lines a given converter version prints varies (the eIQ Toolkit 1.13.1 converter of the
uNPU-Bench study left no transcript), so every field is optional.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass
class GraphMemory:
    """The ``Memory:`` block of one graph's overall statistics, in bytes."""

    data: int | None = None  # inputs + outputs + intermediate tensors
    weights: int | None = None
    total: int | None = None


@dataclass
class NeutronConsole:
    """What one conversion printed."""

    input: str | None = None
    output: str | None = None
    target: str | None = None
    after_import: int | None = None
    after_optimize: int | None = None
    converted: int | None = None
    not_converted: int | None = None  # after optimize
    after_extract: int | None = None
    neutron_graphs: int | None = None
    not_converted_after_extract: int | None = None
    ratio: float | None = None
    converted_indices: list[int] = field(default_factory=list)
    times_s: dict[str, float] = field(default_factory=dict)
    graphs: dict[str, GraphMemory] = field(default_factory=dict)

    @property
    def has_statistics(self) -> bool:
        return self.converted is not None or self.after_extract is not None or bool(self.graphs)


_KEY_VALUE = re.compile(r"^\s*([A-Za-z][A-Za-z ()]*?)\s*=\s*(.*?)\s*$")


def _int(text: str) -> int | None:
    m = re.match(r"([\d,]+)", text)
    return int(m.group(1).replace(",", "")) if m else None


def parse_console(text: str) -> NeutronConsole:
    """Parse the converter's console output (see the module docstring)."""
    out = NeutronConsole()
    graph: str | None = None
    for raw in text.replace("\r\n", "\n").split("\n"):
        header = re.match(r'^\s*Overall statistics for graph "([^"]*)"', raw)
        if header:
            graph = header.group(1)
            out.graphs.setdefault(graph, GraphMemory())
            continue
        m = _KEY_VALUE.match(raw)
        if not m:
            continue
        key, value = m.group(1).strip(), m.group(2)
        if key == "Input":
            out.input = value
        elif key == "Output":
            out.output = value
        elif key == "Target":
            out.target = value
        elif key == "Number of operators after import":
            out.after_import = _int(value)
        elif key == "Number of operators after optimize":
            out.after_optimize = _int(value)
        elif key == "Number of operators converted":
            out.converted = _int(value)
        elif key == "Number of operators NOT converted":
            if out.after_extract is None:
                out.not_converted = _int(value)
            else:
                out.not_converted_after_extract = _int(value)
        elif key == "Number of operators after extract":
            out.after_extract = _int(value)
        elif key == "Number of Neutron graphs":
            out.neutron_graphs = _int(value)
        elif key == "Operator conversion ratio":
            r = re.search(r"=\s*([\d.]+)\s*$", value)
            out.ratio = float(r.group(1)) if r else None
        elif key == "Operators converted":
            out.converted_indices = [int(i) for i in re.findall(r"\d+", value)]
        elif key.startswith("Time for "):
            t = re.match(r"([\d.]+)", value)
            if t:
                out.times_s[key.removeprefix("Time for ").strip()] = float(t.group(1))
        elif key in ("Total data", "Total weights", "Total size"):
            memory = out.graphs.setdefault(graph or "main", GraphMemory())
            number = _int(value)
            if key == "Total data":
                memory.data = number
            elif key == "Total weights":
                memory.weights = number
            else:
                memory.total = number
    return out
