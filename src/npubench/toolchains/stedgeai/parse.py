"""Parser of the text report ST's tools write: ``<name>_analyze_report.txt`` (ST Edge AI Core
``stedgeai analyze``) and ``<name>_generate_report.txt`` (X-CUBE-AI ``stm32ai generate``).

May import nothing from npubench: pure text in, data out, tested on real reports recorded in
``tests/data/stedgeai/`` (X-CUBE-AI 8.0.1 for the STM32H7A3 from the uNPU-Bench study, ST Edge AI
Core 2.2.0 for the STM32N6 with the Neural-ART compiler). Line endings may be CRLF.

The format, as those reports show it (the parts read here; the rest is kept as text):

- line 1: the tool and its version, ``ST Edge AI Core v2.2.0-20266 2adc00962`` or
  ``Neural Network Tools for STM32AI v1.7.0 (STM.ai v8.0.1-19451)``; ``Parameters : <command
  line>`` (``--target``/``--series`` name the target);
- ``Exec/report summary (<command>)``: ``key : value`` lines, among them ``params #``,
  ``input i/n`` / ``output i/n`` (two lines each: name, then items, size, dtype, scale, shape),
  ``macc``, ``weights (ro)`` (read-only bytes: the flash image of the weights),
  ``activations (rw)`` (the activation arena) and ``ram (total)`` (= activations + inputs +
  outputs when these are not allocated in the arena). STM32N6 reports of 2.2.0 have no such block;
- ``Model name - <model>``: one row per layer of the imported model, columns laid out by the
  dashed line under the header (m_id, layer (type, original op), oshape, param/size, macc,
  connected to; X-CUBE-AI adds c_size, c_macc, c_type), then ``model/c-model: macc=a/b ...`` or
  ``model: macc=... weights=...`` (the imported model's own totals);
- ``C-Layers (n)``: one row per generated C kernel (c_id, name, id = the model layer, layer_type,
  macc, rom bytes) followed by its tensor lines; the last line ``macc=N weights=N act=N ram_io=N``;
- STM32N6 with Neural-ART: ``Memory usage information`` (one line per memory pool of the
  ``.mpool`` file: address range, used / size, of which weights and activations, in B/kB/MB with
  3 decimals, kB = 1024 B), ``Used memory ranges`` (the exact address spans used in each pool),
  ``Epochs details`` (``epoch N  HW`` | ``EC`` | ``-SW- ( op )``: the
  NPU runs HW/EC epochs, the Cortex-M55 the software ones), ``Requested memory size by section``
  (text/rodata/data/bss per module, exact bytes; rows ``weights``, ``activations``, ``io``) and
  ``Summary`` (FLASH (ro) / RAM (rw) of the runtime and in total).

No latency or cycle figure appears in any of these reports: the tools estimate none.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

UNITS = {"B": 1, "KB": 1024, "KIB": 1024, "MB": 1024**2, "MIB": 1024**2, "GB": 1024**3}
# Bytes per element of the report's ai_* data types (I/O buffers).
_DTYPE_BYTES = {"ai_i8": 1, "ai_u8": 1, "ai_i16": 2, "ai_u16": 2, "ai_i32": 4, "ai_float": 4}


@dataclass
class TensorInfo:
    """One model input or output as the summary block gives it."""

    name: str
    items: int | None = None
    nbytes: int | None = None
    dtype: str = ""
    shape: str = ""


@dataclass
class ModelLayer:
    """One row of the ``Model name`` table (a layer of the imported model)."""

    m_id: int
    name: str
    type: str
    original: str = ""
    oshape: str = ""
    params: int | None = None
    param_bytes: int | None = None
    macc: int | None = None
    c_type: str = ""  # X-CUBE-AI: the C kernel implementing it (conv2d_oi8[0])


@dataclass
class CLayer:
    """One row of the ``C-Layers`` table (a generated software kernel)."""

    c_id: int
    name: str
    m_id: int | None
    layer_type: str
    macc: int | None
    rom_bytes: int | None


@dataclass
class MemoryPool:
    """One line of ``Memory usage information`` (STM32N6 memory pools)."""

    name: str
    start: int
    end: int
    used_bytes: int  # rounded as the report prints it (3 decimals of kB/MB)
    weights_bytes: int
    activations_bytes: int
    range_bytes: int | None = None  # exact span of its ``Used memory ranges`` (alignment included)

    @property
    def exact_used_bytes(self) -> int:
        """The used span from ``Used memory ranges`` when the report has it, else the rounded
        figure."""
        return self.range_bytes if self.range_bytes is not None else self.used_bytes

    @property
    def size_bytes(self) -> int:
        """The pool's size from its address range (exact, unlike the printed figure)."""
        return self.end - self.start


