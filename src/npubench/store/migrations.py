"""The results store's own schema version and the numbered steps that bring an older store up.

May import ``npubench.errors``. A store records its schema in ``meta`` (key ``schema_version``);
this is the version of the *tables*, independent of the result JSON's ``schema_version``
(``npubench.schema.SCHEMA_VERSION``, migrated row by row in ``BenchResult.from_json``).

- Version 1 (npubench up to 0.x, commit 8304f45): ``meta``, ``models``, ``runs``,
  ``stage_metrics`` (``BASE_DDL`` below, kept verbatim).
- Version 2: a ``quarantine`` table, where ``npubench results --repair`` moves rows that cannot
  be read (a corrupted byte, a truncated file) instead of deleting them.

A store opened for writing whose version is older runs every pending step, in order, in one
transaction with the version update: either the store is fully migrated or untouched. A store
opened read-only is read as it is, never migrated (readers handle every version listed here). A
fresh store is built as ``BASE_DDL`` plus every step, so a new store and a migrated one are the
same. Adding a step: append a ``Migration`` with the next version; never edit a released one.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass

STORE_SCHEMA_VERSION = 2
"""The store schema this npubench writes; a store with a higher version needs a newer one."""

BASE_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS models (
    sha256 TEXT PRIMARY KEY,           -- content hash of the int8 model (or source if none)
    name TEXT NOT NULL,
    source_sha256 TEXT,
    details_json TEXT NOT NULL DEFAULT '{}'
);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    uuid TEXT NOT NULL UNIQUE,
    created_utc TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('compiled', 'predicted', 'measured')),
    status TEXT NOT NULL,
    model TEXT NOT NULL,
    model_sha256 TEXT REFERENCES models(sha256),
    target TEXT NOT NULL,
    clock_mhz REAL,
    options_json TEXT NOT NULL,
    provenance_json TEXT NOT NULL,
    result_json TEXT NOT NULL,
    group_id TEXT,                     -- a bench invocation or a sweep
    cell_key TEXT                      -- a sweep cell's identity, for resume
);
CREATE INDEX IF NOT EXISTS runs_model_target ON runs(model, target, kind);
CREATE INDEX IF NOT EXISTS runs_group ON runs(group_id, cell_key);
CREATE TABLE IF NOT EXISTS stage_metrics (
    run_id INTEGER NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
    stage TEXT NOT NULL,
    latency_us REAL,
    power_mw REAL,
    energy_uj REAL,
    PRIMARY KEY (run_id, stage)
);
"""
"""Version 1 of the store, exactly as npubench 8304f45 created it."""


@dataclass(frozen=True)
class Migration:
    """One step: the statements that turn a store of ``version - 1`` into ``version``."""

    version: int
    description: str
    statements: tuple[str, ...]


QUARANTINE_DDL = """
CREATE TABLE IF NOT EXISTS quarantine (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id INTEGER,                    -- the row's id in runs (NULL if it could not be read)
    quarantined_utc TEXT NOT NULL,
    problem TEXT NOT NULL,             -- why the row could not be read
    columns_json TEXT NOT NULL         -- every column that could be read; undecodable text as hex
)
"""

MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        2,
        "a quarantine table for rows that cannot be read (npubench results --repair)",
        (QUARANTINE_DDL,),
    ),
)


def _statements(ddl: str) -> list[str]:
    return [s for s in (part.strip() for part in ddl.split(";")) if s]


def pending(version: int) -> list[Migration]:
    """The steps a store at ``version`` still needs, in order."""
    return [m for m in MIGRATIONS if m.version > version]


def store_version(conn: sqlite3.Connection) -> int:
    """The schema version recorded in a store (1 for a store without the ``meta`` row)."""
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if "meta" not in tables:
        return 1
    row = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
    if row is None:
        return 1
    try:
        return int(str(row[0]))
    except ValueError:
        return 0  # unreadable: the caller treats the store as damaged


def create_fresh(conn: sqlite3.Connection) -> None:
    """Build the current schema in an empty store (inside the caller's transaction)."""
    for statement in _statements(BASE_DDL):
        conn.execute(statement)
    for migration in MIGRATIONS:
        for statement in migration.statements:
            conn.execute(statement)
    conn.execute(
        "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)", (str(STORE_SCHEMA_VERSION),)
    )


def migrate(conn: sqlite3.Connection, version: int) -> list[Migration]:
    """Run every pending step from ``version`` (inside the caller's transaction); the steps run.

    The caller holds the write transaction (``BEGIN IMMEDIATE``) and commits or rolls back, so
    the steps and the new version land together or not at all.
    """
    steps = pending(version)
    for migration in steps:
        for statement in migration.statements:
            conn.execute(statement)
    if steps:
        conn.execute(
            "INSERT OR REPLACE INTO meta VALUES ('schema_version', ?)",
            (str(STORE_SCHEMA_VERSION),),
        )
    return steps
