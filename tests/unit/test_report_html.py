"""The HTML report and the paper figures, on a realistic set of results.

``sample_results()`` builds the kind of result set a real study stores: four models (two of the
MobiCom 2025 paper, two MLPerf Tiny) on five targets, as compiled (Vela), predicted and measured
figures, with a model that does not fit, a target whose compiler is missing (failed), Size and
Performance builds, and an emulator. The Himax WE2 measured stages of yolov1 and simplenet are
the real figures of Millar et al. (``/work/shared/reference/hxwe2_measured_stages.csv``); the
Vela cycles are Vela 4's for the same models; MAC and parameter counts are the published ones.
The other figures (predictions, power, emulator timings) are plausible made-up values: what
these tests check is that every result lands in the right place of the report, not the values.
"""

from __future__ import annotations

import hashlib
import json
import re
import struct
from pathlib import Path

import pytest

from npubench import STAGES
from npubench.errors import NpubenchError
from npubench.report import _views as v
from npubench.report.figures import write_figures
from npubench.report.html import render_html, write_html_report
from npubench.schema import BenchResult, Fidelity, MemoryUse, stage_total

MODELS = {  # name: (MACs, params), from reference/model_facts.csv
    "yolov1": (21_428_928, 40_748),
    "simplenet": (18_498_048, 383_012),
    "kws_dscnn": (2_660_000, 22_600),
    "ad_fc_autoencoder": (264_000, 266_000),
}
FIDELITY = {
    "yolov1": Fidelity(sqnr_db=31.2, top1_agreement=None, max_abs_error=0.041, samples=16),
    "simplenet": Fidelity(sqnr_db=27.5, top1_agreement=0.9375, max_abs_error=0.12, samples=16),
    "kws_dscnn": Fidelity(
        sqnr_db=24.8, top1_agreement=1.0, max_abs_error=0.08, samples=16, calibration="ab12cd34"
    ),
    "ad_fc_autoencoder": Fidelity(sqnr_db=38.9, max_abs_error=0.01, samples=16),
}


def _result(
    model: str,
    target: str,
    kind: str,
    stages: tuple[float | None, ...] = (None, None, None, None, None),
    *,
    status: str = "ok",
    message: str = "",
    optimise: str = "Performance",
    clock: float = 100.0,
    spread: float | None = None,
    fit: dict[str, tuple[int, int | None]] | None = None,
    ops: tuple[int, int] = (0, 0),
    power_mw: float | None = None,
    idle_mw: float | None = None,
    emulator: bool = False,
) -> BenchResult:
    latency: dict[str, float | None] = dict(zip(STAGES, stages, strict=True))
    latency["total"] = stage_total(latency)
    total = latency["total"]
    energy: dict[str, float | None] = {}
    power: dict[str, float | None] = {}
    if power_mw is not None and total is not None:
        power = {"average": power_mw}
        energy = {"total": power_mw * total / 1000.0}  # mW · µs = nJ → µJ / 1000
        if idle_mw is not None:
            energy["net"] = (power_mw - idle_mw) * total / 1000.0
    macs, params = MODELS[model]
    fits = {k: MemoryUse(used, cap) for k, (used, cap) in (fit or {}).items()}
    provenance = {
        "npubench_version": "0.1.0",
        "toolchains": {"vela": "5.2.0", "tensorflow": "2.21.0", "torch": "2.13.0"},
        "host": {"hostname": "bench-01", "platform": "Linux-6.1-x86_64", "python": "3.11.9"},
        "time_utc": "2026-03-02T10:15:00+00:00",
        "model_sha256": hashlib.sha256(model.encode()).hexdigest(),
    }
    if emulator:
        provenance["cycle_accurate"] = False
    details: dict = {"macs": macs, "params": params}
    if kind == "predicted":
        # What predictions record about their basis (npubench.predict.predict.basis_of).
        basis_kind = PREDICTION_BASIS.get(target, "datasheet")
        details |= {
            "basis_kind": basis_kind,
            "basis": f"{basis_kind} parameters for {target}",
            "calibrated": basis_kind == "calibrated",
            "cross_validated": dict(HX_WE2_CV) if basis_kind == "calibrated" else {},
            "mode": "analytical",
        }
        if energy.get("total") is not None and spread is not None:
            e = energy["total"]
            details["energy_uj_intervals"] = {"total": [e * (1 - spread), e * (1 + spread)]}
    return BenchResult(
        model=model,
        target=target,
        kind=kind,  # type: ignore[arg-type]
        status=status,  # type: ignore[arg-type]
        message=message,
        latency_us=latency,
        latency_us_low=None if spread is None or total is None else total * (1 - spread),
        latency_us_high=None if spread is None or total is None else total * (1 + spread),
        memory={
            "sram_bytes": (fit or {}).get("sram", (None, None))[0],
            "flash_bytes": (fit or {}).get("flash", (None, None))[0],
        },
        fit=fits,
        ops={"npu": ops[0], "cpu": ops[1]},
        compiler={"name": "vela", "version": "5.2.0", "cycles": None}
        if kind == "compiled"
        else {"name": None, "version": None, "cycles": None},
        fidelity=FIDELITY[model],
        power_mw=power,
        energy_uj=energy,
        clock_mhz=clock,
        options={"optimise": optimise, "clock_mhz": None, "seed": 0},
        provenance=provenance,
        details=details,
    )