@dataclass
class Epoch:
    """One line of ``Epochs details``: HW and EC run on the Neural-ART NPU, SW on the CPU."""

    number: int
    kind: str  # "HW", "EC", "SW" (or what else the report prints, upper-cased, dashes removed)
    op: str = ""  # the operator, for software epochs

    @property
    def on_npu(self) -> bool:
        return self.kind in ("HW", "EC")


@dataclass
class StReport:
    """Everything npubench reads from one report."""

    tool_line: str = ""
    tool_version: str | None = None  # "8.0.1-19451", "2.2.0-20266"
    command: str | None = None  # analyze, generate
    parameters: str = ""
    target: str | None = None  # --target / --series / target/series
    summary: dict[str, str] = field(default_factory=dict)
    params: int | None = None
    macc: int | None = None
    weights_bytes: int | None = None
    activations_bytes: int | None = None
    ram_total_bytes: int | None = None
    inputs: list[TensorInfo] = field(default_factory=list)
    outputs: list[TensorInfo] = field(default_factory=list)
    model_layers: list[ModelLayer] = field(default_factory=list)
    model_totals: dict[str, str] = field(default_factory=dict)  # the model(/c-model) footer
    c_layers: list[CLayer] = field(default_factory=list)
    totals: dict[str, int] = field(default_factory=dict)  # last line: macc, weights, act, ram_io
    compiler_version: str | None = None  # the Neural-ART compiler (STM32N6)
    pools: list[MemoryPool] = field(default_factory=list)
    epochs: list[Epoch] = field(default_factory=list)
    epochs_total: int | None = None
    epochs_software: int | None = None
    sections: dict[str, tuple[int, int, int, int]] = field(default_factory=dict)  # text..bss
    footprint: dict[str, int] = field(default_factory=dict)  # Summary: flash/ram rt and total

    @property
    def weights(self) -> int | None:
        """Read-only weight bytes: the summary, else the final totals line, else sections."""
        section = self.sections.get("weights")
        for value in (
            self.weights_bytes,
            self.totals.get("weights"),
            section[1] if section else None,
        ):
            if value is not None:
                return value
        return None

    @property
    def activations(self) -> int | None:
        """Activation-arena bytes: the summary, else the final totals line, else sections."""
        section = self.sections.get("activations")
        for value in (
            self.activations_bytes,
            self.totals.get("act"),
            sum(section[2:]) if section else None,
        ):
            if value is not None:
                return value
        return None

    @property
    def has_content(self) -> bool:
        """Whether anything of the known format was found (else the text is not a report)."""
        return bool(
            self.macc is not None
            or self.totals
            or self.model_layers
            or self.c_layers
            or self.pools
            or self.epochs
        )


def to_int(text: str) -> int:
    """``"203,108"`` -> 203108."""
    return int(text.replace(",", "").strip())


def size_to_bytes(value: str, unit: str) -> int:
    """``("100.086", "kB")`` -> 102488: the report's units are binary (kB = 1024 B)."""
    return round(float(value.replace(",", "")) * UNITS[unit.upper()])


def _lines(text: str) -> list[str]:
    return text.replace("\r\n", "\n").replace("\r", "\n").split("\n")


def _is_rule(line: str) -> bool:
    s = line.strip()
    return len(s) >= 3 and set(s) <= {"-", " "} and "--" in s


def _spans(rule: str) -> list[int]:
    """Start columns of the dash groups of a table's rule line."""
    return [m.start() for m in re.finditer(r"-+", rule)]


