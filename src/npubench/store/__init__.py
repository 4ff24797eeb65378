"""The results store: every BenchResult with its provenance, in SQLite.

May import ``npubench.errors`` and ``npubench.schema``. Writes are single transactions in WAL
mode with a busy timeout, so two processes writing at once neither corrupt the file nor lose a
row; an unreadable or foreign file is refused, never overwritten. Reads skip (and name) rows
that cannot be read; a damaged file is never written to; ``repair_store`` moves unreadable rows
into a quarantine table. The store's own schema is versioned and migrated
(``npubench.store.migrations``).
"""

from npubench.store.export import csv_safe, export_csv, export_json, flat_row
from npubench.store.migrations import STORE_SCHEMA_VERSION
from npubench.store.sqlite import (
    BadRow,
    BadRowError,
    RepairReport,
    ResultStore,
    StoreDamagedError,
    StoredResult,
    default_db_path,
    describe_bad_rows,
    repair_hint,
    repair_store,
)

__all__ = [
    "STORE_SCHEMA_VERSION",
    "BadRow",
    "BadRowError",
    "RepairReport",
    "ResultStore",
    "StoreDamagedError",
    "StoredResult",
    "csv_safe",
    "default_db_path",
    "describe_bad_rows",
    "export_csv",
    "export_json",
    "flat_row",
    "repair_hint",
    "repair_store",
]
