"""`npubench results` and `npubench report`.

Both read the store read-only. A row that cannot be read (a corrupted byte, a truncated file)
is skipped with a warning naming its id and the repair command, every other row is still
listed, and the command exits 1. Output paths (``--export``, ``--out``, ``--html``,
``--figures``, and ``bench --report`` through ``check_report_folder``) are checked before the
store is read (``npubench.outputs.check_output_path``).
"""

from __future__ import annotations

from pathlib import Path

import typer

from npubench.cli.common import console, err_console, print_json
from npubench.errors import ExitStatus, StoreError, UsageError
from npubench.outputs import check_output_path
from npubench.report import comparison_csv, comparison_markdown, comparison_table, write_report
from npubench.schema import KINDS
from npubench.store import (
    BadRow,
    ResultStore,
    default_db_path,
    describe_bad_rows,
    repair_hint,
    repair_store,
)

HTML_SUFFIXES = (".html", ".htm")


def check_report_folder(path: Path | None, kind: str = "--report") -> Path | None:
    """``bench --report DIR``/``report --out DIR``: a folder that can be written (created if
    missing), checked before any work starts."""
    return None if path is None else check_output_path(path, (), kind)


def warn_bad_rows(bad: list[BadRow], db: Path | None) -> int:
    """Print the skipped rows on stderr; the exit status they mean (1, or 0 if none)."""
    if not bad:
        return ExitStatus.OK
    path = Path(db) if db is not None else default_db_path()
    err_console.print(
        f"warning: skipped {len(bad)} unreadable row(s) of {path}: {describe_bad_rows(bad)}"
    )
    err_console.print(f"hint: {repair_hint(path)}")
    return ExitStatus.FAILED


def _filters_text(
    model: str | None,
    target: str | None,
    kind: str | None,
    status: str | None,
    latest: bool,
    limit: int | None,
    db: Path | None,
) -> str:
    parts = [
        f"{flag} {value}"
        for flag, value in (
            ("--model", model),
            ("--target", target),
            ("--kind", kind),
            ("--status", status),
            ("--limit", limit),
        )
        if value is not None
    ]
    if latest:
        parts.append("--latest")
    store = Path(db) if db is not None else default_db_path()
    return (" ".join(parts) if parts else "no filter") + f" in {store}"


def repair_command(db: Path | None, json_out: bool, dry_run: bool = False) -> int:
    """``npubench results --repair``: quarantine unreadable rows; 0 once the store is sound."""
    report = repair_store(db, dry_run=dry_run)
    if json_out:
        print_json(report.to_json())
    else:
        err_console.print(report.summary())
    return ExitStatus.OK


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
    repair: bool = False,
) -> None:
    """List or export stored results; raises ``typer.Exit(1)`` when rows had to be skipped."""
    if repair:
        if export is not None or any(v is not None for v in (model, target, kind, status)):
            raise UsageError(
                "--repair works on the whole store and takes no filter or --export",
                "run `npubench results --repair --db FILE` alone, then list or export",
            )
        raise typer.Exit(repair_command(db, json_out))
    if kind is not None and kind not in KINDS:
        raise UsageError(f"unknown --kind {kind!r}", f"use one of {', '.join(KINDS)}")
    if export is not None:
        from npubench.sweep.export import check_export_path

        export = check_export_path(export)
    model = model.removeprefix("zoo:") if model else model  # stored under the model's name
    with ResultStore(db, readonly=True) as store:
        stored = store.query(
            model=model, target=target, kind=kind, status=status, latest=latest, limit=limit
        )
        bad = store.bad_rows
    found = [s.result for s in stored]
    if export is not None:
        from npubench.sweep.export import write_export

        filters = _filters_text(model, target, kind, status, latest, limit, db)
        write_export(stored, export, filters=filters)
        err_console.print(f"wrote {len(found)} results to {export}")
    if json_out:
        print_json(
            [{"id": s.id, "created_utc": s.created_utc, **s.result.to_json()} for s in stored]
        )
    elif export is None:
        console.print(comparison_table(found, title=f"{len(found)} stored results"))
    code = warn_bad_rows(bad, db)
    if code:
        raise typer.Exit(code)