def _cells(line: str, starts: list[int]) -> list[str]:
    cells = []
    for i, start in enumerate(starts):
        end = starts[i + 1] if i + 1 < len(starts) else len(line)
        cells.append(line[start:end].strip())
    return cells


def _find(lines: list[str], pattern: str, start: int = 0) -> int | None:
    rx = re.compile(pattern)
    for i in range(start, len(lines)):
        if rx.search(lines[i]):
            return i
    return None


_VERSION_PATTERNS = (r"STM\.ai v(\S+?)\)", r"ST Edge AI Core v(\S+)", r"\bv(\d+\.\d+\.\d+\S*)")


def version_from_line(line: str) -> str | None:
    """The version in the tool's first line (or in ``--version`` output)."""
    for pattern in _VERSION_PATTERNS:
        m = re.search(pattern, line)
        if m:
            return m.group(1)
    return None


def _parse_tensor(name_value: str, detail: str) -> TensorInfo:
    m = re.match(r"'([^']*)'", name_value.strip())
    info = TensorInfo(name=m.group(1) if m else name_value.strip())
    parts = [p.strip() for p in detail.split(",")]
    items = re.match(r"([\d,]+) items", parts[0]) if parts else None
    if items:
        info.items = to_int(items.group(1))
    size = re.match(r"([\d.,]+)\s*(B|KiB|MiB)$", parts[1]) if len(parts) > 1 else None
    info.dtype = next((p for p in parts if p.startswith("ai_")), "")
    shape = re.search(r"\(([\d,]+)\)\s*$", detail)
    info.shape = shape.group(1) if shape else ""
    if info.items is not None and info.dtype in _DTYPE_BYTES:
        info.nbytes = info.items * _DTYPE_BYTES[info.dtype]
    elif size:
        info.nbytes = size_to_bytes(size.group(1), size.group(2))
    return info


def _parse_summary(lines: list[str], report: StReport) -> None:
    head = _find(lines, r"^Exec/report summary \((\w+)\)")
    if head is None:
        return
    m = re.match(r"^Exec/report summary \((\w+)\)", lines[head])
    report.command = report.command or (m.group(1) if m else None)
    pending: tuple[str, str] | None = None  # an input/output whose detail line follows
    for line in lines[head + 1 :]:
        if _is_rule(line) or not line.strip():
            continue
        if ":" not in line:
            if line.startswith(("(*)", "Model name")):
                break
            continue
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if not key:  # the detail line of an input or output
            if pending is not None:
                kind, name = pending
                tensor = _parse_tensor(name, value)
                (report.inputs if kind == "input" else report.outputs).append(tensor)
                pending = None
            continue
        if key.startswith(("Model name", "model/c-model", "model")) and "macc=" in value:
            break
        report.summary[key] = value
        io = re.match(r"(input|output) \d+/\d+$", key)
        if io:
            pending = (io.group(1), value)
            continue
        number = re.match(r"([\d,]+)", value)
        if key == "params #" and number:
            report.params = to_int(number.group(1))
        elif key == "macc" and number:
            report.macc = to_int(number.group(1))
        elif key == "weights (ro)" and number:
            report.weights_bytes = to_int(number.group(1))
        elif key == "activations (rw)" and number:
            report.activations_bytes = to_int(number.group(1))
        elif key == "ram (total)" and number:
            report.ram_total_bytes = to_int(number.group(1))
        elif key == "target/series":
            report.target = report.target or value


_LAYER_NAME = re.compile(r"^(\S+)\s+\(([^,)]*)(?:,\s*([^)]*))?\)")


