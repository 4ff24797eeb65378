"""The HTML report drawn by a real browser: headless Chromium, offline, at 1,280 × 800.

The report of ``sample_results()`` (tests/unit/test_report_html.py) is opened from a file with
every host name resolving to nothing, so a figure that needed the network would stay blank. A
probe script appended to a copy of the report waits until the page says its figures are drawn
(plotly.js is unpacked from the page itself), then counts what each figure's SVG actually holds
(bar shapes, markers, lines, fills), where the headline sits, which elements reach past the
1,280 px viewport, and what sorting and filtering a table does; the counts are checked against
numbers taken from the results themselves, not from the report. A second report, of results
whose model, board and file names are HTML (``<img src=x onerror=alert(1)>``), must show
those names as text and create no element from them. One Chromium run also takes a screenshot
of the first screen, checked for being a real rendering (not a blank page).

Needs Debian's ``chromium`` package (``apt-get install chromium``); skipped without it.
"""

from __future__ import annotations

import copy
import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from npubench import STAGES
from npubench.report import _views as v
from npubench.report.html import write_html_report

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from test_report_html import sample_results, sample_validation

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        CHROMIUM is None, reason="chromium not installed: apt-get install -y chromium"
    ),
]

VERMILION = "rgb(213, 94, 0)"  # the does-not-fit colour

_PROBE = """
<script>
(function () {
  function collect() {
    var out = {figures: {}, state: document.documentElement.getAttribute('data-figures')};
    document.querySelectorAll('div.plot').forEach(function (div) {
      var drawn = function (sel) {
        return Array.from(div.querySelectorAll(sel)).filter(function (p) {
          var d = p.getAttribute('d');
          return d && d !== 'M0,0Z';
        });
      };
      // plotly keeps a zero-height path for a missing value: count only bars with an area.
      var bars = drawn('g.trace.bars g.point path').filter(function (p) {
        var box = p.getBBox();
        return box.width > 0 && box.height > 0;
      });
      out.figures[div.id] = {
        svg: div.querySelectorAll('svg.main-svg').length,
        traces: div.querySelectorAll('g.trace').length,
        barTraces: div.querySelectorAll('g.trace.bars').length,
        bars: bars.length,
        barPaths: div.querySelectorAll('g.trace.bars g.point path').length,
        barFills: bars.map(function (p) { return p.style.fill; }),
        markers: drawn('g.trace.scatter path.point').length,
        lines: drawn('g.trace.scatter path.js-line').length,
        legend: Array.from(div.querySelectorAll('g.legend text.legendtext'))
          .map(function (t) { return t.textContent; }),
        title: (div.querySelector('text.gtitle') || {}).textContent || '',
        ticks: Array.from(div.querySelectorAll('g.xtick text, g.ytick text, g.x2tick text'))
          .map(function (t) { return t.textContent; })
      };
    });
    var width = window.innerWidth;
    out.viewport = [window.innerWidth, window.innerHeight];
    out.scrollWidth = document.documentElement.scrollWidth;
    out.overflowing = Array.from(document.body.querySelectorAll('*')).filter(function (el) {
      var r = el.getBoundingClientRect();
      return r.width > 0 && r.right > width + 0.5;
    }).slice(0, 20).map(function (el) {
      return el.tagName + '#' + el.id + '.' + el.className + ' right=' +
        Math.round(el.getBoundingClientRect().right);
    });
    var head = document.getElementById('headline');
    out.headline = head ? {top: head.getBoundingClientRect().top,
                           cards: head.querySelectorAll('article.card').length,
                           text: head.textContent} : null;
    out.images = document.querySelectorAll('img').length;
    out.handlers = document.querySelectorAll('[onerror], [onload], [onclick]').length;
    out.bodyText = document.body.innerText;
    // Filtering: type into the summary's filter box; sorting: click the total column twice.
    var filter = document.getElementById('summary-table-filter');
    var table = document.getElementById('summary-table');
    if (filter && table) {
      out.filterShown = !filter.hidden;
      filter.value = 'hx-we2 meas';
      filter.dispatchEvent(new Event('input'));
      out.filtered = Array.from(table.tBodies[0].rows).filter(function (r) {
        return !r.hidden;
      }).map(function (r) { return r.cells[1].textContent + ' ' + r.cells[2].textContent; });
      filter.value = '';
      filter.dispatchEvent(new Event('input'));
      var heads = Array.from(table.tHead.rows[0].cells);
      var col = heads.findIndex(function (th) { return th.textContent === 'total (ms)'; });
      heads[col].click();
      var values = function () {
        return Array.from(table.tBodies[0].rows).map(function (r) {
          return r.cells[col].getAttribute('data-v');
        });
      };
      out.sortedUp = values();
      heads[col].click();
      out.sortedDown = values();
    }
    var pre = document.createElement('pre');
    pre.id = 'npb-probe';
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }
  var tries = 0;
  (function wait() {
    var state = document.documentElement.getAttribute('data-figures');
    if (state || tries++ > 200) { setTimeout(collect, 100); return; }
    setTimeout(wait, 50);
  })();
})();
</script>
"""