PREDICTION_BASIS = {"hx-we2": "calibrated", "alif-e7-hp": "datasheet", "max78000": "assumption"}
# The WE2 fit's cross-validated ratio errors (predict/params/hx-we2.fitted.toml, [validation]).
HX_WE2_CV = {"cases": 6, "lomo_median": 1.0842, "lomo_worst": 1.1718, "loso_median": 1.1156}

WE2_FIT = {"sram": (187_168, 2_097_152), "flash": (59_360, 16_777_216)}


def sample_results() -> list[BenchResult]:
    r = _result
    return [
        # Himax WE2 (Ethos-U55-64 at 100 MHz): compiled, predicted and measured, two builds.
        r(
            "yolov1",
            "hx-we2",
            "compiled",
            (None, None, 6784.16, None, None),
            fit=WE2_FIT,
            ops=(22, 1),
        ),
        r(
            "yolov1",
            "hx-we2",
            "compiled",
            (None, None, 7222.10, None, None),
            optimise="Size",
            fit={"sram": (52_224, 2_097_152), "flash": (77_984, 16_777_216)},
            ops=(22, 1),
        ),
        r(
            "yolov1",
            "hx-we2",
            "predicted",
            (3350.0, 1080.0, 6950.0, 50.0, 1900.0),
            spread=0.15,
            fit=WE2_FIT,
            ops=(22, 1),
            power_mw=29.0,
            idle_mw=12.0,
        ),
        r(
            "yolov1",
            "hx-we2",
            "predicted",
            (3350.0, 1080.0, 7900.0, 50.0, 1900.0),
            spread=0.15,
            optimise="Size",
            ops=(22, 1),
            power_mw=27.0,
            idle_mw=12.0,
        ),
        r(
            "yolov1",
            "hx-we2",
            "measured",
            (3403.54, 1106.06, 7315.67, 52.23, 1767.14),
            spread=0.01,
            ops=(22, 1),
            power_mw=31.5,
            idle_mw=12.4,
        ),
        r(
            "yolov1",
            "hx-we2",
            "measured",
            (3402.90, 1106.06, 8454.87, 52.23, 1763.42),
            spread=0.01,
            optimise="Size",
            ops=(22, 1),
            power_mw=30.1,
            idle_mw=12.4,
        ),
        r(
            "simplenet",
            "hx-we2",
            "compiled",
            (None, None, 9687.11, None, None),
            fit={"sram": (110_832, 2_097_152), "flash": (367_872, 16_777_216)},
            ops=(16, 1),
        ),
        r(
            "simplenet",
            "hx-we2",
            "predicted",
            (3350.0, 120.0, 7600.0, 12.0, 30.0),
            spread=0.2,
            ops=(16, 1),
            power_mw=30.0,
            idle_mw=12.0,
        ),
        r(
            "simplenet",
            "hx-we2",
            "measured",
            (3404.82, 123.02, 7113.59, 12.49, 28.0),
            spread=0.01,
            ops=(16, 1),
            power_mw=32.2,
            idle_mw=12.4,
        ),
        r(
            "kws_dscnn",
            "hx-we2",
            "predicted",
            (3350.0, 15.0, 610.0, 2.0, 4.0),
            spread=0.2,
            ops=(13, 1),
            power_mw=22.0,
            idle_mw=12.0,
        ),
        r(
            "kws_dscnn",
            "hx-we2",
            "measured",
            (3398.0, 16.1, 702.0, 2.2, 4.4),
            spread=0.02,
            ops=(13, 1),
            power_mw=23.0,
            idle_mw=12.4,
        ),
        r(
            "ad_fc_autoencoder",
            "hx-we2",
            "predicted",
            (3350.0, 21.0, 95.0, 21.0, 9.0),
            spread=0.25,
            ops=(10, 0),
            power_mw=18.0,
            idle_mw=12.0,
        ),
        # Alif E7 high-performance core (Ethos-U55-256 at 400 MHz): compiled and predicted.
        r(
            "yolov1",
            "alif-e7-hp",
            "compiled",
            (None, None, 1021.0, None, None),
            clock=400,
            fit={"sram0": (187_168, 4_194_304), "mram": (59_360, 5_767_168)},
            ops=(22, 1),
        ),
        r(
            "yolov1",
            "alif-e7-hp",
            "predicted",
            (410.0, 160.0, 1090.0, 8.0, 470.0),
            clock=400,
            spread=0.2,
            ops=(22, 1),
            power_mw=96.0,
            idle_mw=41.0,
        ),
        r(
            "simplenet",
            "alif-e7-hp",
            "predicted",
            (410.0, 18.0, 1310.0, 2.0, 8.0),
            clock=400,
            spread=0.2,
            ops=(16, 1),
            power_mw=98.0,
            idle_mw=41.0,
        ),
        r(
            "kws_dscnn",
            "alif-e7-hp",
            "predicted",
            (410.0, 3.0, 120.0, 0.5, 1.0),
            clock=400,
            spread=0.2,
            ops=(13, 1),
            power_mw=80.0,
            idle_mw=41.0,
        ),
        # MAX78000 (CNN accelerator): simplenet's weights do not fit the kernel memory.
        r(
            "simplenet",
            "max78000",
            "predicted",
            status="does_not_fit",
            message="cnn_weights: needs 512000 B of 442368 B",
            fit={"cnn_weights": (512_000, 442_368), "cnn_data": (131_072, 524_288)},
            clock=50,
        ),
        r(
            "kws_dscnn",
            "max78000",
            "predicted",
            (1200.0, 390.0, 180.0, 5.0, 3.0),
            clock=50,
            spread=0.3,
            fit={"cnn_weights": (96_000, 442_368), "cnn_data": (40_960, 524_288)},
            ops=(9, 0),
            power_mw=21.0,
            idle_mw=3.2,
        ),
        # NXP MCX N947: no compiler installed here, so the run failed.
        r(
            "yolov1",
            "mcxn947",
            "compiled",
            status="failed",
            clock=150,
            message="no compiler for mcxn947 (neutron-converter) is installed here",
        ),
        # QEMU Cortex-M55: measured on an emulator (CPU only; not cycle-accurate).
        r(
            "kws_dscnn",
            "qemu-cortex-m55",
            "measured",
            (850.0, 40.0, 41000.0, 6.0, 15.0),
            clock=32,
            ops=(0, 14),
            emulator=True,
        ),
        r(
            "ad_fc_autoencoder",
            "qemu-cortex-m55",
            "measured",
            (820.0, 60.0, 5200.0, 55.0, 12.0),
            clock=32,
            ops=(0, 11),
            emulator=True,
        ),
    ]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    path = write_html_report(
        sample_results(), tmp_path_factory.mktemp("report") / "sub" / "report.html", "Study"
    )
    return path, path.read_text(encoding="utf-8")


