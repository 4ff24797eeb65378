"""The store under damage and across versions: corrupted rows, truncated files, read-only
folders, the repair into quarantine, the version-1 store of npubench 8304f45, CSV escaping."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from _cli import run_cli
from npubench.errors import ExitStatus, StoreError
from npubench.schema import SCHEMA_VERSION, BenchResult, MeasuredSamples, ResultSchemaError
from npubench.store import (
    STORE_SCHEMA_VERSION,
    BadRowError,
    ResultStore,
    StoreDamagedError,
    export_csv,
    repair_store,
)
from npubench.store import migrations as store_migrations

pytestmark = pytest.mark.timeout(120)


def make(i: int, kind: str = "compiled") -> BenchResult:
    r = BenchResult(model=f"model{i:03d}", target="hx-we2", kind=kind)  # type: ignore[arg-type]
    r.latency_us["inference"] = 10.0 + i
    r.message = "m" * 120  # rows large enough to span pages
    return r


def build(path: Path, n: int) -> Path:
    with ResultStore(path) as store:
        for i in range(n):
            store.add(make(i), group_id="g", cell_key=f"c{i}")
    return path


def flip_in_row(path: Path, needle: bytes, offset: int, value: int) -> None:
    data = bytearray(path.read_bytes())
    at = data.find(needle)
    assert at > 0, needle
    data[at + offset] = value
    path.write_bytes(bytes(data))


# --- reading around damage -------------------------------------------------------------------


def test_a_row_that_is_not_utf8_is_skipped_and_named(tmp_path: Path) -> None:
    db = build(tmp_path / "r.sqlite", 5)
    flip_in_row(db, b'"model": "model002"', 12, 0xFF)
    with ResultStore(db, readonly=True) as store:
        found = store.query()
        assert sorted(s.result.model for s in found) == [f"model{i:03d}" for i in (0, 1, 3, 4)]
        [bad] = store.bad_rows
        assert bad.id == 3 and "not UTF-8" in bad.problem
        with pytest.raises(BadRowError, match="row 3"):
            store.query(on_bad="raise")
    # A value-level fault leaves the file sound: writing is still allowed.
    with ResultStore(db) as store:
        store.add(make(9))


def test_broken_json_and_a_mangled_field_are_skipped(tmp_path: Path) -> None:
    db = build(tmp_path / "r.sqlite", 4)
    flip_in_row(db, b'"model": "model001"', 0, ord("#"))  # not JSON any more
    conn = sqlite3.connect(db)
    data = json.loads(conn.execute("SELECT result_json FROM runs WHERE id = 3").fetchone()[0])
    data["latency_us"] = {"inference": "fast"}
    conn.execute("UPDATE runs SET result_json = ? WHERE id = 3", (json.dumps(data),))
    conn.commit()
    conn.close()
    with ResultStore(db, readonly=True) as store:
        assert [s.id for s in store.query()] == [4, 1]
        problems = {b.id: b.problem for b in store.bad_rows}
    assert "not valid JSON" in problems[2]
    assert "latency_us.inference is not a number" in problems[3]


def test_damaged_pages_lose_only_their_rows_and_refuse_writing(tmp_path: Path) -> None:
    db = build(tmp_path / "r.sqlite", 120)
    data = bytearray(db.read_bytes())
    page = 4096
    data[20 * page : 20 * page + 16] = b"\xde\xad" * 8  # a leaf page's header
    db.write_bytes(bytes(data))
    with ResultStore(db, readonly=True) as store:
        good = store.query()
        bad = store.bad_rows
    assert bad and len(good) + len(bad) == 120
    with pytest.raises(StoreDamagedError, match="damaged") as info:
        ResultStore(db)
    assert "--repair" in (info.value.hint or "")
    assert db.read_bytes() == bytes(data)  # untouched


def test_a_truncated_store_is_read_as_far_as_it_goes(tmp_path: Path) -> None:
    db = build(tmp_path / "r.sqlite", 150)
    size = db.stat().st_size
    with open(db, "r+b") as f:
        f.truncate(size // 2)
    with ResultStore(db, readonly=True) as store:
        good = store.query()
        bad = store.bad_rows
    assert good and bad and len(good) + len(bad) == 150
    with pytest.raises(StoreDamagedError):
        ResultStore(db)


@pytest.mark.parametrize("damage", ["value", "pages"])
def test_repair_moves_bad_rows_to_quarantine_and_loses_nothing(tmp_path: Path, damage: str) -> None:
    db = build(tmp_path / "r.sqlite", 60)
    if damage == "value":
        flip_in_row(db, b'"model": "model007"', 12, 0xFF)
    else:
        with open(db, "r+b") as f:
            f.truncate(db.stat().st_size * 2 // 3)
    with ResultStore(db, readonly=True) as store:
        readable = {s.id: s.result.to_json() for s in store.query()}
        unreadable = {b.id for b in store.bad_rows}
    dry = repair_store(db, dry_run=True)
    assert dry.dry_run and {b.id for b in dry.quarantined} == unreadable
    report = repair_store(db)
    assert report.kept == len(readable) and report.rebuilt == (damage == "pages")
    with ResultStore(db) as store:  # sound again: opens for writing
        after = {s.id: s.result.to_json() for s in store.query()}
        assert store.bad_rows == []
        quarantined = store.quarantined()
        store.add(make(99))
    assert after == readable
    assert {q["run_id"] for q in quarantined} == unreadable
    assert len(readable) + len(quarantined) == 60
    if damage == "pages":
        assert report.backup is not None and report.backup.exists()  # the original, kept
    assert "nothing to repair" in repair_store(db).summary()


def test_results_lists_the_good_rows_warns_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = build(tmp_path / "r.sqlite", 4)
    flip_in_row(db, b'"model": "model001"', 12, 0xFF)
    before = db.read_bytes()
    code, out, err = run_cli(["results", "--db", str(db), "--json"], capsys)
    assert code == ExitStatus.FAILED
    assert len(json.loads(out)) == 3
    assert "row 2" in err and "--repair" in err and "Traceback" not in err
    code, _, err = run_cli(["report", "--db", str(db)], capsys)
    assert code == ExitStatus.FAILED and "row 2" in err
    assert db.read_bytes() == before


# --- read-only folders ---------------------------------------------------------------------------


@contextlib.contextmanager
def read_only_folder(tmp_path: Path) -> Iterator[Path]:
    """A folder nobody can write to: a read-only tmpfs as root, else a chmod-ed folder."""
    folder = tmp_path / "ro"
    folder.mkdir()
    if os.geteuid() != 0:
        yield folder
        os.chmod(folder, 0o755)
        return
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)]).returncode:
        pytest.skip("running as root without mount: cannot make a read-only folder")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _make_read_only(folder: Path) -> None:
    if os.geteuid() != 0:
        os.chmod(folder, 0o555)
    else:
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)


def test_a_store_in_a_read_only_folder_is_readable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with read_only_folder(tmp_path) as folder:
        db = build(folder / "r.sqlite", 3)  # WAL mode: a reader needs a -shm beside it
        _make_read_only(folder)
        with ResultStore(db, readonly=True) as store:
            assert len(store.query()) == 3 and store.read_from in ("immutable", "file")
        code, out, _ = run_cli(["results", "--db", str(db), "--json"], capsys)
        assert code == 0 and len(json.loads(out)) == 3


def test_uncheckpointed_rows_are_read_from_a_copy_in_a_read_only_folder(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs a read-only mount (root) to keep the -wal file")
    with read_only_folder(tmp_path) as folder:
        writer = ResultStore(tmp_path / "w.sqlite")
        writer._conn.execute("PRAGMA wal_autocheckpoint = 0")
        for i in range(3):
            writer.add(make(i))
        for suffix in ("", "-wal"):
            (folder / f"w.sqlite{suffix}").write_bytes(
                (tmp_path / f"w.sqlite{suffix}").read_bytes()
            )
        writer.close()
        _make_read_only(folder)
        with ResultStore(folder / "w.sqlite", readonly=True) as store:
            assert store.read_from == "copy" and len(store.query()) == 3


# --- versions and migrations ---------------------------------------------------------------------

# The store schema of npubench 8304f45 (`git show 8304f45:src/npubench/store/sqlite.py`), verbatim.
V1_DDL = """
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


