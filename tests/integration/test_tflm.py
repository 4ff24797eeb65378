"""TFLite Micro checks against the real host TFLM interpreter and LiteRT reference kernels.

The arena figure is checked against a binary search for the smallest arena TFLM accepts; the
crash handling against a model TFLM really aborts on (degenerate softmax quantization), the
worker's os.abort() test flag and a real out-of-arena failure.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from npubench.analysis import tflm
from npubench.analysis.graph import analyze_tflite
from npubench.errors import AnalysisError

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def models(tflite_models: dict[str, Path]) -> dict[str, Path]:
    return tflite_models


def _tflm_accepts(model: Path, arena: int) -> bool:
    try:
        tflm._run_worker(model, arena_bytes=arena)
    except AnalysisError:
        return False
    return True


def test_arena_matches_smallest_working_arena(models):
    model = models["small_convnet"]
    total = tflm.measure_arena(model)
    assert total > 0
    # Binary search for the smallest arena_size with which TFLM loads and runs the model.
    fails, works = total // 2, total
    assert _tflm_accepts(model, works) and not _tflm_accepts(model, fails)
    while works - fails > 1:
        middle = (fails + works) // 2
        if _tflm_accepts(model, middle):
            works = middle
        else:
            fails = middle
    # The reported total includes alignment padding of up to one 16-byte alignment unit,
    # which depends on where the host malloc put the arena.
    assert total - 16 <= works <= total


def test_arena_grows_when_first_guess_is_too_small(models, monkeypatch):
    expected = tflm.measure_arena(models["residual"])
    monkeypatch.setattr(tflm, "_arena_guess", lambda model: 100)  # 100 -> 400 -> 1600 -> 6400
    assert tflm.measure_arena(models["residual"]) == expected


def test_bitexact_on_small_convnet(models):
    report = tflm.check_bitexact(models["small_convnet"], samples=4, seed=0)
    assert report == tflm.BitExactReport(True, 4, 0, None)


def test_run_tflm_matches_litert_reference_and_depends_on_input(models):
    model = models["small_convnet"]
    rng = np.random.default_rng(1)
    inputs = [rng.integers(-128, 128, size=(1, 16, 16, 3), dtype=np.int8) for _ in range(2)]
    first = tflm.run_tflm(model, [inputs[0]])
    second = tflm.run_tflm(model, [inputs[1]])
    assert first[0].shape == (1, 5) and first[0].dtype == np.int8
    assert not np.array_equal(first[0], second[0])  # a comparison of constants proves nothing

    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    ref = Interpreter(str(model), experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    ref.allocate_tensors()
    ref.set_tensor(ref.get_input_details()[0]["index"], inputs[0])
    ref.invoke()
    np.testing.assert_array_equal(first[0], ref.get_tensor(ref.get_output_details()[0]["index"]))


def test_bitexact_reports_a_mismatch(models, monkeypatch):
    real_reference = tflm._run_litert_reference

    def off_by_three(path, batches):
        outputs = real_reference(path, batches)
        value = int(outputs[1][0][0, 2])
        outputs[1][0][0, 2] = value + 3 if value <= 124 else value - 3  # stay inside int8
        return outputs

    monkeypatch.setattr(tflm, "_run_litert_reference", off_by_three)
    report = tflm.check_bitexact(models["small_convnet"], samples=3)
    assert not report.identical
    assert report.max_abs_diff == 3
    assert report.first_mismatch is not None
    assert report.first_mismatch.startswith("sample 1, output 0")
    assert "(0, 2)" in report.first_mismatch


def test_degenerate_quantization_abort_becomes_analysis_error(models):
    # A real TFLM SIGABRT: the softmax input scale is ~1e-8.
    with pytest.raises(AnalysisError, match="TFLM crashed with SIGABRT") as info:
        tflm.check_bitexact(models["degenerate_softmax"], samples=1)
    assert "quantization" in (info.value.hint or "")
    with pytest.raises(AnalysisError, match="SIGABRT"):
        tflm.measure_arena(models["degenerate_softmax"])


def test_litert_reference_runs_out_of_process_too(models):
    # LiteRT's reference softmax aborts on the same model; it must not take pytest with it.
    with pytest.raises(AnalysisError, match=r"LiteRT \(reference kernels\) crashed with SIGABRT"):
        tflm._run_litert_reference(models["degenerate_softmax"], [[np.zeros((1, 8), np.int8)]])


def test_worker_abort_flag_becomes_analysis_error(models):
    with pytest.raises(AnalysisError, match="SIGABRT"):
        tflm._run_worker(models["fc"], abort_for_test=True)


def test_arena_far_too_small_becomes_analysis_error(models):
    with pytest.raises(AnalysisError, match="TFLM") as info:
        tflm._run_worker(models["fc"], arena_bytes=64)
    assert "arena of 64 bytes is too small" in (info.value.hint or "")


def test_analyze_with_tflm_fills_and_caches(models, monkeypatch, tmp_path):
    monkeypatch.setenv("NPUBENCH_CACHE_DIR", str(tmp_path))
    model = models["residual"]
    first = tflm.analyze_with_tflm(model)
    assert first.bit_exact is True
    assert first.tflm_arena_bytes == tflm.measure_arena(model)
    assert first.tflm_arena_bytes >= first.peak_activation_bytes
    assert list((tmp_path / "analysis").rglob("analysis.json"))

    def no_tflm(*args, **kwargs):
        raise AssertionError("TFLM ran although the analysis was cached")

    monkeypatch.setattr(tflm, "_run_worker", no_tflm)
    assert tflm.analyze_with_tflm(model) == first


def test_analyze_with_tflm_caches_only_the_tflm_fields(models, monkeypatch, tmp_path):
    """The graph analysis is recomputed every call; only TFLM's findings come from the cache."""
    monkeypatch.setenv("NPUBENCH_CACHE_DIR", str(tmp_path))
    model = models["small_convnet"]
    real_reference = tflm._run_litert_reference

    def off_by_one(path, batches):
        outputs = real_reference(path, batches)
        outputs[0][0][0, 0] = outputs[0][0][0, 0] + (1 if outputs[0][0][0, 0] < 127 else -1)
        return outputs

    monkeypatch.setattr(tflm, "_run_litert_reference", off_by_one)
    first = tflm.analyze_with_tflm(model)
    assert first.bit_exact is False
    (cached,) = (tmp_path / "analysis").rglob("analysis.json")
    stored = json.loads(cached.read_text())
    assert set(stored) == {"arena_bytes", "bit_exact", "mismatch"}  # no MACs, layers, peak...

    real_analyze = tflm.analyze_tflite

    def changed_analysis_code(path):
        analysis = real_analyze(path)
        analysis.total_macs += 1000  # what a fix in npubench's graph analysis would change
        return analysis

    monkeypatch.setattr(tflm, "analyze_tflite", changed_analysis_code)
    monkeypatch.setattr(tflm, "_run_worker", lambda *a, **k: pytest.fail("TFLM ran again"))
    second = tflm.analyze_with_tflm(model)
    assert second.total_macs == first.total_macs + 1000
    assert (second.tflm_arena_bytes, second.bit_exact) == (first.tflm_arena_bytes, False)
    assert second.notes == first.notes
    assert sum("differs from LiteRT reference" in note for note in second.notes) == 1