def plotly_bundle(text: str) -> str:
    """plotly.js as the report inlines it (gzip-compressed, base64-encoded)."""
    import base64
    import gzip

    match = re.search(r'<script type="application/octet-stream" id="npb-plotly"[^>]*>(.*?)<', text)
    assert match, "no inlined plotly.js"
    return gzip.decompress(base64.b64decode(match.group(1))).decode("utf-8")


def figure_payload(text: str) -> dict[str, dict]:
    """The plotly figures the report embeds, by div id."""
    match = re.search(r"var figures = (\[.*?\]);\n", text, re.S)
    assert match, "no figure payload in the report"
    return {f["id"]: f for f in json.loads(match.group(1))}


def test_one_self_contained_file(report: tuple[Path, str]) -> None:
    path, text = report
    assert sorted(p.name for p in path.parent.iterdir()) == ["report.html"]
    assert text.startswith("<!DOCTYPE html>")
    # plotly.js is inlined (gzip + base64, unpacked by the browser), nothing is fetched: no
    # external scripts, styles, images or frames.
    assert "plotly.js v" in plotly_bundle(text)
    assert len(text) < 3_000_000  # the compressed bundle keeps the page small
    assert not re.search(r"<script[^>]*\bsrc\s*=", text, re.I)
    assert not re.search(r"<link\b", text, re.I)
    assert not re.search(r"<(img|iframe|object|embed)\b[^>]*\bsrc\s*=\s*[\"']?https?:", text, re.I)
    assert not re.search(r"url\(\s*[\"']?https?:", text, re.I)
    assert "@import" not in text
    # Every link of the page's own markup (inline scripts aside: plotly.js holds its licence
    # and logo URLs as strings) is an anchor inside the page.
    markup = re.sub(r"<script[^>]*>.*?</script>", "", text, flags=re.S)
    assert len(markup) < len(text) / 10
    hrefs = re.findall(r'href="([^"]*)"', markup)
    assert hrefs and all(h.startswith("#") for h in hrefs), hrefs
    assert "http" not in markup


