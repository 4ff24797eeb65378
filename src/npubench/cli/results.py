"""`npubench results` and `npubench report`."""

from __future__ import annotations

from pathlib import Path

from npubench.cli.common import console, err_console, print_json
from npubench.errors import UsageError
from npubench.report import comparison_csv, comparison_markdown, comparison_table, write_report
from npubench.schema import KINDS
from npubench.store import ResultStore


def results_command(
    model: str | None,
    target: str | None,
    kind: str | None,
    status: str | None,
    latest: bool,
    limit: int | None,
    export: Path | None,
    db: Path | None,
    json_out: bool,
) -> None:
    if kind is not None and kind not in KINDS:
        raise UsageError(f"unknown --kind {kind!r}", f"use one of {', '.join(KINDS)}")
    model = model.removeprefix("zoo:") if model else model  # stored under the model's name
    with ResultStore(db, readonly=True) as store:
        stored = store.query(
            model=model, target=target, kind=kind, status=status, latest=latest, limit=limit
        )
    found = [s.result for s in stored]
    if export is not None:
        from npubench.sweep.export import write_export

        write_export(stored, export)
        err_console.print(f"wrote {len(found)} results to {export}")
    if json_out:
        print_json(
            [{"id": s.id, "created_utc": s.created_utc, **s.result.to_json()} for s in stored]
        )
    elif export is None:
        console.print(comparison_table(found, title=f"{len(found)} stored results"))


def report_command(
    model: str | None,
    targets: list[str] | None,
    fmt: str,
    out: Path | None,
    db: Path | None,
    html: Path | None = None,
    figures: Path | None = None,
) -> None:
    if fmt not in ("table", "md", "csv"):
        raise UsageError(f"unknown --format {fmt!r}", "use table, md or csv")
    model = model.removeprefix("zoo:") if model else model
    with ResultStore(db, readonly=True) as store:
        found = [s.result for s in store.query(model=model, latest=True)]
    if targets:
        found = [r for r in found if r.target in targets]
    if not found:
        raise UsageError(
            "no stored results match",
            "run `npubench bench` first, or check --db, --model and --target",
        )
    if out is not None:
        for path in write_report(found, out):
            err_console.print(f"wrote {path}")
    if html is not None:
        from npubench.report import write_html_report

        err_console.print(f"wrote {write_html_report(found, html)}")
    if figures is not None:
        from npubench.report import write_figures

        for path in write_figures(found, figures):
            err_console.print(f"wrote {path}")
    if fmt == "table":
        console.print(comparison_table(found, title="npubench report"))
    elif fmt == "md":
        print(comparison_markdown(found))
    else:
        print(comparison_csv(found), end="")
