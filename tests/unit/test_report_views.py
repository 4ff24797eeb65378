"""The view layer every report draws from: bases, the headline, spec against silicon, the
figure plan (every figure kind has a plotly builder, a matplotlib drawer and a data table)."""

from __future__ import annotations

import copy
import sys
from pathlib import Path

import pytest

from npubench.report import _plotly as pl
from npubench.report import _views as v
from npubench.report import figures
from npubench.schema import BenchResult

sys.path.insert(0, str(Path(__file__).parent))
from test_report_html import _result, sample_results, sample_validation


def _predicted(target: str, basis_kind: str | None, cv: dict | None = None) -> BenchResult:
    r = _result("kws_dscnn", target, "predicted", (1.0, 1.0, 1.0, 1.0, 1.0))
    r.details = {"macs": 1, "basis": "why", "cross_validated": cv or {}}
    if basis_kind is not None:
        r.details["basis_kind"] = basis_kind
    return r


def test_basis_badges() -> None:
    compiled = _result("yolov1", "corstone-300", "compiled", (None, None, 1.0, None, None))
    # corstone-300 is an emulated board, but Vela's estimate is a compiled figure.
    assert v.basis(compiled).code == "comp"
    assert v.basis(compiled).label == "compiled (Vela)"
    assert not v.is_emulator(compiled)
    cv = {"lomo_median": 1.0842, "lomo_worst": 1.1718}
    cal = v.basis(_predicted("hx-we2", "calibrated", cv))
    assert (cal.code, cal.label) == ("cal", "calibrated prediction ±8%")
    assert "worst 17%" in cal.detail and cal.error_pct == pytest.approx(8.42)
    assert v.basis(_predicted("hx-we2", "calibrated")).label == "calibrated prediction"
    assert v.basis(_predicted("x", "calibrated-family")).code == "cal-fam"
    assert v.basis(_predicted("x", "datasheet")).label == "datasheet prediction"
    assert v.basis(_predicted("x", "assumption")).label == "assumption"
    assert v.basis(_predicted("x", None)).code == "pred"  # stored before bases were recorded
    measured = _result("kws_dscnn", "hx-we2", "measured", (1.0, 1.0, 1.0, 1.0, 1.0))
    assert v.basis(measured).label == "measured"
    emu = _result("kws_dscnn", "qemu-cortex-m55", "measured", (1.0, 1.0, 1.0, 1.0, 1.0))
    assert v.basis(emu).code == "emu"
    assert set(v.BASIS_MEANING) == set(v.BASIS_CODES) == set(v.BASIS_SYMBOLS)


def test_headline_ranks_boards_with_basis_and_verdict() -> None:
    heads = {h.model: h for h in v.headlines(sample_results())}
    kws = heads["kws_dscnn"]
    # Measured beats predicted on hx-we2; the emulator is listed apart, never ranked.
    assert [(r.target, r.basis.code) for r in kws.latency] == [
        ("alif-e7-hp", "ds"),
        ("max78000", "asm"),
        ("hx-we2", "meas"),
    ]
    assert [r.rank for r in kws.latency] == [1, 2, 3]
    assert [r.target for r in kws.emulated] == ["qemu-cortex-m55"]
    assert kws.latency[2].value == pytest.approx(3398.0 + 16.1 + 702.0 + 2.2 + 4.4)
    assert kws.latency[1].verdict == "fits (cnn_weights 22%)"
    # Energy has its own order (max78000 draws the least).
    assert [r.target for r in kws.energy] == ["max78000", "alif-e7-hp", "hx-we2"]
    assert kws.energy[0].low is not None  # the prediction's energy interval
    # What decides: the leader's gap is mostly init, and init dominates every board.
    assert kws.sentence.startswith("alif-e7-hp leads max78000 by 1.2 ms")
    assert "of it init" in kws.sentence and "init dominates on every board" in kws.sentence
    simplenet = heads["simplenet"]
    assert [u.target for u in simplenet.unranked] == ["max78000"]
    assert simplenet.unranked[0].reason.startswith("does not fit: cnn_weights")
    yolo = heads["yolov1"]
    assert [u.target for u in yolo.unranked] == ["mcxn947"]
    assert "failed" in yolo.unranked[0].reason
    # Of hx-we2's Size and Performance measurements the faster is picked, and named.
    we2 = next(r for r in yolo.latency if r.target == "hx-we2")
    assert (we2.basis.code, we2.variant) == ("meas", "Performance")


def test_sentence_names_memory_io_and_compiled_only() -> None:
    io_bound = _result("kws_dscnn", "hx-we2", "measured", (100.0, 900.0, 400.0, 300.0, 10.0))
    other = _result("kws_dscnn", "alif-e7-hp", "measured", (100.0, 50.0, 2000.0, 50.0, 10.0))
    (head,) = v.headlines([io_bound, other])
    assert "memory I/O exceeds inference on hx-we2 (1.2 ms against 0.4 ms)" in head.sentence
    compiled = [
        _result("kws_dscnn", t, "compiled", (None, None, us, None, None))
        for t, us in (("hx-we2", 700.0), ("alif-e7-hp", 120.0))
    ]
    (head,) = v.headlines(compiled)
    assert [r.complete for r in head.latency] == [False, False]
    assert "inference estimate alone" in head.sentence


def test_intervals_overlap_is_said() -> None:
    a = _result("kws_dscnn", "hx-we2", "predicted", (1.0, 1.0, 1000.0, 1.0, 1.0), spread=0.3)
    b = _result("kws_dscnn", "alif-e7-hp", "predicted", (1.0, 1.0, 1100.0, 1.0, 1.0), spread=0.3)
    (head,) = v.headlines([a, b])
    assert "intervals overlap" in head.sentence