def test_sections_models_and_targets_present(report: tuple[Path, str]) -> None:
    _, text = report
    for section in (
        "headline",
        "spec",
        "origins",
        "summary",
        "emulators",
        "prediction",
        "fidelity",
        "provenance",
    ):
        assert f'<section id="{section}">' in text
    # The headline comes first, before any other section.
    assert text.index("<section") == text.index('<section id="headline">')
    assert 'id="plot-scaling"' in text
    for model in MODELS:
        assert f'id="model-{model}"' in text
    for target in ("hx-we2", "alif-e7-hp", "max78000", "mcxn947", "qemu-cortex-m55"):
        assert f"<td>{target}</td>" in text  # in the static summary table
    assert "<title>Study</title>" in text


def test_every_figure_has_title_caption_and_axis_units(report: tuple[Path, str]) -> None:
    _, text = report
    figures = figure_payload(text)
    captions = re.findall(
        r'<div class="plot" id="(plot-[^"]+)".*?<figcaption>(.*?)</figcaption>', text, re.S
    )
    assert {c[0] for c in captions} == set(figures)
    for fid, caption in captions:
        assert len(caption) > 80, fid
    for fid, fig in figures.items():
        layout = fig["layout"]
        assert layout["title"]["text"], fid
        axis_titles = [a["title"]["text"] for k, a in layout.items() if k.startswith("xaxis")]
        axis_titles += [a["title"]["text"] for k, a in layout.items() if k.startswith("yaxis")]
        # At least one axis per figure states a unit: (ms), (µJ), (mW), (%), (dB), (count)...
        assert any(
            re.search(r"\((ms|µJ|mW|%|dB|count|millions|% of capacity|GMAC/s)\)", t)
            for t in axis_titles
        ), (fid, axis_titles)
        assert layout["width"] <= 700  # fits an A4 page


def test_stage_figure_has_every_result_of_the_model(report: tuple[Path, str]) -> None:
    figures = figure_payload(report[1])
    fig = figures["plot-stages-yolov1"]
    stage_traces = [t for t in fig["data"] if t["type"] == "bar"]
    assert [t["name"] for t in stage_traces] == [v.STAGE_LABELS[s] for s in STAGES]
    targets, kinds = stage_traces[0]["x"]
    expected = [(r.target, r.kind) for r in sample_results() if r.model == "yolov1"]
    assert sorted(zip(targets, [k.split("<br>")[0] for k in kinds], strict=True)) == sorted(
        expected
    )
    # Size and Performance builds of one target and kind are told apart.
    assert "measured<br>Size" in kinds and "measured<br>Performance" in kinds
    # The measured Performance inference stage is the WE2 figure, in ms.
    inference = stage_traces[2]
    i = [(t, k) for t, k in zip(targets, kinds, strict=True)].index(
        ("hx-we2", "measured<br>Performance")
    )
    assert inference["y"][i] == pytest.approx(7.31567)
    # The failed target is labelled, and the error bar spans the stored interval.
    status = next(t for t in fig["data"] if t.get("name") == "status")
    assert status["text"][targets.index("mcxn947")] == "failed"
    total = next(t for t in fig["data"] if t.get("name") == "total (interval)")
    assert total["error_y"]["array"][i] == pytest.approx(0.01 * total["y"][i])