EVIL = "<img src=x onerror=alert(1)>"


def _chromium(page: Path, tmp: Path, shot: Path | None = None) -> dict:
    """Open ``page`` with the probe appended; the probe's findings."""
    probe = tmp / f"probe-{page.stem}.html"
    probe.write_text(
        page.read_text(encoding="utf-8").replace("</body>", _PROBE + "</body>"), encoding="utf-8"
    )
    command = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp / 'profile'}",
        # Offline: every host name fails to resolve, so nothing can come from a network.
        "--host-resolver-rules=MAP * ~NOTFOUND",
        "--virtual-time-budget=20000",
        "--hide-scrollbars",
        "--window-size=1280,800",
        *([f"--screenshot={shot}"] if shot else []),
        "--dump-dom",
        probe.as_uri(),
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    match = re.search(r'<pre id="npb-probe">(.*?)</pre>', run.stdout, re.S)
    assert match, f"the probe did not run (exit {run.returncode}): {run.stderr[-2000:]}"
    return json.loads(html.unescape(match.group(1)))


def _evil_results() -> list:
    """Results whose model, board and file names are HTML."""
    out = []
    for r in sample_results():
        if r.model != "kws_dscnn":
            continue
        r = copy.deepcopy(r)
        r.model = EVIL
        if r.target == "max78000":
            r.target = "<b>bold-board</b>"
        r.provenance["source"] = "models/<script>x</script>.onnx"
        r.message = "does not fit: [link](http://x) | <i>pipe</i>" if r.status != "ok" else ""
        out.append(r)
    # Many models with long names: the section links and the headline cards must wrap.
    base = next(r for r in sample_results() if r.model == "ad_fc_autoencoder")
    for i in range(12):
        r = copy.deepcopy(base)
        r.model = f"a-model-with-a-rather-long-name-{i:02d}-and_no_spaces_at_all_to_break_it"
        r.ops, r.energy_uj, r.power_mw = {"npu": 0, "cpu": 0}, {}, {}
        out.append(r)
    return out


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, str]:
    tmp = tmp_path_factory.mktemp("browser")
    report = write_html_report(
        sample_results(), tmp / "report.html", validation=sample_validation()
    )
    shot = tmp / "report.png"
    probe = _chromium(report, tmp, shot)
    assert probe["state"] == "drawn", probe["state"]
    figures = probe.pop("figures")
    return {**figures, "_page": probe}, shot, report.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def evil(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("evil")
    report = write_html_report(_evil_results(), tmp / "report.html", title=f"study {EVIL}")
    return _chromium(report, tmp)


def test_every_figure_is_drawn(rendered: tuple[dict, Path, str]) -> None:
    probe, _, text = rendered
    figures = {k: f for k, f in probe.items() if k != "_page"}
    figure_ids = re.findall(r'<div class="plot" id="([^"]+)"', text)
    assert len(figure_ids) >= 20
    assert sorted(figures) == sorted(figure_ids)
    for fid, fig in figures.items():
        assert fig["svg"] >= 1, f"{fid}: no svg.main-svg, plotly did not draw it"
        assert fig["traces"] >= 1, f"{fid}: no trace drawn"
        assert fig["bars"] + fig["markers"] + fig["lines"] > 0, f"{fid}: drawn but empty"
        assert fig["title"], f"{fid}: no title"
    for key in ("plot-spec-silicon", "plot-scaling", "plot-emulator-stages", "plot-validation"):
        assert key in figures, key


def test_stage_bars_match_the_results(rendered: tuple[dict, Path, str]) -> None:
    probe = rendered[0]
    results = sample_results()
    for model in {r.model for r in results}:
        # Emulator timings have their own panel, never the board figures.
        mine = [r for r in results if r.model == model and not v.is_emulator(r)]
        values = [r.latency_us[s] for r in mine for s in STAGES if r.latency_us[s] is not None]
        tallest = max(r.latency_us["total"] or r.latency_us["inference"] or 0 for r in mine)
        fig = probe[f"plot-stages-{model}"]
        assert fig["barTraces"] == len(STAGES)
        assert fig["barPaths"] == len(STAGES) * len(mine), model  # a slot per stage and result
        # Every known stage taller than 1 % of the axis has a visible bar; unknown stages
        # never do (stages under a pixel's hundredth round to nothing in plotly's paths).
        visible = sum(1 for x in values if x > 0.01 * tallest)
        assert visible <= fig["bars"] <= len(values), model
        assert fig["legend"][: len(STAGES)] == [
            "init",
            "input I/O",
            "inference",
            "output I/O",
            "post-processing",
        ]


def test_energy_bars_match_the_results(rendered: tuple[dict, Path, str]) -> None:
    probe = rendered[0]
    results = sample_results()
    for model in {r.model for r in results}:
        expected = sum(
            (r.energy_uj.get("total") is not None)
            + (r.energy_uj.get("net") is not None)
            + (r.power_mw.get("average") is not None)
            for r in results
            if r.model == model
        )
        assert probe[f"plot-energy-{model}"]["bars"] == expected, model


def test_does_not_fit_drawn_in_vermilion(rendered: tuple[dict, Path, str]) -> None:
    fig = rendered[0]["plot-memory-simplenet"]
    # hx-we2 (sram, flash) and max78000 (cnn_weights, cnn_data): the one too-full memory is red.
    assert fig["bars"] == 4
    assert fig["barFills"].count(VERMILION) == 1
    assert VERMILION not in rendered[0]["plot-memory-yolov1"]["barFills"]


def test_scaling_prediction_and_fidelity_points(rendered: tuple[dict, Path, str]) -> None:
    probe = rendered[0]
    results = [
        r
        for r in sample_results()
        if r.status == "ok" and r.options["optimise"] == "Performance" and r.details.get("macs")
    ]
    inference_points = sum(r.latency_us["inference"] is not None for r in results)
    total_points = sum(r.latency_us["total"] is not None for r in results)
    assert probe["plot-scaling"]["markers"] == inference_points + total_points
    # Four (model, target, build) cells have both a prediction and a measurement.
    assert probe["plot-pred-vs-meas"]["markers"] == 4
    assert probe["plot-pred-vs-meas"]["lines"] == 3  # identity and ±20 %
    models = {r.model: r.fidelity for r in sample_results()}
    sqnr = sum(f.sqnr_db is not None for f in models.values())
    top1 = sum(f.top1_agreement is not None for f in models.values())
    assert probe["plot-fidelity"]["bars"] == sqnr + top1


def test_screenshot_is_a_rendering(rendered: tuple[dict, Path, str]) -> None:
    from PIL import Image

    _, shot, _ = rendered
    assert shot.is_file()
    image = Image.open(shot).convert("RGB")
    assert image.size == (1280, 800)
    colours = image.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 200  # text, tables and badges, not a blank page
    # The blue of the "measured" badge is in the first screen (the headline's tables).
    assert any(abs(r - 0) + abs(g - 114) + abs(b - 178) < 12 for _, (r, g, b) in colours)


def test_headline_is_in_the_first_screen(rendered: tuple[dict, Path, str]) -> None:
    page = rendered[0]["_page"]
    assert page["viewport"][0] == 1280  # (the window is 800 high; its page area a little less)
    head = page["headline"]
    assert head is not None
    assert 0 <= head["top"] < 200, head["top"]  # starts right under the page title
    models = {r.model for r in sample_results()}
    assert head["cards"] == len(models)
    # Each model's ranking says its basis and what decides it.
    assert "calibrated prediction" in head["text"] or "prediction" in head["text"]
    assert "measured" in head["text"] and "leads" in head["text"]


def test_nothing_overflows_1280_px(rendered: tuple[dict, Path, str]) -> None:
    page = rendered[0]["_page"]
    assert page["overflowing"] == []
    assert page["scrollWidth"] <= 1280


def test_tables_sort_and_filter(rendered: tuple[dict, Path, str]) -> None:
    page = rendered[0]["_page"]
    assert page["filterShown"]
    expected = [r for r in sample_results() if r.target == "hx-we2" and r.kind == "measured"]
    assert len(page["filtered"]) == len(expected)
    assert all(row.startswith("hx-we2 measured") for row in page["filtered"])

    def numbers(values: list) -> list[float]:
        return [float(x) for x in values if x is not None]

    up, down = numbers(page["sortedUp"]), numbers(page["sortedDown"])
    assert up == sorted(up) and down == sorted(down, reverse=True) and len(up) > 10


def test_long_names_wrap_inside_1280_px(evil: dict) -> None:
    assert evil["overflowing"] == []
    assert evil["scrollWidth"] <= 1280


def test_names_are_text_not_markup(evil: dict) -> None:
    # No element was made from a name: no image, no inline handler.
    assert evil["images"] == 0
    assert evil["handlers"] == 0
    assert evil["state"] == "drawn"
    # The names read as typed, on the page and inside the figures.
    text = evil["bodyText"]
    assert EVIL in text and "<b>bold-board</b>" in text
    assert "models/<script>x</script>.onnx" in text
    titles = [f["title"] for f in evil["figures"].values()]
    assert any(EVIL in t for t in titles), titles
    ticks = [t for f in evil["figures"].values() for t in f["ticks"]]
    assert any("<b>bold-board</b>" in t for t in ticks), ticks