def test_analyze_with_tflm_notes_a_tflm_failure(models, monkeypatch, tmp_path):
    monkeypatch.setenv("NPUBENCH_CACHE_DIR", str(tmp_path))

    def crash(*args, **kwargs):
        raise AnalysisError("TFLM crashed with SIGABRT on x.tflite: boom", "hint")

    monkeypatch.setattr(tflm, "_run_worker", crash)
    analysis = tflm.analyze_with_tflm(models["fc"])
    assert analysis.tflm_arena_bytes is None and analysis.bit_exact is None
    assert any("SIGABRT" in note for note in analysis.notes)
    assert not list((tmp_path / "analysis").rglob("analysis.json"))  # failures are not cached
    with pytest.raises(AnalysisError, match="SIGABRT"):
        tflm.analyze_with_tflm(models["fc"], strict=True)


def test_float_model_refused_before_tflm(models):
    with pytest.raises(AnalysisError, match="float"):
        tflm.analyze_with_tflm(models["float_conv"])


def _vela(model: Path, out_dir: Path) -> Path:
    """Compile with the real Vela CLI (default Ethos-U55-256 config) into ``out_dir``."""
    vela = Path(sys.executable).with_name("vela")
    done = subprocess.run(
        [str(vela), str(model), "--output-dir", str(out_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return out_dir


@pytest.mark.parametrize(
    "name", ["conv_same_s2", "conv_valid_dilated", "depthwise", "fc", "residual"]
)
def test_graph_macs_match_vela_nn_macs(models, name, tmp_path):
    # Cross-check of the MAC convention against the real Vela compiler (Vela also counts
    # pooling MACs, so only models without pooling are compared).
    (summary,) = _vela(models[name], tmp_path).glob("*_summary_*.csv")
    row = next(csv.DictReader(summary.open()))
    assert analyze_tflite(models[name]).total_macs == int(row["nn_macs"])


def test_vela_compiled_model_is_explained(models, tmp_path):
    compiled = _vela(models["residual"], tmp_path) / "residual_vela.tflite"
    analysis = analyze_tflite(compiled)
    assert analysis.op_counts() == {"CUSTOM:ethos-u": 1}
    assert any("before Vela" in note for note in analysis.notes)
    with pytest.raises(AnalysisError, match="op code CUSTOM") as info:
        tflm.measure_arena(compiled)
    assert "before Vela" in (info.value.hint or "")