def test_does_not_fit_is_shown(report: tuple[Path, str]) -> None:
    _, text = report
    figures = figure_payload(text)
    mem = figures["plot-memory-simplenet"]["data"][0]
    row = mem["y"].index("max78000 · cnn_weights")
    assert mem["x"][row] == pytest.approx(100 * 512_000 / 442_368)
    assert mem["marker"]["color"][row] == v.DOES_NOT_FIT_COLOUR
    assert "DOES NOT FIT" in mem["text"][row]
    fitting = mem["y"].index("hx-we2 · sram")
    assert mem["marker"]["color"][fitting] == v.FITS_COLOUR
    status = next(t for t in figures["plot-stages-simplenet"]["data"] if t["name"] == "status")
    assert "does not fit" in status["text"]
    assert "does not fit: cnn_weights: needs 512000 B of 442368 B" in text


def test_prediction_errors(report: tuple[Path, str]) -> None:
    _, text = report
    pairs = v.prediction_pairs(sample_results())
    assert sorted(p.label for p in pairs) == [
        "kws_dscnn · hx-we2",
        "simplenet · hx-we2",
        "yolov1 · hx-we2 Performance",
        "yolov1 · hx-we2 Size",
    ]
    kws = next(p for p in pairs if p.model == "kws_dscnn")
    assert kws.error_pct("inference") == pytest.approx(100 * (610.0 - 702.0) / 702.0)
    assert "-13.1% (0.610 vs 0.702 ms)" in text
    scatter = figure_payload(text)["plot-pred-vs-meas"]["data"]
    points = [t for t in scatter if t["mode"] == "markers+text"]
    assert sum(len(t["x"]) for t in points) == 4


def test_scaling_lines_per_target_and_kind() -> None:
    series = {s.label: s for s in v.scaling_series(sample_results())}
    measured = series["hx-we2 (measured)"]
    assert [p.model for p in measured.points] == ["kws_dscnn", "simplenet", "yolov1"]
    # Where Size and Performance builds exist, the line follows the Performance build.
    assert measured.points[-1].inference_us == pytest.approx(7315.67)
    # The failed and the does-not-fit results draw no point.
    assert "mcxn947 (compiled)" not in series
    assert [p.model for p in series["max78000 (predicted)"].points] == ["kws_dscnn"]


def test_kinds_and_emulators_are_stated(report: tuple[Path, str]) -> None:
    _, text = report
    origins = text[text.index('<section id="origins">') : text.index('<section id="summary">')]
    assert "Emulator timings are not cycle-accurate" in origins
    assert "qemu-cortex-m55" in origins.split("come from an emulator")[0]
    for kind in ("compiled", "predicted", "measured"):
        assert f'k-{kind}">{kind}</span>' in origins
    emulators = [o.target for o in v.target_origins(sample_results()) if o.emulator]
    assert emulators == ["qemu-cortex-m55"]


def test_emulator_known_from_the_catalogue_without_provenance_flag() -> None:
    r = _result("kws_dscnn", "qemu-cortex-m55", "measured", (1.0, 1.0, 1.0, 1.0, 1.0))
    assert v.is_emulator(r)  # kind = "emulator" in the board file
    unknown = _result("kws_dscnn", "my-lab-board", "measured", (1.0, 1.0, 1.0, 1.0, 1.0))
    assert not v.is_emulator(unknown)
    unknown.provenance["cycle_accurate"] = False
    assert v.is_emulator(unknown)


def test_provenance_and_fidelity_tables(report: tuple[Path, str]) -> None:
    _, text = report
    prov = text[text.index('<section id="provenance">') :]
    # De-duplicated: each toolchain string and host once, with the results it applies to.
    assert prov.count("bench-01, Linux-6.1-x86_64, 3.11.9") == 1
    assert prov.count("vela 5.2.0 (used); tensorflow 2.21.0") == 1
    assert "2026-03-02T10:15:00" in prov
    assert prov.count("<tr>") < len(sample_results())
    fid = figure_payload(text)["plot-fidelity"]["data"]
    assert fid[0]["x"] == ["yolov1", "simplenet", "kws_dscnn (cal.)", "ad_fc_autoencoder"] or set(
        fid[0]["x"]
    ) == {"yolov1", "simplenet", "kws_dscnn (cal.)", "ad_fc_autoencoder"}
    assert dict(zip(fid[1]["x"], fid[1]["y"], strict=True))["simplenet"] == pytest.approx(93.75)