def _parse_model_table(lines: list[str], report: StReport) -> None:
    head = _find(lines, r"^Model name - ")
    if head is None:
        return
    rule = _find(lines, r"^-{3,}", head)
    if rule is None or rule + 1 >= len(lines):
        return
    header = lines[rule + 1]
    starts = _spans(lines[rule])
    names = [c.lower() for c in _cells(header, starts)]

    def col(cells: list[str], key: str) -> str:
        for i, name in enumerate(names):
            if name.startswith(key) and i < len(cells):
                return cells[i]
        return ""

    current: int | None = None
    for line in lines[rule + 2 :]:
        if re.match(r"^\s*model(/c-model)?:", line):
            for key, value in re.findall(r"(\w+)=(\S+)", line):
                report.model_totals[key] = value
            break
        if _is_rule(line) or not line.strip():
            continue
        cells = _cells(line, starts)
        if cells and cells[0].isdigit():
            current = int(cells[0])
        layer = col(cells, "layer")
        m = _LAYER_NAME.match(layer)
        if current is None or not m:
            continue  # a "connected to" continuation line
        params = col(cells, "param")
        pm = re.match(r"([\d,]+)/([\d,]+)", params)
        macc = col(cells, "macc")
        report.model_layers.append(
            ModelLayer(
                m_id=current,
                name=m.group(1),
                type=m.group(2).strip(),
                original=(m.group(3) or "").strip(),
                oshape=col(cells, "oshape"),
                params=to_int(pm.group(1)) if pm else None,
                param_bytes=to_int(pm.group(2)) if pm else None,
                macc=to_int(macc) if re.fullmatch(r"[\d,]+", macc) else None,
                c_type=col(cells, "c_type"),
            )
        )


def _parse_c_layers(lines: list[str], report: StReport) -> None:
    head = _find(lines, r"^C-Layers \(\d+\)")
    if head is None:
        return
    rule = _find(lines, r"^-{3,}", head)
    if rule is None or rule + 1 >= len(lines):
        return
    starts = _spans(lines[rule])
    names = [c.lower() for c in _cells(lines[rule + 1], starts)]
    index = {key: i for i, key in enumerate(names)}

    def get(cells: list[str], key: str) -> str:
        for name, i in index.items():
            if name.startswith(key) and i < len(cells):
                return cells[i]
        return ""

    for line in lines[rule + 2 :]:
        if not line.strip():
            if report.c_layers:
                break
            continue
        if _is_rule(line):
            continue
        cells = _cells(line, starts)
        if not cells or not cells[0].isdigit():
            continue  # a tensor line of the current c-layer
        macc, rom, m_id = get(cells, "macc"), get(cells, "rom"), get(cells, "id")
        report.c_layers.append(
            CLayer(
                c_id=int(cells[0]),
                name=get(cells, "name"),
                m_id=int(m_id) if m_id.isdigit() else None,
                layer_type=get(cells, "layer_type"),
                macc=to_int(macc) if re.fullmatch(r"[\d,]+", macc) else None,
                rom_bytes=to_int(rom) if re.fullmatch(r"[\d,]+", rom) else None,
            )
        )


_SIZE = r"([\d.,]+)\s*(B|kB|KB|KiB|MB|MiB|GB)"
_POOL = re.compile(
    r"^\s*(\S+)\s+\[(0x[0-9A-Fa-f]+)\s*-\s*(0x[0-9A-Fa-f]+)\]:\s*"
    + _SIZE
    + r"\s*/\s*"
    + _SIZE
    + r".*?weights:\s*"
    + _SIZE
    + r".*?activations:\s*"
    + _SIZE
)
_EPOCH = re.compile(r"^\s*epoch\s+(\d+)\s+(\S+)\s*(?:\(\s*(.*?)\s*\))?\s*$")
_EPOCHS_TOTAL = re.compile(
    r"^Total number of epochs:\s*(\d+)(?: of which (\d+) implemented in software)?"
)
_SECTION_ROW = re.compile(r"^\s*(.+?)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s+([\d,]+)\s*$")


_RANGE = re.compile(r"^\s*(\S+)\s+\[0x[0-9A-Fa-f]+\s*-\s*0x[0-9A-Fa-f]+\]:\s*(.*)$")


def _parse_used_ranges(lines: list[str], report: StReport) -> None:
    head = _find(lines, r"^Used memory ranges")
    if head is None:
        return
    pools = {p.name: p for p in report.pools}
    for line in lines[head + 1 :]:
        if line.startswith("===="):
            break
        m = _RANGE.match(line)
        if not m or m.group(1) not in pools:
            continue
        spans = re.findall(r"(0x[0-9A-Fa-f]+)-(0x[0-9A-Fa-f]+)", m.group(2))
        pools[m.group(1)].range_bytes = sum(int(b, 16) - int(a, 16) for a, b in spans)


