"""Shared CLI plumbing: consoles, JSON printing, progress, argument parsing."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from npubench.console import make_console
from npubench.errors import UsageError

# Markup off (names are printed as text); piped output is not wrapped (see npubench.console).
console = make_console()
err_console = make_console(stderr=True)


def print_json(data: Any) -> None:
    # Plain print: rich would wrap long lines and break the JSON.
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


@contextmanager
def progress_display(enabled: bool = True) -> Iterator[Any]:
    """A spinner with the current step and elapsed time, on stderr; yields a callback."""
    if not enabled or not err_console.is_terminal:
        # A plain line per step: no "common.py:31" location column, no wrapping.
        yield lambda message: err_console.print(message) if enabled else None
        return
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        task = progress.add_task("starting", total=None)

        def update(message: str) -> None:
            progress.update(task, description=message)
            progress.console.print(message)

        yield update


def parse_shape(text: str | None) -> tuple[int, ...] | None:
    """'1,3,32,32' or '1x3x32x32' -> (1, 3, 32, 32)."""
    if text is None:
        return None
    parts = text.replace("x", ",").replace(" ", "").strip("()[]").split(",")
    try:
        shape = tuple(int(p) for p in parts if p)
    except ValueError:
        raise UsageError(
            f"--input-shape {text!r} is not a list of integers",
            "write it like 1,3,32,32 (batch first)",
        ) from None
    if not shape or any(d <= 0 for d in shape):
        raise UsageError(
            f"--input-shape {text!r} must have positive dimensions",
            "write it like 1,3,32,32 (batch first)",
        )
    return shape


def parse_toolchain_options(items: list[str] | None) -> dict[str, dict[str, object]]:
    """``["rknn.optimization_level=1", ...]`` -> ``{"rknn": {"optimization_level": 1}}``.

    Values are read as JSON where they parse (numbers, true/false, lists), else kept as text.
    """
    import json

    out: dict[str, dict[str, object]] = {}
    for item in items or []:
        name, dot, rest = item.partition(".")
        key, eq, raw = rest.partition("=")
        if not (dot and eq and name and key):
            raise UsageError(
                f"--toolchain-option {item!r} is not NAME.KEY=VALUE",
                "write it like rknn.optimization_level=1 (see `npubench toolchains list`)",
            )
        try:
            value: object = json.loads(raw)
        except ValueError:
            value = raw
        out.setdefault(name, {})[key] = value
    return out