def test_empty_and_awkward_inputs(tmp_path: Path) -> None:
    text = render_html([])
    assert "No result with both a MAC count and a latency" in text
    nan = _result("kws_dscnn", "hx-we2", "measured", (1.0, float("nan"), 3.0, 4.0, 5.0))
    assert "NaN" not in figure_payload(render_html([nan])).__repr__()
    with pytest.raises(NpubenchError, match="is a directory"):
        write_html_report(sample_results(), tmp_path)


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def test_write_figures(tmp_path: Path) -> None:
    # Two models keep this fast and still hold every kind of figure: a failed target, a
    # does-not-fit one, Size/Performance builds, prediction/measurement pairs.
    results = [r for r in sample_results() if r.model in ("yolov1", "simplenet")]
    written = write_figures(results, tmp_path / "figs")
    names = {p.name for p in written}
    stems = ["spec_silicon", "scaling", "pred_vs_meas", "pred_error", "fidelity"]
    for model in ("yolov1", "simplenet"):
        stems += [f"{kind}_{model}" for kind in ("stages", "shares", "energy", "memory", "ops")]
    assert names == {f"{stem}.{fmt}" for stem in stems for fmt in ("png", "svg")}
    for p in written:
        assert p.stat().st_size > 5000, p
    width, _ = _png_size(tmp_path / "figs" / "stages_yolov1.png")
    assert 1300 <= width <= 1400  # 170 mm at 200 dpi
    svg = (tmp_path / "figs" / "memory_simplenet.svg").read_text()
    assert "does not fit" in svg and "capacity" in svg
    assert "failed" in (tmp_path / "figs" / "stages_yolov1.svg").read_text()
    with pytest.raises(NpubenchError, match="unknown figure format"):
        write_figures(results, tmp_path, formats=("gif",))


def test_no_memory_figure_without_fit_figures(tmp_path: Path) -> None:
    # The autoencoder has only predicted and emulator results, none with memory fit figures.
    results = [r for r in sample_results() if r.model == "ad_fc_autoencoder"]
    names = {p.name for p in write_figures(results, tmp_path, formats=("png",))}
    assert "stages_ad_fc_autoencoder.png" in names
    assert "memory_ad_fc_autoencoder.png" not in names


def sample_validation() -> dict:
    """What `npubench validate --json` prints: rows and per-board summaries."""
    rows = []
    for board, model, measured, predicted, lomo in (
        ("hx-we2", "zoo:yolov1", 7315.67, 7226.0, 7500.0),
        ("hx-we2", "zoo:simplenet", 7113.59, 7512.0, 7900.0),
        ("hx-we2", "zoo:kws_dscnn", 702.0, 610.0, 560.0),
        ("alif-e7-hp", "zoo:yolov1", 1180.0, 1962.0, None),
    ):
        rows.append(
            {
                "id": f"{board}-{model}",
                "board": board,
                "family": "ethos-u",
                "model": model,
                "clock_mhz": 100.0,
                "measured_us": measured,
                "predicted_us": predicted,
                "low_us": predicted * 0.9,
                "high_us": predicted * 1.1,
                "basis": "calibrated" if board == "hx-we2" else "datasheet",
                "analysis": "int8",
                "lomo_us": lomo,
                "loso_us": None if lomo is None else lomo * 1.02,
                "ratio": predicted / measured,
            }
        )
    boards = [
        {
            "scope": "hx-we2",
            "n": 3,
            "in_sample": {"n": 3, "median": 1.06, "worst": 1.15},
            "lomo": {"n": 3, "median": 1.08, "worst": 1.25},
            "loso": {"n": 3, "median": 1.11, "worst": 1.25},
            "coverage": 2 / 3,
        }
    ]
    return {"rows": rows, "boards": boards, "families": [], "excluded": [], "notes": []}


def test_validation_section(tmp_path: Path) -> None:
    text = write_html_report(
        sample_results(), tmp_path / "r.html", validation=sample_validation()
    ).read_text(encoding="utf-8")
    section = text[text.index('<section id="validation">') : text.index('<section id="fidelity">')]
    assert 'id="plot-validation"' in section and "Prediction fidelity" in section
    assert section.count("<tr>") == 1 + 4 + 1 + 1  # rows table (head + 4), boards (head + 1)
    assert "<strong>no</strong>" in section  # alif-e7-hp's measurement is outside its interval
    fig = figure_payload(text)["plot-validation"]
    filled = [t for t in fig["data"] if t.get("error_y")]
    assert sum(len(t["x"]) for t in filled) == 4
    # Without validation data there is no such section.
    assert '<section id="validation">' not in render_html(sample_results())