def v1_results() -> list[BenchResult]:
    compiled = make(1)
    compiled.compiler = {"name": "vela", "version": "5.2.0", "cycles": 1234}
    compiled.provenance = {"model_sha256": "ab" * 32, "toolchains": {"vela": "5.2.0"}}
    predicted = make(2, "predicted")
    predicted.latency_us_low, predicted.latency_us_high = 9.0, 14.0
    predicted.energy_uj = {"total": 3.5, "net": 1.25}
    predicted.details = {"latency_us_intervals": {"inference": [9.0, 14.0]}}
    measured = make(3, "measured")
    measured.status = "incomplete"
    measured.details = {"stages": {"inference": {"ci_low": 12.0, "ci_high": 14.0}}}
    measured.options = {"optimise": "Size", "repeat": 5}
    return [compiled, predicted, measured]


def v1_json(r: BenchResult) -> dict[str, object]:
    """What npubench 8304f45 stored: schema_version 1 and no ``samples``."""
    data = r.to_json()
    data["schema_version"] = 1
    del data["samples"]
    return data


def build_v1(path: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN IMMEDIATE")
    conn.execute(f"PRAGMA application_id = {0x4E504231}")
    for statement in filter(str.strip, V1_DDL.split(";")):
        conn.execute(statement)
    conn.execute("INSERT INTO meta VALUES ('schema_version', '1')")
    for n, r in enumerate(v1_results()):
        conn.execute(
            "INSERT INTO runs(uuid, created_utc, kind, status, model, model_sha256, target,"
            " clock_mhz, options_json, provenance_json, result_json, group_id, cell_key)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                f"uuid{n}",
                f"2025-01-0{n + 1}T00:00:00+00:00",
                r.kind,
                r.status,
                r.model,
                r.provenance.get("model_sha256"),
                r.target,
                r.clock_mhz,
                json.dumps(r.options, sort_keys=True),
                json.dumps(r.provenance, sort_keys=True),
                json.dumps(v1_json(r)),
                "sweep:old:1234",
                f"cell{n}",
            ),
        )
    conn.execute("COMMIT")
    rows = conn.execute("SELECT * FROM runs ORDER BY id").fetchall()
    conn.close()
    return rows


