"""SQLite implementation of the results store.

Reading survives damage: a row whose bytes were corrupted (text that is not UTF-8, JSON that
does not parse or does not match the result schema, a page the file lost) is skipped and
reported as a ``BadRow`` naming its id, and every other row is still returned
(``ResultStore.bad_rows`` after each query; ``on_bad="raise"`` raises instead). Writing refuses
a damaged file: opening a store for writing runs ``PRAGMA quick_check`` and raises
``StoreDamagedError`` with the repair command. ``repair_store`` moves unreadable rows into the
``quarantine`` table (and rebuilds a file whose pages are damaged, keeping the original beside
it), so nothing is ever deleted.

A store in a read-only folder is readable: WAL mode needs a ``-shm`` file beside the store, so
when the folder cannot hold one the store is opened ``immutable`` (or, if an uncheckpointed
``-wal`` is present, read from a private copy), never modified.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from platformdirs import user_data_dir

from npubench import STAGES
from npubench.errors import ExitStatus, StoreError
from npubench.schema import KINDS, BenchResult
from npubench.store import migrations
from npubench.store.migrations import STORE_SCHEMA_VERSION


class StoreUsageError(StoreError):
    """The store path the user gave is wrong: missing, not a store, not writable (exit 2)."""

    exit_code = ExitStatus.USAGE


class StoreEnvironmentError(StoreError):
    """The store needs another npubench than this one (exit 3)."""

    exit_code = ExitStatus.ENVIRONMENT


class StoreDamagedError(StoreError):
    """The store file is damaged: it is not written to (exit 1); ``results --repair`` fixes it."""


class BadRowError(StoreError):
    """A row cannot be read (``query(on_bad="raise")``); ``.bad`` names it."""

    def __init__(self, bad: BadRow, path: Path) -> None:
        super().__init__(
            f"{path}: row {bad.label} cannot be read: {bad.problem}", repair_hint(path)
        )
        self.bad = bad


DB_ENV = "NPUBENCH_DB"
_APP_ID = 0x4E50_4231  # "NPB1": marks a file as an npubench store (PRAGMA application_id)
_RUN_COLUMNS = (
    "id",
    "uuid",
    "created_utc",
    "kind",
    "status",
    "model",
    "model_sha256",
    "target",
    "clock_mhz",
    "options_json",
    "provenance_json",
    "result_json",
    "group_id",
    "cell_key",
)


def default_db_path() -> Path:
    env = os.environ.get(DB_ENV)
    if env:
        return Path(env)
    return Path(user_data_dir("npubench")) / "results.sqlite"


def repair_hint(path: Path) -> str:
    return (
        f"run `npubench results --repair --db {path}` to move the unreadable rows into the "
        "store's quarantine table (nothing is deleted), or restore the file from a backup"
    )


@dataclass
class StoredResult:
    id: int
    uuid: str
    created_utc: str
    group_id: str | None
    cell_key: str | None
    result: BenchResult


@dataclass(frozen=True)
class BadRow:
    """A row that cannot be read: its id (None when not even that is known) and why."""

    id: int | None
    problem: str

    @property
    def label(self) -> str:
        return "?" if self.id is None else str(self.id)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "problem": self.problem}


def describe_bad_rows(bad: list[BadRow], limit: int = 5) -> str:
    """``row 7: ...; row 9: ...`` for a warning line (the first ``limit`` rows)."""
    shown = "; ".join(f"row {b.label}: {b.problem}" for b in bad[:limit])
    return shown + (f"; and {len(bad) - limit} more" if len(bad) > limit else "")


class _Undecodable(bytes):
    """A TEXT value whose bytes are not UTF-8 (a corrupted byte): kept raw, never decoded."""


def _text_factory(raw: bytes) -> str | _Undecodable:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return _Undecodable(raw)


class _RowProblem(Exception):
    pass


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_result(r: BenchResult) -> None:
    """The fields every reader relies on have their types (a mangled JSON can parse)."""
    for name in ("model", "target", "status", "message"):
        if not isinstance(getattr(r, name), str):
            raise _RowProblem(f"result field {name!r} is not text")
    if r.kind not in KINDS:
        raise _RowProblem(f"result kind {r.kind!r} is not one of {', '.join(KINDS)}")
    for name in ("latency_us", "power_mw", "energy_uj", "memory", "ops", "compiler"):
        value = getattr(r, name)
        if not isinstance(value, dict):
            raise _RowProblem(f"result field {name!r} is not an object")
    for name in ("latency_us", "power_mw", "energy_uj", "memory"):
        for key, value in getattr(r, name).items():
            if value is not None and not _is_number(value):
                raise _RowProblem(f"result field {name}.{key} is not a number: {value!r}")
    for name in ("latency_us_low", "latency_us_high", "clock_mhz"):
        value = getattr(r, name)
        if value is not None and not _is_number(value):
            raise _RowProblem(f"result field {name!r} is not a number: {value!r}")
    for name in ("options", "provenance", "details"):
        if not isinstance(getattr(r, name), dict):
            raise _RowProblem(f"result field {name!r} is not an object")


def decode_row(row: dict[str, Any]) -> StoredResult:
    """A stored row as a result; raises ``_RowProblem`` naming what is wrong with it."""
    for key, value in row.items():
        if isinstance(value, _Undecodable):
            raise _RowProblem(f"column {key} holds bytes that are not UTF-8 text")
    if not isinstance(row.get("id"), int):
        raise _RowProblem("the id is not an integer")
    for key in ("uuid", "created_utc", "result_json"):
        if not isinstance(row.get(key), str):
            raise _RowProblem(f"column {key} is not text")
    for key in ("group_id", "cell_key"):
        if row.get(key) is not None and not isinstance(row[key], str):
            raise _RowProblem(f"column {key} is not text")
    try:
        data = json.loads(row["result_json"])
    except ValueError as e:
        raise _RowProblem(f"result_json is not valid JSON ({e})") from None
    try:
        result = BenchResult.from_json(data)
    except ValueError as e:  # ResultSchemaError
        raise _RowProblem(f"result_json: {e}") from None
    _check_result(result)
    return StoredResult(
        id=row["id"],
        uuid=row["uuid"],
        created_utc=row["created_utc"],
        group_id=row.get("group_id"),
        cell_key=row.get("cell_key"),
        result=result,
    )


class ResultStore:
    """Open (creating if needed) a results store at ``path``.

    ``readonly`` opens an existing store for reading only: nothing is created, migrated or
    written, and a store in a read-only location can still be listed and reported. Opening
    for writing migrates an older store (``npubench.store.migrations``) and refuses a damaged
    one (``StoreDamagedError``).
    """

    def __init__(self, path: Path | str | None = None, readonly: bool = False) -> None:
        self.path = Path(path) if path is not None else default_db_path()
        self.readonly = readonly
        self.bad_rows: list[BadRow] = []
        """The rows the last query skipped because they cannot be read."""
        self.schema_version = STORE_SCHEMA_VERSION
        self.migrated: list[migrations.Migration] = []
        self.read_from: str = "file"
        """How a read-only store was opened: file, immutable or copy (read-only folder)."""
        self._copy_dir: Path | None = None
        if readonly:
            if not self.path.is_file():
                raise StoreUsageError(
                    f"there is no results store at {self.path}",
                    "run `npubench bench` (or predict, measure, sweep) first, or check --db",
                )
        else:
            self._check_location()
        self.damaged = False
        """Opened for salvage: the file's structure is damaged (read-only only)."""
        try:
            if readonly:
                self._conn = self._connect_readonly()
            else:
                self._conn = self._configure(
                    sqlite3.connect(self.path, timeout=60.0, isolation_level=None)
                )
            app_id, tables = self._header()
        except sqlite3.DatabaseError as e:
            self._close_quietly()
            app_id, tables = self._open_damaged(e)
        if tables and app_id != _APP_ID:
            self._close_quietly()
            raise StoreUsageError(
                f"{self.path} is an SQLite file but not an npubench store",
                "point --db at a new file; this one was left untouched",
            )
        if readonly and not tables:
            self._close_quietly()
            raise StoreUsageError(f"{self.path} is an empty store", "run `npubench bench` first")
        try:
            if tables:
                self.schema_version = self._version(tables)
            if readonly:
                return
            if tables:
                self._refuse_damaged()
            self._init_schema(fresh=not tables)
        except StoreError:
            raise
        except sqlite3.DatabaseError as e:
            self._close_quietly()
            raise StoreDamagedError(
                f"{self.path} is damaged ({e}): nothing was written to it",
                repair_hint(self.path),
            ) from e

    # -- opening ---------------------------------------------------------------------------

    @staticmethod
    def _configure(conn: sqlite3.Connection) -> sqlite3.Connection:
        conn.row_factory = sqlite3.Row
        conn.text_factory = _text_factory
        conn.execute("PRAGMA busy_timeout = 60000")
        return conn

    def _header(self) -> tuple[int, set[str]]:
        # One read transaction: a store another process is creating right now is seen either
        # before (no tables) or after (tables and our application id), never half made.
        self._conn.execute("BEGIN")
        try:
            app_id = self._conn.execute("PRAGMA application_id").fetchone()[0]
            tables = {
                str(r[0])
                for r in self._conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
        finally:
            self._conn.execute("COMMIT")
        return int(app_id), tables

    def _open_damaged(self, error: sqlite3.DatabaseError) -> tuple[int, set[str]]:
        """An SQLite file that cannot even be opened normally (a truncated store: its header
        counts pages the file no longer has): read-only with ``writable_schema``, which makes
        SQLite use the pages that are there. Refused for writing (``StoreDamagedError``)."""
        not_readable = StoreUsageError(
            f"{self.path} is not a readable npubench store ({error})",
            "point --db at another file; this one was left untouched",
        )
        try:
            with open(self.path, "rb") as f:
                is_sqlite = f.read(16) == b"SQLite format 3\x00"
        except OSError:
            is_sqlite = False
        if not is_sqlite:
            raise not_readable from error
        try:
            uri = f"{self.path.resolve().as_uri()}?mode=ro"
            if not os.access(self.path.resolve().parent, os.W_OK):
                uri += "&immutable=1"
            conn = self._configure(
                sqlite3.connect(uri, uri=True, timeout=60.0, isolation_level=None)
            )
            conn.execute("PRAGMA writable_schema = ON")  # reads only: the connection is ro
            self._conn = conn
            app_id, tables = self._header()
        except sqlite3.DatabaseError:
            self._close_quietly()
            raise not_readable from error
        if app_id != _APP_ID or "runs" not in tables:
            self._close_quietly()
            raise not_readable from error
        if not self.readonly:
            self._close_quietly()
            raise StoreDamagedError(
                f"{self.path} is damaged ({error}): nothing was written to it",
                repair_hint(self.path),
            ) from error
        self.damaged = True
        return app_id, tables

    def _connect_readonly(self) -> sqlite3.Connection:
        """``mode=ro``; in a folder that cannot hold the WAL index, immutable or a private copy."""
        uri = self.path.resolve().as_uri()
        folder = self.path.resolve().parent
        if os.access(folder, os.W_OK):
            conn = self._configure(
                sqlite3.connect(f"{uri}?mode=ro", uri=True, timeout=60.0, isolation_level=None)
            )
            try:
                conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
                return conn
            except sqlite3.OperationalError as e:
                conn.close()
                if "unable to open" not in str(e) and "readonly" not in str(e):
                    raise
        wal = self.path.with_name(self.path.name + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            # Rows not yet checkpointed live in the -wal: immutable would not see them.
            self._copy_dir = Path(tempfile.mkdtemp(prefix="npubench-store-"))
            copy = self._copy_dir / self.path.name
            shutil.copy2(self.path, copy)
            shutil.copy2(wal, copy.with_name(copy.name + "-wal"))
            self.read_from = "copy"
            return self._configure(
                sqlite3.connect(copy, timeout=60.0, isolation_level=None)  # a private copy
            )
        self.read_from = "immutable"
        return self._configure(
            sqlite3.connect(
                f"{uri}?mode=ro&immutable=1", uri=True, timeout=60.0, isolation_level=None
            )
        )

    def _version(self, tables: set[str]) -> int:
        try:
            version = migrations.store_version(self._conn)
        except sqlite3.DatabaseError:
            if not self.readonly:
                raise
            # The page holding meta is damaged: the tables tell the version.
            self.damaged = True
            return 2 if "quarantine" in tables else 1
        if version > STORE_SCHEMA_VERSION:
            self._close_quietly()
            raise StoreEnvironmentError(
                f"{self.path} was written by a newer npubench (store schema {version}, this "
                f"npubench reads up to {STORE_SCHEMA_VERSION})",
                "upgrade npubench to read it",
            )
        if version < 1:
            self._close_quietly()
            raise StoreDamagedError(
                f"{self.path}: the store's schema version is unreadable", repair_hint(self.path)
            )
        return version

    def _refuse_damaged(self) -> None:
        try:
            problems = [str(r[0]) for r in self._conn.execute("PRAGMA quick_check").fetchall()]
        except sqlite3.DatabaseError as e:
            problems = [str(e)]
        if problems != ["ok"]:
            self._close_quietly()
            raise StoreDamagedError(
                f"{self.path} is damaged ({'; '.join(problems[:3])}): nothing was written to it",
                repair_hint(self.path),
            )

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
        version = self.schema_version
        try:
            with self._write() as c:
                if fresh:
                    c.execute(f"PRAGMA application_id = {_APP_ID}")
                    migrations.create_fresh(c)
                else:
                    # Re-read inside the write lock: another process may have migrated.
                    version = migrations.store_version(c)
                    self.migrated = migrations.migrate(c, version)
        except sqlite3.DatabaseError as e:
            self._close_quietly()
            what = "creating" if fresh else f"migrating it from schema {version} to"
            raise StoreError(
                f"{self.path}: {what} store schema {STORE_SCHEMA_VERSION} failed ({e}); the "
                "transaction was rolled back, the store is as it was",
                "report this as an npubench bug; the store can still be read by this version",
            ) from e
        self.schema_version = STORE_SCHEMA_VERSION
        # WAL is an optimisation (readers don't block the writer); rollback journals are
        # just as atomic, so a file system without WAL support is fine.
        with contextlib.suppress(sqlite3.OperationalError):
            self._conn.execute("PRAGMA journal_mode = WAL")

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One atomic write transaction (BEGIN IMMEDIATE takes the write lock up front)."""
        if self.readonly:
            raise StoreError(f"{self.path} is open read-only", "open it without readonly=True")
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

    def _close_quietly(self) -> None:
        conn = getattr(self, "_conn", None)
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
        if self._copy_dir is not None:
            shutil.rmtree(self._copy_dir, ignore_errors=True)
            self._copy_dir = None

    def close(self) -> None:
        self._close_quietly()

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
                _insert_stage_metrics(c, run_id, result)
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
        on_bad: Literal["skip", "raise"] = "skip",
    ) -> list[StoredResult]:
        """Results matching every given filter, newest first.

        ``latest`` keeps only the newest result per (model, target, kind, options). A row that
        cannot be read is skipped and listed in ``self.bad_rows`` (``on_bad="raise"``: raises
        ``BadRowError`` instead).
        """
        if limit is not None and limit < 1:
            raise StoreUsageError(f"--limit must be at least 1, got {limit}")
        rows, bad = self._rows(
            {"model": model, "target": target, "kind": kind, "status": status, "group_id": group_id}
        )
        out: list[StoredResult] = []
        seen: set[tuple[Any, ...]] = set()
        for row in rows:
            try:
                stored = decode_row(row)
            except _RowProblem as e:
                bad.append(
                    BadRow(row.get("id") if isinstance(row.get("id"), int) else None, str(e))
                )
                continue
            if latest:
                key = (row["model"], row["target"], row["kind"], row["options_json"])
                if key in seen:
                    continue
                seen.add(key)
            out.append(stored)
            if limit is not None and len(out) >= limit:
                break
        bad.sort(key=lambda b: -(b.id or 0))
        self.bad_rows = bad
        if bad and on_bad == "raise":
            raise BadRowError(bad[0], self.path)
        return out

    def _rows(
        self, filters: dict[str, Any] | None = None
    ) -> tuple[list[dict[str, Any]], list[BadRow]]:
        """Every row matching ``filters`` (column: value), newest first.

        Read in one statement; if the file is damaged, row by row, so that only the rows on
        damaged pages are lost, each reported as a ``BadRow`` (a row id the store gave out that
        is no longer found is lost too: npubench deletes rows only into the quarantine).
        """
        filters = {k: v for k, v in (filters or {}).items() if v is not None}
        columns = ", ".join(_RUN_COLUMNS)
        where = " AND ".join(f"{k} = ?" for k in filters)
        sql = f"SELECT {columns} FROM runs" + (f" WHERE {where}" if where else "")
        try:
            rows = self._conn.execute(sql + " ORDER BY id DESC", list(filters.values())).fetchall()
            return [dict(r) for r in rows], []
        except sqlite3.DatabaseError:
            pass  # a damaged page: read the rows one by one, so only its rows are lost
        good: list[dict[str, Any]] = []
        bad: list[BadRow] = []
        quarantined = self._quarantined_ids()
        one = f"SELECT {columns} FROM runs WHERE id = ?"
        for run_id in self._row_ids():
            try:
                found = self._conn.execute(one, (run_id,)).fetchone()
            except sqlite3.DatabaseError as e:
                bad.append(BadRow(run_id, f"unreadable ({e})"))
                continue
            if found is None:
                if run_id not in quarantined:
                    bad.append(BadRow(run_id, "lost: the page that held it is damaged or gone"))
                continue
            row = dict(found)
            if all(row.get(k) == v for k, v in filters.items()):
                good.append(row)
        return good, bad

    def _quarantined_ids(self) -> set[int]:
        with contextlib.suppress(sqlite3.DatabaseError):
            rows = self._conn.execute("SELECT run_id FROM quarantine WHERE run_id IS NOT NULL")
            return {int(r[0]) for r in rows.fetchall()}
        return set()

    def _row_ids(self) -> list[int]:
        """Every row id, newest first, read around damage: the id index, else every id below
        the highest one the store ever gave (``sqlite_sequence``, else ``MAX(id)``)."""
        with contextlib.suppress(sqlite3.DatabaseError):
            return [int(r[0]) for r in self._conn.execute("SELECT id FROM runs ORDER BY id DESC")]
        highest = None
        for sql in (
            "SELECT seq FROM sqlite_sequence WHERE name = 'runs'",
            "SELECT MAX(id) FROM runs",
        ):
            with contextlib.suppress(sqlite3.DatabaseError, TypeError, ValueError):
                row = self._conn.execute(sql).fetchone()
                if row is not None and row[0] is not None:
                    highest = int(row[0])
                    break
        if highest is None:
            raise StoreDamagedError(
                f"{self.path} is damaged: not even the list of its rows can be read",
                repair_hint(self.path),
            )
        return list(range(highest, 0, -1))

    def cell_keys(self, group_id: str) -> set[str]:
        """Cell keys already stored for a group (sweep resume)."""
        try:
            rows = self._conn.execute(
                "SELECT DISTINCT cell_key FROM runs WHERE group_id = ? AND cell_key IS NOT NULL",
                (group_id,),
            ).fetchall()
        except sqlite3.DatabaseError as e:
            raise StoreDamagedError(
                f"{self.path}: the stored cells cannot be read ({e})", repair_hint(self.path)
            ) from e
        return {r[0] for r in rows if isinstance(r[0], str)}

    def count(self) -> int:
        """How many rows the store holds (readable or not)."""
        try:
            return int(self._conn.execute("SELECT COUNT(*) FROM runs").fetchone()[0])
        except sqlite3.DatabaseError:
            return len(self._row_ids())

    def quarantined(self) -> list[dict[str, Any]]:
        """The rows ``repair_store`` moved aside (empty for a version-1 store)."""
        if self.schema_version < 2:
            return []
        try:
            rows = self._conn.execute(
                "SELECT id, run_id, quarantined_utc, problem, columns_json FROM quarantine"
                " ORDER BY id"
            ).fetchall()
        except sqlite3.DatabaseError as e:
            raise StoreDamagedError(
                f"{self.path}: the quarantine table cannot be read ({e})", repair_hint(self.path)
            ) from e
        return [dict(r) for r in rows]


def _insert_stage_metrics(c: sqlite3.Connection, run_id: int, result: BenchResult) -> None:
    for stage in (*STAGES, "total"):
        c.execute(
            "INSERT OR REPLACE INTO stage_metrics(run_id, stage, latency_us, power_mw, energy_uj)"
            " VALUES (?,?,?,?,?)",
            (
                run_id,
                stage,
                result.latency_us.get(stage),
                result.power_mw.get(stage),
                result.energy_uj.get(stage),
            ),
        )


# -- repair -------------------------------------------------------------------------------


@dataclass
class RepairReport:
    """What ``repair_store`` found and did."""

    path: Path
    rows: int  # rows looked at (readable or not)
    kept: int
    quarantined: list[BadRow] = field(default_factory=list)
    rebuilt: bool = False  # the file's pages were damaged: rewritten from what could be read
    backup: Path | None = None  # the damaged original, kept beside the store
    dry_run: bool = False
    migrated_from: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "rows": self.rows,
            "kept": self.kept,
            "quarantined": [b.to_json() for b in self.quarantined],
            "rebuilt": self.rebuilt,
            "backup": str(self.backup) if self.backup else None,
            "dry_run": self.dry_run,
            "migrated_from": self.migrated_from,
        }

    def summary(self) -> str:
        verb = "would move" if self.dry_run else "moved"
        text = f"{self.path}: {self.rows} rows, {self.kept} readable"
        if self.quarantined:
            text += (
                f"; {verb} {len(self.quarantined)} unreadable row(s) to the quarantine table "
                f"({describe_bad_rows(self.quarantined)})"
            )
        else:
            text += "; nothing to repair"
        if self.rebuilt:
            text += f"; the damaged file was rebuilt, the original is kept as {self.backup}"
        return text


def _columns_json(row: dict[str, Any] | None) -> str:
    def plain(value: Any) -> Any:
        if isinstance(value, bytes):
            return {"hex": bytes(value).hex()}
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        return value

    return json.dumps({k: plain(v) for k, v in (row or {}).items()}, sort_keys=True)


def _raw_row(conn: sqlite3.Connection, run_id: int) -> dict[str, Any] | None:
    """The columns of a row that can be read one by one (a damaged page may hide some)."""
    out: dict[str, Any] = {}
    for column in _RUN_COLUMNS:
        with contextlib.suppress(sqlite3.DatabaseError):
            row = conn.execute(f"SELECT {column} FROM runs WHERE id = ?", (run_id,)).fetchone()
            if row is not None:
                out[column] = row[0]
    return out or None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def repair_store(path: Path | str | None = None, dry_run: bool = False) -> RepairReport:
    """Move every unreadable row of a store into its ``quarantine`` table; nothing is deleted.

    A store whose values are corrupted but whose file structure is sound (``PRAGMA
    quick_check`` is ok) is repaired in place, in one transaction. A file with damaged pages is
    rebuilt: every readable row goes into a new file with the same ids, the unreadable ones
    into its quarantine table, and the damaged original is kept beside it as
    ``<name>.damaged-<UTC time>`` (with its ``-wal``). ``dry_run`` only reports. Do not run it
    while another process writes to the store.
    """
    path = Path(path) if path is not None else default_db_path()
    # Reading first: the read-only open checks that this is an npubench store.
    with ResultStore(path, readonly=True) as reader:
        version = reader.schema_version
        try:
            sound = [str(r[0]) for r in reader._conn.execute("PRAGMA quick_check")] == ["ok"]
        except sqlite3.DatabaseError:
            sound = False
        rows, bad = reader._rows()
        good: list[dict[str, Any]] = []
        for row in rows:
            try:
                decode_row(row)
                good.append(row)
            except _RowProblem as e:
                run_id = row.get("id") if isinstance(row.get("id"), int) else None
                bad.append(BadRow(run_id, str(e)))
        bad.sort(key=lambda b: b.id or 0)
        report = RepairReport(
            path=path,
            rows=len(good) + len(bad),
            kept=len(good),
            quarantined=bad,
            dry_run=dry_run,
            migrated_from=version if version < STORE_SCHEMA_VERSION else None,
        )
        if dry_run or (sound and not bad):
            return report
        raw_bad = {b.id: _raw_row(reader._conn, b.id) if b.id is not None else None for b in bad}
        models = [] if sound else _readable_models(reader._conn)
    if sound:
        _repair_in_place(path, bad, raw_bad)
        return report
    report.rebuilt = True
    report.backup = _rebuild(path, good, bad, raw_bad, models)
    return report


def _repair_in_place(
    path: Path, bad: list[BadRow], raw: dict[int | None, dict[str, Any] | None]
) -> None:
    with ResultStore(path) as store, store._write() as c:  # migrates a version-1 store first
        for b in bad:
            c.execute(
                "INSERT INTO quarantine(run_id, quarantined_utc, problem, columns_json)"
                " VALUES (?,?,?,?)",
                (b.id, _now(), b.problem, _columns_json(raw.get(b.id))),
            )
            if b.id is not None:
                c.execute("DELETE FROM stage_metrics WHERE run_id = ?", (b.id,))
                c.execute("DELETE FROM runs WHERE id = ?", (b.id,))


def _readable_models(conn: sqlite3.Connection) -> list[dict[str, Any]]:
    with contextlib.suppress(sqlite3.DatabaseError):
        rows = conn.execute("SELECT sha256, name, source_sha256, details_json FROM models")
        return [dict(r) for r in rows.fetchall() if not any(isinstance(v, bytes) for v in r)]
    return []


def _rebuild(
    path: Path,
    good: list[dict[str, Any]],
    bad: list[BadRow],
    raw: dict[int | None, dict[str, Any] | None],
    models: list[dict[str, Any]],
) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    fresh = path.with_name(f"{path.name}.repair-{os.getpid()}")
    backup = path.with_name(f"{path.name}.damaged-{stamp}")
    for stale in (
        fresh,
        fresh.with_name(fresh.name + "-wal"),
        fresh.with_name(fresh.name + "-shm"),
    ):
        stale.unlink(missing_ok=True)
    conn = sqlite3.connect(fresh, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(f"PRAGMA application_id = {_APP_ID}")
        migrations.create_fresh(conn)
        for m in models:
            conn.execute(
                "INSERT OR IGNORE INTO models(sha256, name, source_sha256, details_json)"
                " VALUES (?,?,?,?)",
                (m["sha256"], m["name"], m["source_sha256"], m["details_json"]),
            )
        columns = ", ".join(_RUN_COLUMNS)
        marks = ", ".join("?" for _ in _RUN_COLUMNS)
        for row in sorted(good, key=lambda r: r["id"]):
            conn.execute(
                f"INSERT INTO runs({columns}) VALUES ({marks})", [row[c] for c in _RUN_COLUMNS]
            )
            _insert_stage_metrics(conn, row["id"], decode_row(row).result)
        highest = max([r["id"] for r in good] + [b.id for b in bad if b.id is not None] + [0])
        conn.execute("DELETE FROM sqlite_sequence WHERE name = 'runs'")
        conn.execute("INSERT INTO sqlite_sequence(name, seq) VALUES ('runs', ?)", (highest,))
        for b in bad:
            conn.execute(
                "INSERT INTO quarantine(run_id, quarantined_utc, problem, columns_json)"
                " VALUES (?,?,?,?)",
                (b.id, _now(), b.problem, _columns_json(raw.get(b.id))),
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.close()
        fresh.unlink(missing_ok=True)
        raise
    conn.close()
    # The damaged original and its journal files move aside together (a -wal left under the
    # store's name would be replayed into the new file).
    for suffix in ("", "-wal", "-shm"):
        source = path.with_name(path.name + suffix)
        if source.exists():
            os.replace(source, backup.with_name(backup.name + suffix))
    os.replace(fresh, path)
    return backup
