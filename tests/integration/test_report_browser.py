"""The HTML report drawn by a real browser: headless Chromium, offline.

The report of ``sample_results()`` (tests/unit/test_report_html.py) is opened from a file with
every host name resolving to nothing, so a figure that needed the network would stay blank. A
probe script appended to a copy of the report counts, after plotly ran, what each figure's SVG
actually holds (bar shapes, markers, lines, fills); the counts are checked against numbers
taken from the results themselves, not from the report. One Chromium run also takes a
screenshot, checked for being a real rendering (not a blank page).

Needs Debian's ``chromium`` package (``apt-get install chromium``); skipped without it.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from npubench import STAGES
from npubench.report.html import write_html_report

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from test_report_html import sample_results

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
setTimeout(function () {
  var out = {};
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
    out[div.id] = {
      svg: div.querySelectorAll('svg.main-svg').length,
      barTraces: div.querySelectorAll('g.trace.bars').length,
      bars: bars.length,
      barPaths: div.querySelectorAll('g.trace.bars g.point path').length,
      barFills: bars.map(function (p) { return p.style.fill; }),
      markers: drawn('g.trace.scatter path.point').length,
      lines: drawn('g.trace.scatter path.js-line').length,
      legend: Array.from(div.querySelectorAll('g.legend text.legendtext'))
        .map(function (t) { return t.textContent; }),
      title: (div.querySelector('text.gtitle') || {}).textContent || ''
    };
  });
  var pre = document.createElement('pre');
  pre.id = 'npb-probe';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}, 500);
</script>
"""


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, str]:
    tmp = tmp_path_factory.mktemp("browser")
    report = write_html_report(sample_results(), tmp / "report.html")
    text = report.read_text(encoding="utf-8")
    probe = tmp / "probe.html"
    probe.write_text(text.replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    shot = tmp / "report.png"
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
        "--virtual-time-budget=10000",
        "--hide-scrollbars",
        "--window-size=1100,4000",
        f"--screenshot={shot}",
        "--dump-dom",
        probe.as_uri(),
    ]
    run = subprocess.run(command, capture_output=True, text=True, timeout=90, check=False)
    match = re.search(r'<pre id="npb-probe">(.*?)</pre>', run.stdout, re.S)
    assert match, f"the probe did not run (exit {run.returncode}): {run.stderr[-2000:]}"
    return json.loads(html.unescape(match.group(1))), shot, text


def test_every_figure_is_drawn(rendered: tuple[dict, Path, str]) -> None:
    probe, _, text = rendered
    figure_ids = re.findall(r'<div class="plot" id="([^"]+)"', text)
    assert len(figure_ids) >= 15
    assert sorted(probe) == sorted(figure_ids)
    for fid, fig in probe.items():
        assert fig["svg"] >= 1, f"{fid}: no svg.main-svg, plotly did not draw it"
        assert fig["bars"] + fig["markers"] + fig["lines"] > 0, f"{fid}: drawn but empty"
        assert fig["title"], f"{fid}: no title"


def test_stage_bars_match_the_results(rendered: tuple[dict, Path, str]) -> None:
    probe = rendered[0]
    results = sample_results()
    for model in {r.model for r in results}:
        mine = [r for r in results if r.model == model]
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
    assert image.size == (1100, 4000)
    colours = image.getcolors(maxcolors=1 << 20) or []
    assert len(colours) > 200  # text, tables and figures, not a blank page
    # The inference-stage blue of the stage bars is on the page.
    assert any(abs(r - 0) + abs(g - 114) + abs(b - 178) < 12 for _, (r, g, b) in colours)