def _parse_neural_art(lines: list[str], report: StReport) -> None:
    in_memory = False
    for line in lines:
        m = re.match(r"^Compiler version:\s*(\S+)", line.strip())
        if m:
            report.compiler_version = m.group(1)
            continue
        if line.startswith("Memory usage information"):
            in_memory = True
            continue
        if in_memory:
            pool = _POOL.match(line)
            if pool:
                g = pool.groups()
                report.pools.append(
                    MemoryPool(
                        name=g[0],
                        start=int(g[1], 16),
                        end=int(g[2], 16),
                        used_bytes=size_to_bytes(g[3], g[4]),
                        weights_bytes=size_to_bytes(g[7], g[8]),
                        activations_bytes=size_to_bytes(g[9], g[10]),
                    )
                )
            elif line.startswith("===="):
                in_memory = False
            continue
        m = _EPOCHS_TOTAL.match(line.strip())
        if m:
            report.epochs_total = int(m.group(1))
            report.epochs_software = int(m.group(2)) if m.group(2) else 0
            continue
        epoch = _EPOCH.match(line)
        if epoch and report.epochs_total is not None:
            kind = epoch.group(2).strip("-").upper()
            report.epochs.append(Epoch(int(epoch.group(1)), kind, epoch.group(3) or ""))


def _parse_footprint(lines: list[str], report: StReport) -> None:
    head = _find(lines, r"Requested memory size by section")
    if head is not None:
        for line in lines[head + 1 :]:
            if re.match(r"^\s*Summary", line):
                break
            row = _SECTION_ROW.match(line)
            if row and not row.group(1).strip().startswith("module"):
                name = row.group(1).strip().rstrip("*").strip()
                text, rodata, data, bss = (to_int(row.group(i)) for i in range(2, 6))
                report.sections[name] = (text, rodata, data, bss)
    summary = _find(lines, r"^\s*Summary\b.*target")
    if summary is not None:
        for line in lines[summary + 1 :]:
            rt = re.match(r"^\s*RT total\s+([\d,]+)\s+[\d.]+%\s+([\d,]+)", line)
            total = re.match(r"^\s*TOTAL\s+([\d,]+)\s+([\d,]+)\s*$", line)
            if rt:
                report.footprint["flash_runtime"] = to_int(rt.group(1))
                report.footprint["ram_runtime"] = to_int(rt.group(2))
            elif total:
                report.footprint["flash_total"] = to_int(total.group(1))
                report.footprint["ram_total"] = to_int(total.group(2))


def _parse_totals(lines: list[str], report: StReport) -> None:
    for line in reversed(lines):
        if re.match(r"^\s*macc=[\d,]+\s+weights=", line):
            for key, value in re.findall(r"(\w+)=([\d,]+)", line):
                report.totals[key] = to_int(value)
            return


def parse_report(text: str) -> StReport:
    """Parse one report (see the module docstring). Never raises on unknown content: check
    ``has_content`` to tell a report from other text."""
    lines = _lines(text)
    report = StReport()
    first = next((line.strip() for line in lines if line.strip()), "")
    report.tool_line = first
    if "STM32AI" in first or "Edge AI" in first:
        report.tool_version = version_from_line(first)
    for line in lines[:10]:
        m = re.match(r"^Parameters\s*:\s*(.*)$", line.strip())
        if m:
            report.parameters = m.group(1).strip()
            words = report.parameters.split()
            if words and words[0] in ("analyze", "generate", "validate"):
                report.command = words[0]
            t = re.search(r"--(?:target|series)\s+(\S+)", report.parameters)
            report.target = t.group(1) if t else None
            break
    _parse_summary(lines, report)
    _parse_model_table(lines, report)
    _parse_c_layers(lines, report)
    _parse_neural_art(lines, report)
    _parse_used_ranges(lines, report)
    _parse_footprint(lines, report)
    _parse_totals(lines, report)
    return report