def test_a_v1_store_is_read_as_it_is_and_migrated_without_loss(tmp_path: Path) -> None:
    db = tmp_path / "v1.sqlite"
    columns_before = build_v1(db)
    bytes_before = db.read_bytes()
    expected = {r.model: r.to_json() for r in v1_results()}
    with ResultStore(db, readonly=True) as store:
        assert store.schema_version == 1
        read = {s.result.model: s.result.to_json() for s in store.query()}
        assert store.quarantined() == []
    assert read == expected and db.read_bytes() == bytes_before  # read-only: not migrated
    with ResultStore(db) as store:
        assert [m.version for m in store.migrated] == [2]
        assert store.schema_version == STORE_SCHEMA_VERSION
        stored = store.query()
        assert {s.result.model: s.result.to_json() for s in stored} == expected
        assert {(s.uuid, s.created_utc, s.group_id, s.cell_key) for s in stored} == {
            (f"uuid{n}", f"2025-01-0{n + 1}T00:00:00+00:00", "sweep:old:1234", f"cell{n}")
            for n in range(3)
        }
        assert store.cell_keys("sweep:old:1234") == {"cell0", "cell1", "cell2"}
        store.add(make(4))
    conn = sqlite3.connect(db)
    assert conn.execute("SELECT * FROM runs WHERE id <= 3 ORDER BY id").fetchall() == columns_before
    assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == "2"
    assert conn.execute("SELECT count(*) FROM quarantine").fetchone()[0] == 0
    conn.close()


def test_a_failing_migration_leaves_the_store_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "v1.sqlite"
    build_v1(db)
    broken = store_migrations.Migration(2, "broken", ("CREATE TABLE quarantine (x)", "NOT SQL"))
    monkeypatch.setattr(store_migrations, "MIGRATIONS", (broken,))
    with pytest.raises(StoreError, match="migrating it from schema 1 to store schema 2 failed"):
        ResultStore(db)
    conn = sqlite3.connect(db)
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "quarantine" not in tables
    assert conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchone()[0] == "1"


def test_a_newer_store_needs_a_newer_npubench(tmp_path: Path) -> None:
    db = build(tmp_path / "r.sqlite", 1)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    for readonly in (True, False):
        with pytest.raises(Exception, match="newer npubench") as info:
            ResultStore(db, readonly=readonly)
        assert getattr(info.value, "exit_code", None) == ExitStatus.ENVIRONMENT


def test_result_json_migrates_by_its_own_version() -> None:
    r = make(1, "measured")
    old = v1_json(r)
    assert BenchResult.from_json(old).to_json() == r.to_json()
    assert BenchResult.from_json({k: v for k, v in old.items() if k != "schema_version"}).model
    r.samples = MeasuredSamples({"inference": [1.0]}, {}, 1, 0, None, 100.0, "systick", False)
    assert BenchResult.from_json(r.to_json()).samples == r.samples
    assert r.to_json()["schema_version"] == SCHEMA_VERSION == 2
    with pytest.raises(ResultSchemaError, match="newer"):
        BenchResult.from_json({**old, "schema_version": SCHEMA_VERSION + 1})
    with pytest.raises(ResultSchemaError, match="malformed"):
        BenchResult.from_json({**old, "fidelity": "none"})


# --- CSV ------------------------------------------------------------------------------------------


def test_csv_cells_cannot_become_formulas() -> None:
    r = make(1)
    r.model = '=HYPERLINK("http://evil","x")'
    r.target = "+cmd"
    r.message = "@SUM(A1)"
    r.energy_uj = {"net": -3.5}
    r.compiler = {"name": "\tvela", "version": "-1", "cycles": None}
    [row] = list(csv.DictReader(io.StringIO(export_csv([r]))))
    assert row["model"] == "'" + r.model and row["target"] == "'+cmd"
    assert row["message"] == "'@SUM(A1)" and row["compiler"] == "'\tvela"
    assert row["compiler_version"] == "'-1"
    assert row["net_energy_uj"] == "-3.5"  # a number stays a number
