"""Output paths checked before work, limits with an override, and compare's judgement:
``npubench.outputs``, sweep cell limits and clocks, trace option ranges, compare's intervals,
setups and forcing, zero-result exports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _cli import run_cli
from npubench.errors import ExitStatus, UsageError
from npubench.outputs import check_output_path
from npubench.schema import BenchResult, MeasuredSamples, empty_stages
from npubench.store import ResultStore
from npubench.sweep import run as sweep_run
from npubench.sweep.commands import compare_command, export_command
from npubench.sweep.compare import (
    BASIS_INTERVALS,
    BASIS_THRESHOLD,
    IncomparableRunsError,
    diff_results,
)
from npubench.sweep.spec import SweepSpecError, parse_spec, spec_from_flags

pytestmark = pytest.mark.timeout(120)

# --- output paths ---------------------------------------------------------------------------


def test_output_paths_are_checked_and_folders_created(tmp_path: Path) -> None:
    out = check_output_path(tmp_path / "new" / "deeper" / "r.csv", (".csv", ".json"), "--export")
    assert out.parent.is_dir() and not out.exists()
    assert check_output_path(tmp_path / "figs", (), "--figures").is_dir()
    with pytest.raises(UsageError, match=r"unknown extension \(\.xlsx\)") as info:
        check_output_path(tmp_path / "r.xlsx", (".csv", ".json"), "--export")
    assert ".csv, .json" in (info.value.hint or "") and str(tmp_path / "r.xlsx") in str(info.value)
    (tmp_path / "afile").write_text("x")
    with pytest.raises(UsageError, match="is a file, not a folder"):
        check_output_path(tmp_path / "afile" / "r.csv", (".csv",), "--export")
    with pytest.raises(UsageError, match="is a file, but a folder is expected"):
        check_output_path(tmp_path / "afile", (), "--out")
    with pytest.raises(UsageError, match="is a folder, but a file is expected"):
        check_output_path(tmp_path / "figs", (".html",), "--html")
    with pytest.raises(UsageError, match="does not exist"):
        check_output_path(tmp_path / "missing" / "r.csv", (".csv",), "--export", create=False)


def _store(path: Path, results: list[BenchResult], group: str = "g") -> Path:
    with ResultStore(path) as store:
        for r in results:
            store.add(r, group_id=group)
    return path


def test_bad_output_paths_fail_before_the_store_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing_db = tmp_path / "nothing.sqlite"
    # The export path is wrong, and would be reported before "no results store".
    code, _, err = run_cli(["results", "--db", str(missing_db), "--export", "r.xlsx"], capsys)
    assert code == 2 and "r.xlsx" in err and ".csv, .json, .parquet" in err
    (tmp_path / "blocker").write_text("x")
    for args in (
        ["--out", str(tmp_path / "blocker")],
        ["--html", str(tmp_path / "report.pdf")],
        ["--figures", str(tmp_path / "blocker" / "figs")],
    ):
        code, _, err = run_cli(["report", "--db", str(missing_db), *args], capsys)
        assert code == 2 and "no results store" not in err, (args, err)
    code, _, err = run_cli(["trace", "analyze", "nope.csv", "--plot", "p.gif"], capsys)
    assert code == 2 and ".png, .svg, .pdf" in err


def test_exporting_nothing_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = _store(tmp_path / "r.sqlite", [BenchResult(model="m", target="hx-we2", kind="compiled")])
    out = tmp_path / "o.csv"
    code, _, err = run_cli(
        ["results", "--db", str(db), "--kind", "measured", "--export", str(out)], capsys
    )
    assert code == 2 and "--kind measured" in err and not out.exists()
    with pytest.raises(UsageError, match="group_id=nope"):
        export_command(out, db=db, group_id="nope")
    assert not out.exists()


# --- sweep limits and clocks -----------------------------------------------------------------


def test_sweep_clocks_must_be_finite_and_sane() -> None:
    base = 'models = ["zoo:autoenc"]\ntargets = ["hx-we2"]\n[options]\n'
    for bad in ("inf", "nan", "-inf", "1e9", "0"):
        with pytest.raises(SweepSpecError, match="clock_mhz must be positive numbers"):
            parse_spec(base + f"clock_mhz = [100, {bad}]\n")
    with pytest.raises(SweepSpecError, match="--clock-mhz"):
        spec_from_flags(["zoo:autoenc"], ["hx-we2"], clock_mhz=[float("inf")])
    assert parse_spec(base + "clock_mhz = [50, 400]\n").clock_mhz == (50.0, 400.0)


def test_the_cell_limit_refuses_without_yes(monkeypatch: pytest.MonkeyPatch) -> None:
    sweep_run.check_cell_limit(10, max_cells=10)
    with pytest.raises(UsageError, match="would run 11 cells, more than the limit of 10") as info:
        sweep_run.check_cell_limit(11, max_cells=10)
    assert "--yes" in (info.value.hint or "") and "--max-cells" in (info.value.hint or "")
    sweep_run.check_cell_limit(11, max_cells=10, yes=True)
    assert sweep_run.max_cells_limit() == sweep_run.DEFAULT_MAX_CELLS == 5000
    monkeypatch.setenv(sweep_run.MAX_CELLS_ENV, "3")
    assert sweep_run.max_cells_limit() == 3
    monkeypatch.setenv(sweep_run.MAX_CELLS_ENV, "lots")
    with pytest.raises(UsageError, match="not a whole number"):
        sweep_run.max_cells_limit()


def test_a_large_sweep_starts_nothing_without_yes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = spec_from_flags(
        ["zoo:autoenc", "zoo:resnet"], ["hx-we2", "alif-e7-hp"], kinds=["predict"]
    )
    started: list[object] = []
    monkeypatch.setattr(sweep_run, "_backend_runner", lambda *a: lambda *b, **k: started.append(1))
    db = tmp_path / "r.sqlite"
    with pytest.raises(UsageError, match="would run 4 cells"):
        sweep_run.run_sweep(spec, db=db, max_cells=3)
    assert not started and not db.exists()
    sweep_run.run_sweep(spec, db=db, max_cells=3, yes=True)
    assert started


# --- trace options --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--k-enter", "0"], "--k-enter 0.0 is out of range"),
        (["--k-enter", "inf"], "--k-enter inf is out of range"),
        (["--k-enter", "nan"], "--k-enter nan is out of range"),
        (["--k-enter", "5", "--k-exit", "6"], "--k-exit 6.0 is out of range"),
        (["--k-exit", "-1"], "--k-exit -1.0 is out of range"),
        (["--k-enter", "2"], "below the default --k-exit"),
        (["--direction", "sideways"], "--direction 'sideways' is unknown"),
        (["--voltage", "0"], "--voltage 0.0 is out of range"),
        (["--voltage", "1e6"], "--voltage 1000000.0 is out of range"),
        (["--voltage", "nan"], "--voltage nan is out of range"),
        (["--min-duration-ms", "-3"], "--min-duration-ms -3.0"),
        (["--max-samples", "0"], "--max-samples 0"),
    ],
)
def test_trace_options_are_range_checked_before_reading(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], says: str
) -> None:
    code, _, err = run_cli(["trace", "analyze", str(tmp_path / "none.csv"), *args], capsys)
    assert code == ExitStatus.USAGE and says in err and "no such trace" not in err


# --- compare --------------------------------------------------------------------------------


def predicted(total: float, low: float, high: float, target: str = "hx-we2") -> BenchResult:
    latency = empty_stages()
    latency["total"] = total
    return BenchResult(
        model="mlp",
        target=target,
        kind="predicted",
        latency_us=latency,
        latency_us_low=low,
        latency_us_high=high,
        options={"optimise": "Performance"},
    )


def measured(
    inference: float, ci: tuple[float, float], firmware: str = "f1", clock: float = 100.0
) -> BenchResult:
    latency = empty_stages()
    latency["inference"] = inference
    r = BenchResult(model="mlp", target="hx-we2", kind="measured", latency_us=latency)
    r.details = {"stages": {"inference": {"ci_low": ci[0], "ci_high": ci[1]}}}
    r.samples = MeasuredSamples(
        {"inference": [inference]}, {}, 1, 0, firmware, clock, "dwt; tick_hz=100000000", True
    )
    return r


def test_a_rise_within_overlapping_intervals_is_not_a_regression() -> None:
    c = diff_results([predicted(100, 80, 120)], [predicted(110, 90, 130)], 0.05)
    [m] = [m for m in c.cells[0].metrics if m.name == "total_us"]
    assert m.verdict == "overlap" and m.basis == BASIS_INTERVALS and c.exit_code == 0
    c = diff_results([predicted(100, 95, 105)], [predicted(120, 110, 130)], 0.05)
    assert c.exit_code == 1 and c.regressions[0].metrics[0].verdict == "regression"
    # Measured: per-stage confidence intervals.
    c = diff_results([measured(100, (98, 102))], [measured(110, (99, 121))], 0.05)
    assert c.exit_code == 0
    c = diff_results([measured(100, (98, 102))], [measured(110, (108, 112))], 0.05)
    assert c.exit_code == 1
    # Compiled: no interval, the threshold alone decides (and says so).
    a, b = BenchResult("mlp", "hx-we2", "compiled"), BenchResult("mlp", "hx-we2", "compiled")
    a.latency_us["inference"], b.latency_us["inference"] = 100.0, 106.0
    c = diff_results([a], [b], 0.05)
    assert c.exit_code == 1 and c.regressions[0].metrics[0].basis == BASIS_THRESHOLD


def test_measured_runs_of_another_setup_are_refused_unless_forced(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for other in (measured(100, (98, 102), firmware="f2"), measured(100, (98, 102), clock=50.0)):
        with pytest.raises(IncomparableRunsError, match="not measured the same way") as info:
            diff_results([measured(100, (98, 102))], [other])
        assert info.value.exit_code == ExitStatus.USAGE and "--force" in (info.value.hint or "")
        forced = diff_results([measured(100, (98, 102))], [other], force=True)
        assert forced.forced and forced.warnings and forced.exit_code == 0
    db = tmp_path / "r.sqlite"
    _store(db, [measured(100, (98, 102))], "base")
    _store(db, [measured(100, (98, 102), firmware="f2")], "head")
    with pytest.raises(IncomparableRunsError):
        compare_command("base", "head", db=db)
    assert compare_command("base", "head", db=db, force=True, json_out=True) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["forced"] and "firmware_sha256 f1 vs f2" in data["warnings"][0]
