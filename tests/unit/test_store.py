"""The results store: round trip, filters, exports, concurrency and refusal of bad files."""

from __future__ import annotations

import csv
import io
import json
import multiprocessing
import sqlite3
from pathlib import Path

import pytest

from npubench.errors import StoreError
from npubench.schema import BenchResult, Fidelity, LayerPlacement, MemoryUse
from npubench.store import ResultStore, export_csv, export_json


def make_result(model: str = "m", target: str = "hx-we2", inference: float = 10.0) -> BenchResult:
    r = BenchResult(model=model, target=target, kind="compiled", clock_mhz=100.0)
    r.latency_us["inference"] = inference
    r.memory = {"sram_bytes": 1000, "flash_bytes": 2000}
    r.fit = {"sram": MemoryUse(1000, 4096)}
    r.ops = {"npu": 3, "cpu": 1}
    r.placement = [LayerPlacement(0, "conv", "CONV_2D", "npu")]
    r.fidelity = Fidelity(sqnr_db=30.5, top1_agreement=1.0, samples=8)
    r.compiler = {"name": "vela", "version": "5.2.0", "cycles": 1000}
    r.options = {"optimise": "Size"}
    r.provenance = {"model_sha256": "ab" * 32}
    return r


def test_round_trip_keeps_every_field(tmp_path: Path) -> None:
    original = make_result()
    with ResultStore(tmp_path / "r.sqlite") as store:
        store.add(original)
        [stored] = store.query()
    assert stored.result.to_json() == original.to_json()
    assert stored.result.fit["sram"].capacity_bytes == 4096
    assert stored.result.placement[0].op == "CONV_2D"


def test_filters_and_latest(tmp_path: Path) -> None:
    with ResultStore(tmp_path / "r.sqlite") as store:
        store.add(make_result("a", "hx-we2", 1.0))
        store.add(make_result("a", "hx-we2", 2.0))
        store.add(make_result("b", "alif-e7-hp", 3.0))
        assert len(store.query()) == 3
        assert [s.result.model for s in store.query(target="alif-e7-hp")] == ["b"]
        latest = store.query(model="a", latest=True)
        assert len(latest) == 1 and latest[0].result.latency_us["inference"] == 2.0
        assert store.query(kind="measured") == []


def test_exports_have_units_in_column_names(tmp_path: Path) -> None:
    rows = list(csv.DictReader(io.StringIO(export_csv([make_result()]))))
    assert rows[0]["inference_us"] == "10.0"
    assert rows[0]["init_us"] == ""  # unknown stays empty, not zero
    assert rows[0]["sqnr_db"] == "30.5"
    data = json.loads(export_json([make_result()]))
    assert data[0]["latency_us"]["total"] is None
    assert set(data[0]["latency_us"]) == {
        "init",
        "input_io",
        "inference",
        "output_io",
        "postprocess",
        "total",
    }


def _writer(path: str, worker: int, n: int) -> None:
    with ResultStore(path) as store:
        for i in range(n):
            store.add(make_result(f"w{worker}", "hx-we2", float(i)))


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "r.sqlite")
    ResultStore(path).close()
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(path, w, 40)) for w in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    with ResultStore(path) as store:
        assert store.count() == 80
        assert len(store.query(model="w0")) == 40 and len(store.query(model="w1")) == 40
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_foreign_sqlite_file_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.sqlite"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE t (x)")
    conn.execute("INSERT INTO t VALUES (42)")
    conn.commit()
    conn.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match="not an npubench store"):
        ResultStore(path)
    assert path.read_bytes() == before


def test_non_database_file_is_refused_and_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("hello, not a database\n" * 100)
    with pytest.raises(StoreError, match="not a readable npubench store") as info:
        ResultStore(path)
    assert info.value.hint
    assert path.read_text().startswith("hello")


def test_unwritable_location_is_named(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot create the folder"):
        ResultStore(blocker / "sub" / "r.sqlite")
    with pytest.raises(StoreError, match="is a directory"):
        ResultStore(tmp_path)


def test_failed_write_leaves_store_intact(tmp_path: Path) -> None:
    with ResultStore(tmp_path / "r.sqlite") as store:
        store.add(make_result())
        bad = make_result()
        bad.kind = "guessed"  # type: ignore[assignment]
        with pytest.raises(StoreError, match="unknown result kind"):
            store.add(bad)
        assert store.count() == 1
