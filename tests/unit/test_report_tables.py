"""Terminal tables (100 columns by default, every column with --wide, a basis column) and the
Markdown report (headline first, names escaped), and `npubench report`'s wiring of them."""

from __future__ import annotations

import copy
import json
import re
import sys
from pathlib import Path

import pytest
from rich.console import Console

from npubench.errors import UsageError
from npubench.report import _views as v
from npubench.report.tables import comparison_markdown, comparison_table, md_escape
from npubench.store import ResultStore

sys.path.insert(0, str(Path(__file__).parent))
from test_report_html import sample_results, sample_validation

EVIL = "<img src=x onerror=alert(1)>"


def _render(group: object, width: int = 200) -> list[str]:
    console = Console(width=width, record=True, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(group)
    return [line.rstrip() for line in console.export_text().splitlines()]


def test_terminal_table_fits_100_columns() -> None:
    lines = _render(comparison_table(sample_results(), title="npubench report"))
    assert max(len(line) for line in lines) <= 100
    text = "\n".join(lines)
    # The basis of each row, in short: measured, compiled, calibrated, datasheet, assumption,
    # emulator.
    for code in ("meas", "comp", "cal", "ds", "asm", "emu"):
        assert re.search(rf"│ {re.escape(code)}\s+│", text), code
    assert "--wide" in text  # names what it left out
    # The long verdict is wrapped, not cut.
    flat = re.sub(r"[│\s]+", " ", text)
    assert "512000 B of 442368 B" in flat
    narrow = _render(comparison_table(sample_results(), width=80), width=200)
    assert max(len(line) for line in narrow) <= 80


def test_wide_table_has_every_column() -> None:
    lines = _render(comparison_table(sample_results(), wide=True), width=400)
    text = "\n".join(lines)
    assert max(len(line) for line in lines) > 100
    for header in ("in I/O", "out I/O", "interval", "tightest memory", "basis (in words)"):
        assert header in text, header
    assert "calibrated prediction ±8%" in text


def test_terminal_names_are_not_markup() -> None:
    r = copy.deepcopy(sample_results()[0])
    r.model = "[bold]x[/bold] " + EVIL
    text = "\n".join(_render(comparison_table([r])))
    assert "[bold]x[/bold]" in text


def test_markdown_headline_first() -> None:
    md = comparison_markdown(sample_results(), validation=sample_validation())
    headings = [line for line in md.splitlines() if line.startswith("## ")]
    assert headings[0] == "## Which board?"
    assert headings[1] == "## Spec sheets against silicon"
    assert "## Figures" in headings
    head = md[: md.index("## Spec sheets")]
    assert "### kws\\_dscnn (2.66 M MACs)" in head
    assert "calibrated prediction ±8%" in head and "measured" in head
    assert "Emulator timings (not cycle-accurate, not ranked): qemu-cortex-m55" in head
    # Every figure of the plan is in the Markdown, as its data table.
    plans = v.figure_plan(sample_results(), sample_validation())
    for number, plan in enumerate(plans, start=1):
        assert f"### Figure {number}. {md_escape(plan.title)}" in md


def test_markdown_links_images_when_drawn() -> None:
    md = comparison_markdown(sample_results(), images="../figs")
    assert "](../figs/spec_silicon.png)" in md and "](../figs/stages_yolov1.png)" in md


def _table_rows(md: str) -> list[str]:
    return [line for line in md.splitlines() if line.startswith("| ")]


def test_markdown_escapes_names() -> None:
    results = []
    for r in sample_results():
        if r.model == "kws_dscnn":
            r = copy.deepcopy(r)
            r.model = EVIL + " | [x](http://y) *z*"
            if r.target == "max78000":
                r.target = "a|b"
            results.append(r)
    md = comparison_markdown(results, title="t <b>")
    assert "<img" not in md and "<b>" not in md
    assert "# t &lt;b&gt;" in md
    escaped = md_escape(EVIL + " | [x](http://y) *z*")
    assert escaped == "&lt;img src=x onerror=alert(1)&gt; \\| \\[x\\](http://y) \\*z\\*"
    assert f"### {escaped} (2.66 M MACs)" in md
    assert f"## {escaped}" in md
    # No name breaks a table: every row has as many unescaped pipes as its header.
    lines = md.splitlines()
    tables: list[list[str]] = []
    block: list[str] = []
    for line in [*lines, ""]:
        if line.startswith("|"):
            block.append(line)
        elif block:
            tables.append(block)
            block = []
    assert tables
    for table in tables:
        counts = {len(re.findall(r"(?<!\\)\|", row)) for row in table}
        assert len(counts) == 1, table
    assert md_escape("a\nb") == "a b"


def _store(tmp_path: Path) -> Path:
    db = tmp_path / "r.sqlite"
    with ResultStore(db) as store:
        for r in sample_results():
            store.add(r)
    return db


def test_report_command_wide_validation_and_files(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from npubench.cli.results import report_command

    db = _store(tmp_path)
    report_command(None, None, "table", None, db)
    out = capsys.readouterr().out
    assert max(len(line) for line in out.splitlines()) <= 100
    report_command(None, None, "table", None, db, wide=True)
    wide = capsys.readouterr().out
    assert max(len(line) for line in wide.splitlines()) > 100 and "basis (in words)" in wide

    validation = tmp_path / "v.json"
    validation.write_text(json.dumps(sample_validation()))
    html = tmp_path / "out" / "report.html"
    report_command(
        None,
        None,
        "md",
        tmp_path / "rep",
        db,
        html=html,
        figures=tmp_path / "figs",
        validation=validation,
    )
    md = capsys.readouterr().out
    assert md.startswith("# npubench report") and "Prediction fidelity" in md
    assert '<section id="validation">' in html.read_text(encoding="utf-8")
    assert (tmp_path / "figs" / "validation.png").is_file()
    written = (tmp_path / "rep" / "report.md").read_text(encoding="utf-8")
    assert "](../figs/validation.png)" in written

    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(UsageError, match="is not JSON"):
        report_command(None, None, "table", None, db, validation=bad)
    bad.write_text(json.dumps({"boards": []}))
    with pytest.raises(UsageError, match="has no rows"):
        report_command(None, None, "table", None, db, validation=bad)
    with pytest.raises(UsageError, match="cannot read"):
        report_command(None, None, "table", None, db, validation=tmp_path / "missing.json")
