"""End to end through the CLI: real onnx2tf + TensorFlow quantization, TFLM and Vela, the store,
the JSON schema and the reports, on the study's smallest model (zoo:autoenc)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from _cli import run_cli
from npubench import STAGES
from npubench.store import ResultStore

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, cache_dir: Path) -> None:
    monkeypatch.setenv("NPUBENCH_CACHE_DIR", str(cache_dir))


def test_bench_json_store_and_report(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "r.sqlite"
    code, out, err = run_cli(
        [
            "bench",
            "-m",
            "zoo:autoenc",
            "-t",
            "hx-we2",
            "--optimise",
            "Size",
            "--db",
            str(db),
            "--json",
            "--report",
            str(tmp_path / "rep"),
        ],
        capsys,
    )
    assert code == 0, err
    results = json.loads(out)
    compiled = next(r for r in results if r["kind"] == "compiled")
    predicted = next(r for r in results if r["kind"] == "predicted")

    # Real Vela figures at the board's 100 MHz.
    assert compiled["compiler"]["name"] == "vela" and compiled["compiler"]["version"] == "5.2.0"
    assert compiled["clock_mhz"] == 100.0
    cycles = compiled["compiler"]["cycles"]
    assert cycles > 1000
    assert compiled["latency_us"]["inference"] == pytest.approx(cycles / 100.0, rel=1e-3)
    assert set(compiled["latency_us"]) == {*STAGES, "total"}
    assert compiled["latency_us"]["init"] is None  # Vela knows nothing of set-up
    assert compiled["memory"]["sram_bytes"] > 0 and compiled["memory"]["flash_bytes"] > 0
    assert compiled["ops"]["npu"] > 0 and compiled["ops"]["cpu"] == 0
    assert compiled["fits"] is True
    assert compiled["options"]["optimise"] == "Size"

    # Quantization fidelity measured and the calibration recorded as synthetic.
    assert compiled["fidelity"]["sqnr_db"] is not None and compiled["fidelity"]["sqnr_db"] > 10
    assert compiled["fidelity"]["calibration"] == "synthetic"
    # Graph analysis and the TFLM checks.
    assert compiled["details"]["macs"] == pytest.approx(201984, rel=0.02)
    assert compiled["details"]["tflm_arena_bytes"] > 0
    # TFLM against LiteRT's reference kernels: a real check, whose answer is recorded with the
    # first mismatch when they differ (on autoenc they differ by 1 LSB in the last FC layer).
    bit_exact = compiled["details"]["tflm_bit_exact"]
    assert isinstance(bit_exact, bool)
    if not bit_exact:
        assert any("LSB" in note for note in compiled["details"]["analysis_notes"])
    # Provenance: versions, hashes, host, time.
    prov = compiled["provenance"]
    assert prov["toolchains"]["vela"] == "5.2.0" and prov["npubench_version"]
    assert len(prov["model_sha256"]) == 64 and prov["host"]["hostname"] and prov["time_utc"]

    # The calibrated prediction fills all five stages with an interval.
    assert all(predicted["latency_us"][s] is not None for s in (*STAGES, "total"))
    assert predicted["latency_us_low"] <= predicted["latency_us"]["total"]
    assert predicted["latency_us"]["total"] <= predicted["latency_us_high"]
    assert predicted["energy_uj"]["total"] > predicted["energy_uj"]["net"] > 0

    with ResultStore(db) as store:
        kinds = sorted(s.result.kind for s in store.query(model="autoenc"))
    assert kinds == ["compiled", "predicted"]
    md = (tmp_path / "rep" / "report.md").read_text()
    assert "autoenc" in md and "hx-we2" in md
    assert "inference_us" in (tmp_path / "rep" / "report.csv").read_text()

    # A second run reuses the cached artifacts.
    code, out, _ = run_cli(
        [
            "bench",
            "-m",
            "zoo:autoenc",
            "-t",
            "hx-we2",
            "--optimise",
            "Size",
            "--db",
            str(db),
            "--json",
        ],
        capsys,
    )
    assert code == 0
    again = next(r for r in json.loads(out) if r["kind"] == "compiled")
    assert again["compiler"]["cached"] is True
    assert again["compiler"]["cycles"] == cycles

    code, out, _ = run_cli(["report", "--db", str(db), "--format", "md"], capsys)
    assert code == 0
    assert "## autoenc" in out and "| target |" in out and "hx-we2" in out


def test_predict_all_targets_goes_on_past_misfits(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_cli(
        ["predict", "-m", "zoo:autoenc", "-t", "all", "--analytical", "--no-store", "--json"],
        capsys,
    )
    assert code == 0, err
    results = json.loads(out)
    from npubench.targets import target_names

    assert sorted(r["target"] for r in results) == target_names()
    for r in results:
        assert r["kind"] == "predicted"
        assert "fits" in r and "fit" in r and "placement" in r
        if r["status"] == "ok":
            assert r["latency_us"]["total"] is not None
            assert r["latency_us_low"] <= r["latency_us"]["total"] <= r["latency_us_high"]
        else:
            assert r["message"], r["target"]


def test_unknown_target_and_bad_model_are_clear(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "r.sqlite"
    code, _, err = run_cli(["bench", "-m", "zoo:autoenc", "-t", "hx-we3", "--db", str(db)], capsys)
    assert code == 2 and "hx-we2" in err
    bad = tmp_path / "model.onnx"
    bad.write_text("this is not an ONNX model")
    code, _, err = run_cli(["bench", "-m", str(bad), "-t", "hx-we2", "--db", str(db)], capsys)
    assert code == 2 and "model.onnx" in err and "hint" in err
    code, _, err = run_cli(
        ["bench", "-m", str(tmp_path / "missing.tflite"), "-t", "hx-we2", "--db", str(db)], capsys
    )
    assert code == 2 and "missing.tflite" in err
