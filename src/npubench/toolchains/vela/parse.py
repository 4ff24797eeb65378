"""Parsers for what Vela 5.2.0 writes: the summary CSV, the per-layer CSV and its console report.

May import ``npubench.errors`` and ``npubench.toolchains.base``. Pure text in, data out, so the
parsers can be tested on recorded real Vela output (``tests/data/vela/``).

Units as Vela writes them: ``*_memory_used`` and ``arena_cache_size`` in KiB, ``core_clock`` in
Hz, ``inference_time`` in seconds, cycles in NPU cycles."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from npubench.errors import CompilerError
from npubench.toolchains.base import LayerReport

# Vela's names for its memory areas in the summary CSV ("<area>_memory_used").
MEMORY_AREAS = ("sram", "dram", "on_chip_flash", "off_chip_flash")

CPU_REASON_DEFAULT = "not supported on the NPU by Vela; runs on the CPU (not timed by Vela)"


@dataclass
class VelaSummary:
    """One row of ``<name>_summary_<system config>.csv``."""

    accelerator: str
    system_config: str
    memory_mode: str
    core_clock_hz: float
    arena_cache_size_bytes: int
    cycles_npu: int
    cycles_total: int
    inference_time_s: float
    memory_used_bytes: dict[str, int]  # by Vela area: sram, dram, on_chip_flash, off_chip_flash
    original_weights_bytes: int
    encoded_weights_bytes: int
    nn_macs: int
    passes: int


@dataclass
class VelaConsole:
    """What only Vela's console report says: operator counts and why ops stay on the CPU."""

    npu_ops: int | None = None
    cpu_ops: int | None = None
    cpu_reasons: dict[str, str] = field(default_factory=dict)  # by output tensor name


def _kib_to_bytes(text: str) -> int:
    return round(float(text) * 1024)


def parse_summary_csv(text: str) -> VelaSummary:
    """Parse Vela's summary CSV (a header and one data row)."""
    rows = list(csv.DictReader(io.StringIO(text)))
    if len(rows) != 1:
        raise CompilerError(
            f"Vela's summary CSV has {len(rows)} data rows, expected 1",
            "re-run the compile; if it persists, report the Vela version",
        )
    row = rows[0]
    try:
        return VelaSummary(
            accelerator=row["accelerator_configuration"],
            system_config=row["system_config"],
            memory_mode=row["memory_mode"],
            core_clock_hz=float(row["core_clock"]),
            arena_cache_size_bytes=_kib_to_bytes(row["arena_cache_size"]),
            cycles_npu=round(float(row["cycles_npu"])),
            cycles_total=round(float(row["cycles_total"])),
            inference_time_s=float(row["inference_time"]),
            memory_used_bytes={a: _kib_to_bytes(row[f"{a}_memory_used"]) for a in MEMORY_AREAS},
            original_weights_bytes=round(float(row["total_original_weights"])),
            encoded_weights_bytes=round(float(row["total_npu_encoded_weights"])),
            nn_macs=round(float(row["nn_macs"])),
            passes=round(float(row["passes_before_fusing"])),
        )
    except (KeyError, ValueError) as e:
        raise CompilerError(
            f"Vela's summary CSV lacks or garbles a field: {e}",
            "npubench reads the columns of Vela 5.2.0; install ethos-u-vela==5.2.0",
        ) from e


def parse_console(text: str) -> VelaConsole:
    """Operator counts ("CPU operators = N (..%)") and the per-operator CPU-placement reasons."""
    out = VelaConsole()
    if m := re.search(r"^CPU operators = (\d+)", text, re.M):
        out.cpu_ops = int(m.group(1))
    if m := re.search(r"^NPU operators = (\d+)", text, re.M):
        out.npu_ops = int(m.group(1))
    # A warning block: "Warning (supported operators) operator: OP, ofm: 'NAME'" then
    # "Reason: ..." and maybe more detail lines, up to a blank line.
    pattern = re.compile(
        r"^Warning \(supported operators\) operator: (?P<op>[^,]+), ofm: '(?P<ofm>.*)'\n"
        r"(?P<body>(?:.+\n?)*)",
        re.M,
    )
    for m in pattern.finditer(text):
        body = " ".join(line.strip() for line in m.group("body").splitlines() if line.strip())
        body = body.removeprefix("Reason: ")
        out.cpu_reasons.setdefault(m.group("ofm"), f"{m.group('op')}: {body}")
    return out


def parse_per_layer_csv(text: str, console: VelaConsole | None = None) -> list[LayerReport]:
    """One LayerReport per row of ``<name>_per-layer.csv`` (Vela's operators after lowering).

    ``op`` is the original TFLite operator; a row Vela lowered to another NPU operation (Softmax
    into Sub/Mul/..., fused activations) says so in ``reason``.
    """
    console = console or VelaConsole()
    layers: list[LayerReport] = []
    for index, row in enumerate(csv.DictReader(io.StringIO(text))):
        try:
            original = row["Original Operator"]
            lowered = row["NNG Operator"]
            target = row["Target"].strip().upper()
            name = row["Name"]
            cycles = float(row["Op Cycles"])
            macs = round(float(row["MAC Count"]))
        except (KeyError, ValueError) as e:
            raise CompilerError(
                f"Vela's per-layer CSV lacks or garbles a field in row {index}: {e}",
                "npubench reads the columns of Vela 5.2.0; install ethos-u-vela==5.2.0",
            ) from e
        if target == "NPU":
            reason = "" if lowered == original else f"lowered to NPU {lowered}"
            layers.append(LayerReport(index, name, original, "npu", reason, cycles, macs))
        else:
            reason = console.cpu_reasons.get(name, CPU_REASON_DEFAULT)
            if name in console.cpu_reasons:
                reason += " (runs on the CPU, not timed by Vela)"
            # Vela estimates nothing for CPU operators: cycles stay unknown, not zero.
            layers.append(LayerReport(index, name, original, "cpu", reason, None, macs or None))
    return layers


def count_ops(layers: list[LayerReport], console: VelaConsole) -> dict[str, int]:
    """Operators on the NPU and the CPU, as Vela counts them (its console), else from the rows."""
    if console.npu_ops is not None and console.cpu_ops is not None:
        return {"npu": console.npu_ops, "cpu": console.cpu_ops}
    return {
        "npu": sum(1 for layer in layers if layer.placement == "npu"),
        "cpu": sum(1 for layer in layers if layer.placement == "cpu"),
    }
