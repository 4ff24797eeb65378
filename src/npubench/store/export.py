"""Flat, pandas-friendly exports of stored results (units in the column names).

CSV cells are guarded against spreadsheet formula injection: a *text* cell that starts with
``=``, ``+``, ``-``, ``@``, a tab, a carriage return or a newline (a model or target name, a
message, a compiler version from a file the user did not write) gets a leading apostrophe, so
Excel, LibreOffice and Google Sheets show it as text instead of evaluating it
(``=HYPERLINK(...)`` would become a live formula). Numbers are written as numbers: ``-3.5`` in
``net_energy_uj`` stays a number. ``csv_safe`` is the rule, for other CSV writers.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

from npubench import STAGES
from npubench.schema import BenchResult

FLAT_COLUMNS: list[str] = [
    "model",
    "target",
    "kind",
    "status",
    "clock_mhz",
    *[f"{stage}_us" for stage in STAGES],
    "total_us",
    "total_us_low",
    "total_us_high",
    "sram_bytes",
    "flash_bytes",
    "npu_ops",
    "cpu_ops",
    "compiler",
    "compiler_version",
    "compiler_cycles",
    "sqnr_db",
    "top1_agreement",
    "max_abs_error",
    "calibration",
    "average_power_mw",
    "energy_uj",
    "net_energy_uj",
    "optimise",
    "message",
]


def flat_row(r: BenchResult) -> dict[str, Any]:
    """One result as a flat dict with the FLAT_COLUMNS keys."""
    row: dict[str, Any] = {
        "model": r.model,
        "target": r.target,
        "kind": r.kind,
        "status": r.status,
        "clock_mhz": r.clock_mhz,
        **{f"{stage}_us": r.latency_us.get(stage) for stage in STAGES},
        "total_us": r.latency_us.get("total"),
        "total_us_low": r.latency_us_low,
        "total_us_high": r.latency_us_high,
        "sram_bytes": r.memory.get("sram_bytes"),
        "flash_bytes": r.memory.get("flash_bytes"),
        "npu_ops": r.ops.get("npu"),
        "cpu_ops": r.ops.get("cpu"),
        "compiler": r.compiler.get("name"),
        "compiler_version": r.compiler.get("version"),
        "compiler_cycles": r.compiler.get("cycles"),
        "sqnr_db": r.fidelity.sqnr_db,
        "top1_agreement": r.fidelity.top1_agreement,
        "max_abs_error": r.fidelity.max_abs_error,
        "calibration": r.fidelity.calibration,
        "average_power_mw": r.power_mw.get("average"),
        "energy_uj": r.energy_uj.get("total"),
        "net_energy_uj": r.energy_uj.get("net"),
        "optimise": r.options.get("optimise"),
        "message": r.message,
    }
    return row


FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "\t", "\r", "\n")
"""A text cell starting with one of these is read as a formula by spreadsheets."""


def csv_safe(value: Any) -> Any:
    """A CSV cell value that no spreadsheet evaluates: text with a formula prefix gets a
    leading apostrophe; None becomes empty; numbers and other text are unchanged."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def export_csv(results: Iterable[BenchResult]) -> str:
    """The results as CSV, ``FLAT_COLUMNS``, text cells guarded (``csv_safe``)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=FLAT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for r in results:
        writer.writerow({k: csv_safe(v) for k, v in flat_row(r).items()})
    return buf.getvalue()


def export_json(results: Iterable[BenchResult]) -> str:
    return json.dumps([r.to_json() for r in results], indent=2, default=str)
