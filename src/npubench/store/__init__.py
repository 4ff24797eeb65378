"""The results store: every BenchResult with its provenance, in SQLite.

May import ``npubench.errors`` and ``npubench.schema``. Writes are single transactions in WAL
mode with a busy timeout, so two processes writing at once neither corrupt the file nor lose a
row; an unreadable or foreign file is refused, never overwritten.
"""

from npubench.store.export import export_csv, export_json, flat_row
from npubench.store.sqlite import ResultStore, StoredResult, default_db_path

__all__ = [
    "ResultStore",
    "StoredResult",
    "default_db_path",
    "export_csv",
    "export_json",
    "flat_row",
]
