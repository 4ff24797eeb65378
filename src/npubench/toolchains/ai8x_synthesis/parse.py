"""Readers of what ``ai8xize.py --verbose`` prints: its ``log.txt`` and its console.

May import only the standard library. ai8xize writes, into ``<test-dir>/<prefix>/log.txt``:

- "Per-quadrant configuration" / "Per-layer configuration": one ``Name = [per layer, ...]``
  line per property (processors, channels, dimensions, kernel offset/length/count, bias
  quadrant, ...);
- "ESTIMATED LATENCY": ``Layer N  <cycles> [(est)]`` rows and ``Total <cycles> cycles`` (CNN
  clock cycles; MAX78000 only; ``(est)`` marks streaming layers);
- "SUMMARY OF OPS": ``Hardware: N ops (M macc; ...)`` and one row per layer;
- "RESOURCE USAGE": ``Weight memory: X bytes out of Y bytes total (Z%)`` and ``Bias memory``.

Errors go to the console: ``ERROR:`` followed by e.g. ``Layer 12: Kernel memory exhausted at
processor 0; offset: 196 (0x00c4), needed: 576.``
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any

_CONFIG_LINE = re.compile(r"^([A-Z][A-Za-z0-9 \-()/]*?)\s*=\s*(\[.*\])\s*$")
_LATENCY_ROW = re.compile(r"^Layer\s+(\d+)\s+([\d,]+)(\s*\(est\))?\s*$")
_LATENCY_TOTAL = re.compile(r"^Total\s+([\d,]+)\s+cycles(\s*\(est\))?")
_OPS_TOTAL = re.compile(r"^Hardware:\s+([\d,]+) ops \(([\d,]+) macc;")
_OPS_ROW = re.compile(r"^\s*Layer\s+(\d+):\s+([\d,]+) ops \(([\d,]+) macc;")
_RESOURCE = re.compile(
    r"^(Weight|Bias) memory:\s+([\d,]+) bytes out of ([\d,]+) bytes total \(([\d.]+)%\)"
)
_ERROR_LAYER = re.compile(r"Layer (\d+):\s*(.+)")
_KERNEL_EXHAUSTED = re.compile(
    r"Kernel memory exhausted at processor (\d+); offset: (\d+).*?needed: (\d+)"
)


def _number(text: str) -> int:
    return int(text.replace(",", ""))


def _value(text: str) -> Any:
    """A configuration list: Python literals (hex, None, nested lists), else bare words."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        inner = text.strip()[1:-1]
        return [w.strip() for w in inner.split(",")] if inner.strip() else []


@dataclass
class MemoryFigure:
    used_bytes: int
    capacity_bytes: int
    percent: float


@dataclass
class Ai8xLog:
    """The figures of one ai8xize run's log.txt."""

    device: str | None = None
    config: dict[str, Any] = field(default_factory=dict)  # "Kernel offset" -> [per layer]
    latency: dict[int, int] = field(default_factory=dict)  # layer -> CNN cycles
    latency_estimated: set[int] = field(default_factory=set)  # layers marked "(est)"
    latency_total: int | None = None
    latency_total_estimated: bool = False
    startup_cycles: int | None = None
    macs: dict[int, int] = field(default_factory=dict)
    ops: dict[int, int] = field(default_factory=dict)
    macs_total: int | None = None
    ops_total: int | None = None
    weight_memory: MemoryFigure | None = None
    bias_memory: MemoryFigure | None = None

    @property
    def layer_count(self) -> int:
        return len(self.config.get("Operator", []))

    def per_layer(self, key: str) -> list[Any]:
        return list(self.config.get(key, []))

    def kernel_words_per_processor(self) -> list[int]:
        """The highest kernel column in use on each of the 64 processors."""
        words = [0] * 64
        maps = self.per_layer("Processor map")
        offsets, lengths = self.per_layer("Kernel offset"), self.per_layer("Kernel length")
        for mask, offset, length in zip(maps, offsets, lengths, strict=False):
            if not length:
                continue
            for p in range(64):
                if int(mask) >> p & 1:
                    words[p] = max(words[p], int(offset) + int(length))
        return words

    @property
    def bias_per_quadrant(self) -> list[int]:
        return [int(x) for x in self.config.get("Used bias memory", [])]


def parse_log(text: str) -> Ai8xLog:
    """Parse an ai8xize ``log.txt`` (whole, or the sections named in the module docstring)."""
    log = Ai8xLog()
    section = ""
    lines = text.splitlines()
    if len(lines) > 1 and lines[1].strip().startswith("MAX7800"):
        log.device = lines[1].strip()
    for raw in lines:
        line = raw.rstrip()
        if line in ("ESTIMATED LATENCY", "SUMMARY OF OPS", "RESOURCE USAGE"):
            section = line
            continue
        if line.endswith("configuration:"):
            section = "config"
            continue
        if section == "config":
            m = _CONFIG_LINE.match(line)
            if m:
                key = m.group(1).strip()
                if key in log.config:  # "Expansion threshold" appears for input and output
                    key = f"{key} (output)"
                log.config[key] = _value(m.group(2))
        elif section == "ESTIMATED LATENCY":
            if line.startswith("Startup"):
                log.startup_cycles = _number(line.split()[1])
            elif m := _LATENCY_ROW.match(line):
                log.latency[int(m.group(1))] = _number(m.group(2))
                if m.group(3):
                    log.latency_estimated.add(int(m.group(1)))
            elif m := _LATENCY_TOTAL.match(line):
                log.latency_total = _number(m.group(1))
                log.latency_total_estimated = bool(m.group(2))
        elif section == "SUMMARY OF OPS":
            if m := _OPS_TOTAL.match(line):
                log.ops_total, log.macs_total = _number(m.group(1)), _number(m.group(2))
            elif m := _OPS_ROW.match(line):
                log.ops[int(m.group(1))] = _number(m.group(2))
                log.macs[int(m.group(1))] = _number(m.group(3))
        elif section == "RESOURCE USAGE" and (m := _RESOURCE.match(line)):
            fig = MemoryFigure(_number(m.group(2)), _number(m.group(3)), float(m.group(4)))
            if m.group(1) == "Weight":
                log.weight_memory = fig
            else:
                log.bias_memory = fig
    return log


@dataclass
class Ai8xError:
    """The first error ai8xize printed: its text and, where it names one, the layer."""

    message: str
    layer: int | None = None
    processor: int | None = None
    offset: int | None = None
    needed: int | None = None


def parse_error(console: str) -> Ai8xError | None:
    """The first ``ERROR:`` of ai8xize's console output (its message may be on the next line)."""
    lines = [line.rstrip() for line in console.splitlines()]
    for k, line in enumerate(lines):
        if not line.startswith("ERROR:"):
            continue
        text = line[len("ERROR:") :].strip()
        if not text:
            text = next((x.strip() for x in lines[k + 1 :] if x.strip()), "")
        err = Ai8xError(message=text)
        if m := _ERROR_LAYER.match(text):
            err.layer = int(m.group(1))
        if m := _KERNEL_EXHAUSTED.search(text):
            err.processor, err.offset, err.needed = (int(g) for g in m.groups())
        return err
    return None


def notices(console: str) -> list[str]:
    """ai8xize's NOTICE and WARNING lines, once each, without the yamllint warning."""
    seen: list[str] = []
    for line in console.splitlines():
        line = line.strip()
        wanted = line.startswith(("NOTICE:", "WARNING:")) and "yamllint" not in line
        if wanted and line not in seen:
            seen.append(line)
    return seen