def test_datasheet_peaks() -> None:
    we2 = v.peak("hx-we2", 100.0)
    assert we2.macs_per_s == pytest.approx(64 * 100e6)
    assert "64 MACs/cycle × 100 MHz" in we2.how
    # A vendor peak (GOPS, at the NPU's top clock) is halved and scaled to the clock used.
    rv = v.peak("rv1106", 420.0)
    assert rv.macs_per_s == pytest.approx(500e9 / 2)
    assert "GOPS / 2" in rv.how
    cpu = v.peak("stm32h747", None)
    assert cpu.macs_per_s is None and cpu.how == "no NPU peak (CPU board)"
    assert v.peak("no-such-board", 100.0).macs_per_s is None


def test_spec_against_silicon_prefers_measured_then_compiled() -> None:
    spec = {b.target: b for b in v.spec_silicon(sample_results())}
    assert "qemu-cortex-m55" not in spec  # emulator timings say nothing about silicon
    we2 = {a.model: a for a in spec["hx-we2"].achieved}
    assert we2["yolov1"].basis.code == "meas"
    assert we2["yolov1"].macs_per_s == pytest.approx(21_428_928 / 7315.67e-6)
    assert we2["yolov1"].utilisation == pytest.approx(we2["yolov1"].macs_per_s / 6.4e9)
    alif = {a.model: a for a in spec["alif-e7-hp"].achieved}
    assert alif["yolov1"].basis.code == "comp"  # compiled before predicted
    assert alif["simplenet"].basis.code == "ds"  # only a prediction
    assert alif["yolov1"].peak.clock_mhz == 400.0  # the clock the figure is for


def test_ideal_scaling_and_slope() -> None:
    points = [
        v.ScalingPoint("a", 1e6, 1000.0, 5000.0),
        v.ScalingPoint("b", 1e7, 10000.0, 6000.0),
    ]
    assert v.ideal_line(points, "total_us") == [(1e6, 600.0), (1e7, 6000.0)]
    assert v.scaling_slope(points, "inference_us") == pytest.approx(1.0)
    assert v.scaling_slope(points, "total_us") == pytest.approx(0.0792, abs=1e-3)
    assert v.ideal_line(points[:1], "total_us") == []


def test_log_axes_past_10x() -> None:
    assert v.log_axis([1.0, 11.0]) and not v.log_axis([1.0, 9.0])
    assert not v.log_axis([None, 0.0, 5.0])


def test_stage_and_share_views_keep_emulators_apart() -> None:
    plans = v.figure_plan(sample_results(), sample_validation())
    by_key = {p.key: p for p in plans}
    kws = by_key["stages-kws_dscnn"]
    assert all(not v.is_emulator(b.entry.result) for b in kws.view)
    emu = by_key["emulator-stages"]
    assert {b.entry.target for b in emu.view} == {"qemu-cortex-m55"}
    assert not emu.log  # 6 ms to 42 ms: under 10x, a linear axis
    shares = by_key["shares-kws_dscnn"].view
    assert [r.target for r in shares] == ["alif-e7-hp", "max78000", "hx-we2"]
    for row in shares:
        assert sum(row.share(g) for g in v.SHARE_GROUPS) == pytest.approx(100.0)


def test_every_figure_kind_is_drawn_by_every_renderer() -> None:
    assert set(pl.BUILDERS) == set(v.FIGURE_KINDS) == set(figures.DRAWERS)
    plans = v.figure_plan(sample_results(), sample_validation())
    assert {p.kind for p in plans} == set(v.FIGURE_KINDS)  # the sample holds every kind
    assert len({p.key for p in plans}) == len(plans) and len({p.stem for p in plans}) == len(plans)
    for plan in plans:
        spec = pl.build(plan)
        assert spec.key == plan.key and spec.title == plan.title and spec.data, plan.key
        headers, rows = v.figure_table(plan)
        assert rows and all(len(r) == len(headers) for r in rows), plan.key


def test_validation_points() -> None:
    points = v.validation_points(sample_validation())
    assert [p.model for p in points][:1] == ["yolov1"]  # "zoo:" dropped
    alif = next(p for p in points if p.board == "alif-e7-hp")
    assert alif.inside is False and alif.lomo_us is None
    assert v.validation_points(sample_validation()["rows"]) == points  # the rows alone
    assert v.validation_points({"rows": [{"board": "x"}]}) == []  # no measurement
    assert v.validation_points(None) == []


def test_provenance_is_deduplicated() -> None:
    results = sample_results()
    groups = v.provenance_groups(results)
    hosts = [g for g in groups if g.what == "host"]
    assert len(hosts) == 1 and len(hosts[0].applies_to) == len(results)
    used = [g for g in groups if g.what == "toolchains" and "(used)" in g.value]
    assert len(used) == 1  # every compiled result shares one toolchain string
    assert all("compiled" in label for label in used[0].applies_to)
    models = v.model_provenance(results)
    assert [m.model for m in models] == sorted({r.model for r in results})


def test_plotly_text_is_escaped() -> None:
    evil = "<img src=x onerror=alert(1)>"
    results = []
    for r in sample_results():
        if r.model == "kws_dscnn":
            r = copy.deepcopy(r)
            r.model = evil
            results.append(r)
    plans = v.figure_plan(results)
    for plan in plans:
        spec = pl.build(plan)
        text = repr(spec.data) + repr(spec.layout)
        assert evil not in text, plan.key
    stage = pl.build(next(p for p in plans if p.kind == "stages"))
    assert stage.layout["title"]["text"].startswith("&lt;img src=x onerror=alert(1)&gt;")
