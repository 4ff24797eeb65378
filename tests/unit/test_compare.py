"""compare(): per-cell differences, regressions beyond the threshold, sides, JSON and table."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from npubench.schema import BenchResult, empty_stages
from npubench.store import ResultStore
from npubench.sweep.commands import compare_command
from npubench.sweep.compare import (
    CompareError,
    compare,
    diff_results,
    parse_threshold,
    print_comparison,
)


def result(
    target: str = "hx-we2",
    inference: float = 100.0,
    sram: int = 1000,
    status: str = "ok",
    vela: str = "5.2.0",
    optimise: str = "Performance",
    energy: float | None = None,
) -> BenchResult:
    latency = empty_stages()
    latency["inference"] = inference
    return BenchResult(
        model="mlp",
        target=target,
        kind="compiled",
        status=status,  # type: ignore[arg-type]
        latency_us=latency,
        memory={"sram_bytes": sram, "flash_bytes": 5000},
        energy_uj={"total": energy} if energy is not None else {},
        options={"optimise": optimise, "clock_mhz": None, "calibration": None, "seed": 0},
        provenance={"toolchains": {"vela": vela}},
    )


def test_parse_threshold() -> None:
    assert parse_threshold("5%") == pytest.approx(0.05)
    assert parse_threshold("0.05") == pytest.approx(0.05)
    assert parse_threshold("12") == pytest.approx(0.12)
    with pytest.raises(CompareError, match="not a number"):
        parse_threshold("five")


def test_a_rise_beyond_the_threshold_is_a_regression_and_within_it_is_not() -> None:
    a = [result(inference=100.0), result(target="alif-e7-hp", inference=200.0)]
    b = [result(inference=104.0), result(target="alif-e7-hp", inference=230.0)]
    c = diff_results(a, b, threshold=0.05)
    assert len(c.cells) == 2
    [regressed] = c.regressions
    assert regressed.target == "alif-e7-hp"
    [metric] = [m for m in regressed.metrics if m.verdict == "regression"]
    assert metric.name == "inference_us"
    assert metric.change == pytest.approx(0.15)
    assert c.exit_code == 1
    assert diff_results(a, b, threshold=0.2).exit_code == 0


def test_improvements_and_status_changes() -> None:
    a = [result(inference=100.0, sram=1000), result(target="alif-e7-hp")]
    b = [result(inference=50.0, sram=1000), result(target="alif-e7-hp", status="does_not_fit")]
    c = diff_results(a, b)
    assert [x.target for x in c.improvements] == ["hx-we2"]
    assert [x.target for x in c.regressions] == ["alif-e7-hp"]
    assert c.regressions[0].status_verdict == "regression"
    # The reverse direction turns both around.
    r = diff_results(b, a)
    assert [x.target for x in r.regressions] == ["hx-we2"]
    assert [x.target for x in r.improvements] == ["alif-e7-hp"]


def test_cells_match_on_options_and_the_newest_result_counts() -> None:
    # Newest first, as the store returns them: the older 300 us result is ignored.
    a = [result(inference=100.0), result(inference=300.0), result(optimise="Size", inference=10)]
    b = [result(inference=100.0), result(target="corstone-300")]
    c = diff_results(a, b)
    assert len(c.cells) == 1 and not c.regressions
    assert c.only_a == ["mlp on hx-we2 (compiled)"]
    assert c.only_b == ["mlp on corstone-300 (compiled)"]


def test_energy_is_compared_and_json_has_every_figure() -> None:
    c = diff_results([result(energy=10.0)], [result(energy=12.0)], 0.05)
    data = json.loads(json.dumps(c.to_json()))
    assert data["regressions"] == 1 and data["exit_code"] == 1
    metrics = {m["metric"]: m for m in data["cells"][0]["metrics"]}
    assert metrics["total_energy_uj"]["verdict"] == "regression"
    assert metrics["inference_us"]["verdict"] == "same"
    assert metrics["sram_bytes"]["a"] == 1000


def _store(path: Path, group: str, results: list[BenchResult]) -> Path:
    with ResultStore(path) as store:
        for r in results:
            store.add(r, group_id=group)
    return path


def test_two_store_files(tmp_path: Path) -> None:
    a = _store(tmp_path / "a.sqlite", "g1", [result(inference=100.0)])
    b = _store(tmp_path / "b.sqlite", "g2", [result(inference=120.0)])
    c = compare(str(a), str(b), "5%")
    assert c.exit_code == 1 and c.a_label == str(a)


def test_groups_by_id_prefix_and_sweep_name_and_toolchain_versions(tmp_path: Path) -> None:
    db = tmp_path / "r.sqlite"
    _store(db, "sweep:study:aaaa1111", [result(inference=100.0, vela="5.1.0")])
    _store(db, "sweep:study:bbbb2222", [result(inference=90.0, vela="5.2.0")])
    by_id = compare("sweep:study:aaaa1111", "sweep:study:bbbb", 0.05, db=db)
    assert [x.target for x in by_id.improvements] == ["hx-we2"]
    # A sweep name means its newest group.
    assert compare("sweep:study:aaaa", "study", 0.05, db=db).b_label == "sweep:study:bbbb2222"
    by_tool = compare("vela:5.2.0", "vela:5.1.0", 0.05, db=db)
    assert by_tool.exit_code == 1  # 5.1.0 is slower than 5.2.0
    with pytest.raises(CompareError, match=r"versions of vela in the store: 5\.1\.0, 5\.2\.0"):
        compare("vela:4.0.0", "vela:5.2.0", db=db)
    with pytest.raises(CompareError, match="not a store file"):
        compare("nothing-like-this", "study", db=db)


def test_table_and_command_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "r.sqlite"
    _store(db, "base", [result(inference=100.0)])
    _store(db, "head", [result(inference=150.0)])
    console = Console(record=True, width=160, file=io.StringIO())
    print_comparison(compare("base", "head", 0.05, db=db), console)
    text = console.export_text()
    assert "REGRESSION: 1 cells regressed" in text
    assert "inference_us" in text and "+50.0%" in text
    assert compare_command("base", "head", "5%", json_out=True, db=db) == 1
    assert json.loads(capsys.readouterr().out)["regressions"] == 1
    assert compare_command("base", "head", "60%", json_out=True, db=db) == 0
