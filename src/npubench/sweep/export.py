"""Parquet export of stored results: the flat, pandas-friendly columns of the CSV export.

May import ``npubench.errors``, ``npubench.schema`` and ``npubench.store``. pyarrow is imported
only when writing. Columns are those of ``npubench.store.export.flat_row`` (units in the
names: ``inference_us``, ``sram_bytes``, ``energy_uj``) with fixed Arrow types, so every
export reads back with the same dtypes even when a column is all null; stored results add
``id``, ``created_utc`` (a UTC timestamp), ``group_id`` and ``cell_key``.

CSV text cells are guarded against spreadsheet formula injection (``npubench.store.export``:
a leading apostrophe before ``= + - @``, tab, CR); Parquet and JSON keep values as they are.
Exporting nothing is refused (``UsageError``): an empty file would pass for a result.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from npubench.errors import EnvironmentProblem, UsageError
from npubench.outputs import check_output_path
from npubench.schema import BenchResult
from npubench.store import StoredResult, export_csv, export_json, flat_row
from npubench.store.export import FLAT_COLUMNS

INT_COLUMNS = frozenset({"sram_bytes", "flash_bytes", "npu_ops", "cpu_ops", "compiler_cycles"})
STRING_COLUMNS = frozenset(
    {
        "model",
        "target",
        "kind",
        "status",
        "compiler",
        "compiler_version",
        "calibration",
        "optimise",
        "message",
    }
)
STORE_COLUMNS: tuple[str, ...] = ("id", "created_utc", "group_id", "cell_key")
EXPORT_SUFFIXES: tuple[str, ...] = (".csv", ".json", ".parquet")


def _pyarrow() -> Any:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError as e:
        raise EnvironmentProblem(
            f"Parquet export needs pyarrow, which is not installed ({e})",
            "pip install pyarrow, or export to .csv or .json",
        ) from e
    return pa, pq


def arrow_schema(with_store_columns: bool) -> Any:
    pa, _ = _pyarrow()
    fields = []
    if with_store_columns:
        fields += [
            pa.field("id", pa.int64()),
            pa.field("created_utc", pa.timestamp("ms", tz="UTC")),
            pa.field("group_id", pa.string()),
            pa.field("cell_key", pa.string()),
        ]
    for name in FLAT_COLUMNS:
        if name in INT_COLUMNS:
            kind = pa.int64()
        elif name in STRING_COLUMNS:
            kind = pa.string()
        else:
            kind = pa.float64()
        fields.append(pa.field(name, kind))
    return pa.schema(fields)


def _coerce(name: str, value: Any) -> Any:
    if value is None or (value == "" and name not in STRING_COLUMNS):
        return None
    if name in INT_COLUMNS:
        return round(float(value))
    if name in STRING_COLUMNS:
        return str(value)
    return float(value)


def parquet_table(items: Sequence[BenchResult | StoredResult]) -> Any:
    """An Arrow table of results; stored results carry their store columns too."""
    pa, _ = _pyarrow()
    stored = bool(items) and all(isinstance(i, StoredResult) for i in items)
    rows: list[dict[str, Any]] = []
    for item in items:
        result = item.result if isinstance(item, StoredResult) else item
        row = {name: _coerce(name, v) for name, v in flat_row(result).items()}
        if stored and isinstance(item, StoredResult):
            row = {
                "id": item.id,
                "created_utc": datetime.fromisoformat(item.created_utc),
                "group_id": item.group_id,
                "cell_key": item.cell_key,
                **row,
            }
        rows.append(row)
    return pa.Table.from_pylist(rows, schema=arrow_schema(stored))


def export_parquet(items: Iterable[BenchResult | StoredResult], path: Path | str) -> Path:
    """Write results (or stored results) to a Parquet file; returns the path."""
    _, pq = _pyarrow()
    path = Path(path)
    pq.write_table(parquet_table(list(items)), path, compression="zstd")
    return path


def check_export_path(path: Path | str, kind: str = "--export") -> Path:
    """Refuse, before any work, an export path whose format is unknown or that cannot be
    written (``npubench.outputs.check_output_path``); missing folders are created."""
    return check_output_path(path, EXPORT_SUFFIXES, kind)


def write_export(
    items: Sequence[StoredResult], path: Path | str, filters: str = "the filters given"
) -> Path:
    """Export by the file's suffix: .csv and .json (npubench.store.export) or .parquet.

    Zero results raise ``UsageError`` naming ``filters`` and write nothing.
    """
    path = check_export_path(path)
    if not items:
        raise UsageError(
            f"no stored results match {filters}: nothing was written to {path}",
            "check the filters (--model, --target, --kind, --status) and --db; "
            "`npubench results` lists what is stored",
        )
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        return export_parquet(items, path)
    results = [s.result for s in items]
    if suffix == ".csv":
        path.write_text(export_csv(results), encoding="utf-8")
    elif suffix == ".json":
        path.write_text(export_json(results), encoding="utf-8")
    else:
        raise UsageError(
            f"cannot export to {path.name}: unknown format",
            f"name the file {', '.join(EXPORT_SUFFIXES)}",
        )
    return path
