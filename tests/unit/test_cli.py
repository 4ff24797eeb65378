"""CLI plumbing: exit codes, error messages with hints, JSON output, option validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _cli import run_cli
from npubench.cli.common import parse_shape
from npubench.errors import NpubenchError, TargetError, UsageError
from npubench.pipeline import BenchOptions, expand_models
from npubench.schema import BenchResult
from npubench.store import ResultStore


def test_help_and_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["--version"], capsys)
    assert code == 0 and "npubench" in out
    for sub in ("zoo", "targets", "compile", "bench", "results", "report"):
        code, out, _ = run_cli([sub, "--help"], capsys)
        assert code == 0 and "Usage" in out, sub


def test_unknown_target_suggests_close_names(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run_cli(["targets", "show", "hx-we"], capsys)
    assert code == 2
    assert "unknown target 'hx-we'" in err and "hint" in err and "hx-we2" in err


def test_unwritable_db_is_a_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    # A writing command names the folder it cannot create (before any model work starts).
    code, _, err = run_cli(
        ["bench", "-m", "zoo:autoenc", "-t", "hx-we2", "--db", str(blocker / "r.sqlite")], capsys
    )
    assert code == 2 and "cannot create the folder" in err and "--db" in err
    # A reading command never creates a store: it says there is none.
    code, _, err = run_cli(["results", "--db", str(tmp_path / "new.sqlite")], capsys)
    assert code == 2 and "no results store" in err and not (tmp_path / "new.sqlite").exists()


def test_reading_commands_work_on_a_read_only_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import os

    db = tmp_path / "r.sqlite"
    r = BenchResult(model="autoenc", target="hx-we2", kind="compiled")
    with ResultStore(db) as store:
        store.add(r)
    # Plain rollback journal so that nothing beside the file is needed to read it.
    import sqlite3

    sqlite3.connect(db).execute("PRAGMA journal_mode = DELETE").close()
    before = db.read_bytes()
    os.chmod(db, 0o444)
    code, out, _ = run_cli(["results", "--db", str(db), "-m", "zoo:autoenc", "--json"], capsys)
    assert code == 0 and json.loads(out)[0]["model"] == "autoenc"
    assert db.read_bytes() == before
    code, _, err = run_cli(["results", "--db", str(db), "--limit", "0"], capsys)
    assert code == 2 and "--limit" in err


def test_results_json_and_export(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "r.sqlite"
    r = BenchResult(model="m", target="hx-we2", kind="compiled")
    r.latency_us["inference"] = 12.5
    with ResultStore(db) as store:
        store.add(r)
    code, out, _ = run_cli(["results", "--db", str(db), "--json"], capsys)
    assert code == 0
    [row] = json.loads(out)
    assert row["model"] == "m" and row["latency_us"]["inference"] == 12.5
    assert row["latency_us"]["init"] is None and row["kind"] == "compiled"
    code, _, _ = run_cli(["results", "--db", str(db), "--export", str(tmp_path / "o.csv")], capsys)
    assert code == 0 and "inference_us" in (tmp_path / "o.csv").read_text()
    code, _, err = run_cli(
        ["results", "--db", str(db), "--export", str(tmp_path / "o.xls")], capsys
    )
    assert code == 2 and ".csv, .json, .parquet" in err
    code, _, _ = run_cli(
        ["results", "--db", str(db), "--export", str(tmp_path / "o.parquet")], capsys
    )
    import pyarrow.parquet as pq

    table = pq.read_table(tmp_path / "o.parquet")
    assert code == 0 and table.column("inference_us").to_pylist() == [12.5]
    code, _, err = run_cli(["results", "--db", str(db), "--kind", "guessed"], capsys)
    assert code == 2 and "compiled, predicted, measured" in err


def test_report_on_empty_store_says_what_to_do(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_cli(["report", "--db", str(tmp_path / "r.sqlite")], capsys)
    assert code == 2 and "npubench bench" in err


def test_parse_shape() -> None:
    assert parse_shape("1,3,32,32") == (1, 3, 32, 32)
    assert parse_shape("1x256x3") == (1, 256, 3)
    assert parse_shape(None) is None
    with pytest.raises(NpubenchError, match="not a list of integers"):
        parse_shape("1,a,3")
    with pytest.raises(NpubenchError, match="positive"):
        parse_shape("1,0,3")


def test_bench_options_validate() -> None:
    with pytest.raises(UsageError, match="Performance, Size"):
        BenchOptions(optimise="Fast")
    with pytest.raises(TargetError, match="positive"):
        BenchOptions(clock_mhz=-5)


def test_model_groups_expand() -> None:
    assert expand_models(["study"]) == [
        "zoo:yolov1",
        "zoo:resnet",
        "zoo:simplenet",
        "zoo:nas",
        "zoo:autoenc",
    ]
    assert len(expand_models(["zoo"])) == 9
    assert expand_models(["zoo:resnet", "my.onnx"]) == ["zoo:resnet", "my.onnx"]


REFERENCE_TRACE = (
    Path(__file__).resolve().parents[3]
    / "shared"
    / "reference"
    / "hxwe2_yolov1_size_power_trace.csv"
)


@pytest.mark.skipif(not REFERENCE_TRACE.exists(), reason="shared/reference not beside the repo")
def test_trace_analyze_finds_the_reference_inference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    png = tmp_path / "trace.png"
    code, out, _ = run_cli(
        ["trace", "analyze", str(REFERENCE_TRACE), "--json", "--plot", str(png)], capsys
    )
    assert code == 0
    data = json.loads(out)
    [window] = data["windows"]
    assert 16127.5 <= window["start_ms"] <= 16128.5 and 16129.5 <= window["end_ms"] <= 16131.0
    assert set(window) >= {
        "start_ms",
        "end_ms",
        "duration_ms",
        "mean_power_mw",
        "peak_power_mw",
        "energy_uj",
        "net_energy_uj",
    }
    assert 80 < data["baseline_mw"] < 90
    assert 0 < window["net_energy_uj"] < window["energy_uj"]
    assert png.stat().st_size > 10_000


def test_trace_analyze_bad_file_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "t.csv"
    bad.write_text("a,b\nx,y\n")
    code, _, err = run_cli(["trace", "analyze", str(bad)], capsys)
    assert code == 2 and "hint" in err


def test_zoo_json_matches_the_published_facts(capsys: pytest.CaptureFixture[str]) -> None:
    import csv

    code, out, _ = run_cli(["zoo", "--json"], capsys)
    assert code == 0
    entries = {e["name"]: e for e in json.loads(out)}
    facts_path = Path(__file__).resolve().parents[2] / "src/npubench/data/reference/model_facts.csv"
    facts = list(csv.DictReader(facts_path.open()))
    # The published models are in the zoo (the parametric families come on top of them).
    assert {row["model"] for row in facts} <= set(entries)
    for row in facts:
        e = entries[row["model"]]
        assert set(e) >= {"name", "input_shape", "output_shape", "params", "macs"}
        assert e["params"] == pytest.approx(int(row["params"]), rel=0.02)
        assert e["macs"] == pytest.approx(int(row["macs"]), rel=0.02)
