"""SQLite implementation of the results store."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from platformdirs import user_data_dir

from npubench import STAGES
from npubench.errors import ExitStatus, StoreError
from npubench.schema import KINDS, SCHEMA_VERSION, BenchResult


class StoreUsageError(StoreError):
    """The store path the user gave is wrong: missing, not a store, not writable (exit 2)."""

    exit_code = ExitStatus.USAGE


class StoreEnvironmentError(StoreError):
    """The store needs another npubench than this one (exit 3)."""

    exit_code = ExitStatus.ENVIRONMENT


DB_ENV = "NPUBENCH_DB"
_APP_ID = 0x4E50_4231  # "NPB1": marks a file as an npubench store (PRAGMA application_id)

_SCHEMA = """
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


def default_db_path() -> Path:
    env = os.environ.get(DB_ENV)
    if env:
        return Path(env)
    return Path(user_data_dir("npubench")) / "results.sqlite"


@dataclass
class StoredResult:
    id: int
    uuid: str
    created_utc: str
    group_id: str | None
    cell_key: str | None
    result: BenchResult


class ResultStore:
    """Open (creating if needed) a results store at ``path``.

    ``readonly`` opens an existing store for reading only: nothing is created or written, and
    a store in a read-only location can still be listed and reported.
    """

    def __init__(self, path: Path | str | None = None, readonly: bool = False) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        self.readonly = readonly
        if readonly:
            if not self.path.is_file():
                raise StoreUsageError(
                    f"there is no results store at {self.path}",
                    "run `npubench bench` (or predict, measure, sweep) first, or check --db",
                )
        else:
            self._check_location()
        try:
            if readonly:
                uri = f"{self.path.resolve().as_uri()}?mode=ro"
                self._conn = sqlite3.connect(uri, uri=True, timeout=60.0, isolation_level=None)
            else:
                self._conn = sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
            self._conn.row_factory = sqlite3.Row
            self._conn.execute("PRAGMA busy_timeout = 60000")
            # One read transaction: a store another process is creating right now is seen either
            # before (no tables) or after (tables and our application id), never half made.
            self._conn.execute("BEGIN")
            app_id = self._conn.execute("PRAGMA application_id").fetchone()[0]
            tables = {
                r[0]
                for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
            self._conn.execute("COMMIT")
        except sqlite3.DatabaseError as e:
            raise StoreUsageError(
                f"{self.path} is not a readable npubench store ({e})",
                "point --db at another file; this one was left untouched",
            ) from e
        if tables and app_id != _APP_ID:
            raise StoreUsageError(
                f"{self.path} is an SQLite file but not an npubench store",
                "point --db at a new file; this one was left untouched",
            )
        if readonly:
            if not tables:
                raise StoreUsageError(
                    f"{self.path} is an empty store", "run `npubench bench` first"
                )
            return
        self._init_schema(fresh=not tables)

    def _check_location(self) -> None:
        parent = self.path.parent
        if self.path.exists() and self.path.is_dir():
            raise StoreUsageError(
                f"--db {self.path} is a directory", "give a file path, e.g. results.sqlite"
            )
        try:
            parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreUsageError(
                f"cannot create the folder {parent} for the store: {e.strerror}",
                "choose a writable location with --db or NPUBENCH_DB",
            ) from e
        target = self.path if self.path.exists() else parent
        if not os.access(target, os.W_OK):
            raise StoreUsageError(
                f"the store {self.path} is not writable",
                "choose a writable location with --db or NPUBENCH_DB",
            )

    def _init_schema(self, fresh: bool) -> None:
        with self._write() as c:
            if fresh:
                c.execute(f"PRAGMA application_id = {_APP_ID}")
            for statement in filter(str.strip, _SCHEMA.split(";")):
                c.execute(statement)
            row = c.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()
            if row is None:
                c.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
            elif int(row[0]) > SCHEMA_VERSION:
                raise StoreEnvironmentError(
                    f"{self.path} was written by a newer npubench (schema {row[0]})",
                    "upgrade npubench to read it",
                )
        # WAL is an optimisation (readers don't block the writer); rollback journals are
        # just as atomic, so a file system without WAL support is fine.
        with contextlib.suppress(sqlite3.OperationalError):
            self._conn.execute("PRAGMA journal_mode = WAL")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One atomic write transaction (BEGIN IMMEDIATE takes the write lock up front)."""
        try:
            self._conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as e:
            raise StoreError(
                f"cannot write to {self.path}: {e}",
                "another process may hold it for too long; retry",
            ) from e
        try:
            yield self._conn
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        else:
            self._conn.execute("COMMIT")

    def close(self) -> None:
        self._conn.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ---------------------------------------------------------------------------

    def add(
        self,
        result: BenchResult,
        group_id: str | None = None,
        cell_key: str | None = None,
        model_details: dict[str, Any] | None = None,
    ) -> int:
        """Store one result with its stage metrics, all or nothing. Returns its id."""
        if result.kind not in KINDS:
            raise StoreError(f"unknown result kind {result.kind!r}", f"use one of {KINDS}")
        data = result.to_json()
        model_sha = result.provenance.get("model_sha256")
        try:
            with self._write() as c:
                if model_sha:
                    c.execute(
                        "INSERT OR IGNORE INTO models(sha256, name, source_sha256, details_json) "
                        "VALUES (?, ?, ?, ?)",
                        (
                            model_sha,
                            result.model,
                            result.provenance.get("source_sha256"),
                            json.dumps(model_details or {}, sort_keys=True),
                        ),
                    )
                cur = c.execute(
                    "INSERT INTO runs(uuid, created_utc, kind, status, model, model_sha256, target,"
                    " clock_mhz, options_json, provenance_json, result_json, group_id, cell_key)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        uuid.uuid4().hex,
                        datetime.now(UTC).isoformat(timespec="seconds"),
                        result.kind,
                        result.status,
                        result.model,
                        model_sha,
                        result.target,
                        result.clock_mhz,
                        json.dumps(result.options, sort_keys=True, default=str),
                        json.dumps(result.provenance, sort_keys=True, default=str),
                        json.dumps(data, default=str),
                        group_id,
                        cell_key,
                    ),
                )
                run_id = int(cur.lastrowid or 0)
                for stage in (*STAGES, "total"):
                    c.execute(
                        "INSERT INTO stage_metrics(run_id, stage, latency_us, power_mw, energy_uj)"
                        " VALUES (?,?,?,?,?)",
                        (
                            run_id,
                            stage,
                            result.latency_us.get(stage),
                            result.power_mw.get(stage),
                            result.energy_uj.get(stage),
                        ),
                    )
        except sqlite3.DatabaseError as e:
            raise StoreError(
                f"could not write the result to {self.path}: {e}",
                "nothing was written; retry, or use another --db",
            ) from e
        return run_id

    # -- reading ---------------------------------------------------------------------------

    def query(
        self,
        model: str | None = None,
        target: str | None = None,
        kind: str | None = None,
        status: str | None = None,
        group_id: str | None = None,
        latest: bool = False,
        limit: int | None = None,
    ) -> list[StoredResult]:
        """Results matching every given filter, newest first.

        ``latest`` keeps only the newest result per (model, target, kind, options).
        """
        if limit is not None and limit < 1:
            raise StoreUsageError(f"--limit must be at least 1, got {limit}")
        where, args = [], []
        for column, value in (
            ("model", model),
            ("target", target),
            ("kind", kind),
            ("status", status),
            ("group_id", group_id),
        ):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        sql = "SELECT * FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC"
        rows = self._conn.execute(sql, args).fetchall()
        out: list[StoredResult] = []
        seen: set[tuple[str, ...]] = set()
        for row in rows:
            if latest:
                key = (row["model"], row["target"], row["kind"], row["options_json"])
                if key in seen:
                    continue
                seen.add(key)
            out.append(
                StoredResult(
                    id=row["id"],
                    uuid=row["uuid"],
                    created_utc=row["created_utc"],
                    group_id=row["group_id"],
                    cell_key=row["cell_key"],
                    result=BenchResult.from_json(json.loads(row["result_json"])),
                )
            )
            if limit is not None and len(out) >= limit:
                break
        return out

    def cell_keys(self, group_id: str) -> set[str]:
        """Cell keys already stored for a group (sweep resume)."""
        rows = self._conn.execute(
            "SELECT DISTINCT cell_key FROM runs WHERE group_id = ? AND cell_key IS NOT NULL",
            (group_id,),
        ).fetchall()
        return {r[0] for r in rows}

    def count(self) -> int:
        return int(self._conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0])
