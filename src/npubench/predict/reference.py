"""The reference measurements, read as rows npubench can predict: board, model, clock, figures.

May import ``npubench.errors``, ``npubench.data`` and the standard library. Two sources ship
in ``npubench/data/reference/`` (copied unchanged from the study's and vendors' public files,
see its README): the Himax WE2 per-stage timings of the study and 39 published measurements of
other boards. ``reference_map.toml`` says which npubench board and model each published row is,
at which clock, and which rows are excluded and why. Every row keeps its id and source, so a
validation table can be traced back to the line it came from.
"""

from __future__ import annotations

import csv
import hashlib
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from npubench import STAGES
from npubench.data import reference_dir
from npubench.errors import NpubenchError

STAGES_CSV = "hxwe2_measured_stages.csv"
PUBLISHED_CSV = "published_measurements.csv"
MAP_TOML = "reference_map.toml"
POWER_TRACE_CSV = "hxwe2_yolov1_size_power_trace.csv"
STUDY_SOURCE = (
    "Millar et al., MobiCom 2025, authors' repository src/npu/himax/results.txt "
    f"(npubench/data/reference/{STAGES_CSV})"
)


class ReferenceError(NpubenchError):
    """A reference file is missing or malformed."""


@dataclass(frozen=True)
class ReferenceRow:
    """One measured (or vendor-measured) figure set for one model on one board."""

    id: str
    board: str
    model: str  # an npubench model spec (zoo:<name>[:params])
    clock_mhz: float  # the board's main clock the figures were taken at
    stages_us: dict[str, float]  # measured stages; "inference" always present
    source: str  # the file (and repository) the figure comes from
    kind: str  # measured / vendor-measured
    options: dict[str, str] = field(default_factory=dict)  # e.g. {"optimise": "Size"}
    cpu_clock_mhz: float | None = None  # the CPU's, where it is not the main clock's ratio
    energy_uj: float | None = None
    power_mw: float | None = None
    clock_assumed: bool = False
    note: str = ""
    exclude: str = ""  # why it is kept out of calibration and validation, if it is

    @property
    def group(self) -> str:
        """The source group of leave-one-source-out cross-validation: one board's data set."""
        return self.board

    @property
    def model_key(self) -> str:
        """The model, for leave-one-model-out (a Vela mode is the same model)."""
        return self.model


def _file(name: str) -> Path:
    path = reference_dir() / name
    if not path.is_file():
        raise ReferenceError(
            f"reference file {path} is missing",
            "reinstall npubench, or point $NPUBENCH_REFERENCE_DIR at a folder holding it",
        )
    return path


def file_digest(name: str) -> str:
    return hashlib.sha256(_file(name).read_bytes()).hexdigest()


def _float(text: str | None) -> float | None:
    if text is None or not text.strip():
        return None
    try:
        return float(text)
    except ValueError:
        return None


def _study_rows() -> list[ReferenceRow]:
    rows = []
    with _file(STAGES_CSV).open(newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            stages = {s: v for s in STAGES if (v := _float(r.get(f"{s}_us"))) is not None}
            if "inference" not in stages:
                raise ReferenceError(f"{STAGES_CSV}: row {r} has no inference time")
            rows.append(
                ReferenceRow(
                    id=f"WE2-{r['model']}-{r['vela_optimise']}",
                    board=r["board"],
                    model=f"zoo:{r['model']}",
                    clock_mhz=float(r["clock_mhz"]),
                    stages_us=stages,
                    source=STUDY_SOURCE,
                    kind="measured",
                    options={"optimise": r["vela_optimise"]},
                    note="npubench's zoo re-implements the study's model (same layers, "
                    "seeded random weights)",
                )
            )
    return rows


def _published_rows(mapping: dict[str, Any]) -> list[ReferenceRow]:
    rows = []
    table = mapping.get("rows", {})
    with _file(PUBLISHED_CSV).open(newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            rid = r["id"]
            m = table.get(rid)
            if m is None:
                raise ReferenceError(
                    f"{PUBLISHED_CSV}: row {rid} is not mapped in {MAP_TOML}",
                    f"add [rows.{rid}] (board, model, clock_mhz) to {MAP_TOML}",
                )
            latency_ms = _float(r["latency_ms"])
            if latency_ms is None:
                raise ReferenceError(f"{PUBLISHED_CSV}: row {rid} has no latency_ms")
            energy = _float(r.get("energy_uj"))
            # µJ per inference over ms per inference = mW during inference.
            power = energy / latency_ms if energy is not None and latency_ms else None
            rows.append(
                ReferenceRow(
                    id=rid,
                    board=str(m["board"]),
                    model=str(m["model"]),
                    clock_mhz=float(m["clock_mhz"]),
                    cpu_clock_mhz=float(m["cpu_clock_mhz"]) if "cpu_clock_mhz" in m else None,
                    stages_us={"inference": latency_ms * 1000.0},
                    source=r["source"],
                    kind=r["kind"],
                    energy_uj=energy,
                    power_mw=power,
                    clock_assumed=bool(m.get("clock_assumed", False)),
                    note=str(m.get("note", "")),
                    exclude=str(m.get("exclude", "")),
                )
            )
    unknown = set(table) - {r.id for r in rows}
    if unknown:
        raise ReferenceError(f"{MAP_TOML} maps rows the data do not have: {sorted(unknown)}")
    return rows


@cache
def reference_rows() -> tuple[ReferenceRow, ...]:
    """Every reference row, study rows first, in file order."""
    try:
        mapping = tomllib.loads(_file(MAP_TOML).read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ReferenceError(f"{MAP_TOML} is not valid TOML: {e}") from e
    return tuple(_study_rows() + _published_rows(mapping))


def usable_rows(board: str | None = None) -> list[ReferenceRow]:
    """The rows calibration and validation use (not excluded), optionally of one board."""
    return [r for r in reference_rows() if not r.exclude and (board is None or r.board == board)]


def data_fingerprint() -> dict[str, str]:
    """Content hashes of every reference file: what a fitted parameter was fitted on."""
    return {
        name: file_digest(name)[:16]
        for name in (STAGES_CSV, PUBLISHED_CSV, MAP_TOML, POWER_TRACE_CSV)
    }