def report_command(
    model: str | None,
    targets: list[str] | None,
    fmt: str,
    out: Path | None,
    db: Path | None,
    html: Path | None = None,
    figures: Path | None = None,
    wide: bool = False,
    validation: Path | None = None,
) -> None:
    """`npubench report`: the comparison table (at most 100 columns, ``wide``: all), Markdown
    or CSV on stdout, and the files asked for; raises ``typer.Exit(1)`` when rows had to be
    skipped. Output paths and the validation file are checked before the store is read."""
    if fmt not in ("table", "md", "csv"):
        raise UsageError(f"unknown --format {fmt!r}", "use table, md or csv")
    out = check_report_folder(out, "--out")
    if html is not None:
        html = check_output_path(html, HTML_SUFFIXES, "--html")
    if figures is not None:
        figures = check_output_path(figures, (), "--figures")
    validation_data = _load_validation(validation) if validation is not None else None
    model = model.removeprefix("zoo:") if model else model
    with ResultStore(db, readonly=True) as store:
        found = [s.result for s in store.query(model=model, latest=True)]
        bad = store.bad_rows
    if targets:
        found = [r for r in found if r.target in targets]
    if not found:
        if bad:
            warn_bad_rows(bad, db)
            path = Path(db) if db is not None else default_db_path()
            raise StoreError(
                f"no readable results in {path}: {len(bad)} row(s) cannot be read",
                repair_hint(path),
            )
        raise UsageError(
            "no stored results match",
            "run `npubench bench` first, or check --db, --model and --target",
        )
    if figures is not None:
        from npubench.report import write_figures

        for path in write_figures(found, figures, validation=validation_data):
            err_console.print(f"wrote {path}")
    if out is not None:
        images = _relative(figures, out) if figures is not None else None
        for path in write_report(found, out, validation=validation_data, images=images):
            err_console.print(f"wrote {path}")
    if html is not None:
        from npubench.report import write_html_report

        err_console.print(f"wrote {write_html_report(found, html, validation=validation_data)}")
    if fmt == "table":
        _print_table(found, wide)
    elif fmt == "md":
        print(comparison_markdown(found, validation=validation_data))
    else:
        print(comparison_csv(found), end="")
    code = warn_bad_rows(bad, db)
    if code:
        raise typer.Exit(code)


def _print_table(found: list, wide: bool) -> None:  # type: ignore[type-arg]
    """The comparison at most 100 columns wide (a narrower terminal's width), or every
    column with ``wide``."""
    from npubench.report.tables import TERMINAL_WIDTH

    if wide:
        console.print(
            comparison_table(found, title="npubench report", wide=True),
            width=None if console.is_terminal else 1000,
        )
        return
    width = min(TERMINAL_WIDTH, console.width) if console.is_terminal else TERMINAL_WIDTH
    console.print(comparison_table(found, title="npubench report", width=width), width=width)


def _load_validation(path: Path) -> object:
    """The JSON of `npubench validate --json`, read from ``path``."""
    import json

    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise UsageError(
            f"cannot read --validation {path}: {e}",
            "give the file that `npubench validate --json > FILE.json` wrote",
        ) from e
    except ValueError as e:
        raise UsageError(
            f"--validation {path} is not JSON: {e}",
            "give the file that `npubench validate --json > FILE.json` wrote",
        ) from e
    rows = data.get("rows") if isinstance(data, dict) else data
    if not isinstance(rows, list):
        raise UsageError(
            f"--validation {path} has no rows",
            'give the output of `npubench validate --json` (an object with "rows")',
        )
    return data


def _relative(target: Path, start: Path) -> str:
    """``target`` relative to ``start`` (for image links in report.md), or absolute."""
    import os

    try:
        return Path(os.path.relpath(Path(target).resolve(), Path(start).resolve())).as_posix()
    except ValueError:  # another drive
        return Path(target).resolve().as_posix()
