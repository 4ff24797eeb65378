"""`npubench trace analyze`: active windows, baseline and energy of a power trace.

Every option is checked before the trace is read (usage errors, exit status 2, naming the
option and its range): ``--k-enter`` in (0, 1000], ``--k-exit`` in [0, k-enter], ``--direction``
above or both, ``--voltage`` in (0, 60] V, ``--min-duration-ms`` >= 0, ``--max-samples`` >= 1,
and ``--plot`` a writable .png, .svg or .pdf path.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import typer

from npubench.cli.common import console, err_console, print_json
from npubench.errors import UsageError
from npubench.outputs import check_output_path

PLOT_SUFFIXES = (".png", ".svg", ".pdf")

trace_app = typer.Typer(
    help="Power traces from external analysers (CSV exports).", no_args_is_help=True
)


@trace_app.command("analyze")
def analyze(
    file: Annotated[
        Path,
        typer.Argument(
            help="Trace CSV: Monsoon/Otii-style, PPK2 app export, "
            "or generic time + current/power columns."
        ),
    ],
    json_out: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    plot: Annotated[Path | None, typer.Option(help="Write a PNG with the windows shaded.")] = None,
    voltage: Annotated[
        float | None,
        typer.Option(
            "--voltage", help="Supply voltage (V) to turn a current-only trace into power."
        ),
    ] = None,
    drop_nan: Annotated[bool, typer.Option(help="Drop NaN samples instead of refusing.")] = False,
    allow_gaps: Annotated[bool, typer.Option(help="Accept gaps in the time axis.")] = False,
    direction: Annotated[
        str,
        typer.Option(help="'above': activity is power above the baseline; 'both': dips count too."),
    ] = "above",
    k_enter: Annotated[
        float | None,
        typer.Option(help="Open a window at this many noise sigmas above the baseline."),
    ] = None,
    k_exit: Annotated[
        float | None, typer.Option(help="Close it below this many noise sigmas.")
    ] = None,
    min_duration_ms: Annotated[
        float | None, typer.Option(help="Drop windows shorter than this.")
    ] = None,
    max_samples: Annotated[
        int | None,
        typer.Option(help="Refuse traces with more samples than this (default 5,000,000)."),
    ] = None,
) -> None:
    """Find the active windows in a trace automatically, with the baseline before and after."""
    from npubench.measure.windows import analyze_trace, render_table

    check_options(k_enter, k_exit, direction, voltage, min_duration_ms, max_samples)
    if plot is not None:
        plot = check_output_path(plot, PLOT_SUFFIXES, "--plot")
    params: dict[str, float | str] = {"direction": direction}
    for name, value in (
        ("k_enter", k_enter),
        ("k_exit", k_exit),
        ("min_duration_ms", min_duration_ms),
    ):
        if value is not None:
            params[name] = value
    analysis = analyze_trace(
        file,
        voltage_v=voltage,
        drop_nan=drop_nan,
        allow_gaps=allow_gaps,
        max_samples=max_samples,
        **params,
    )
    if json_out:
        print_json(analysis.to_json())
    else:
        console.print(render_table(analysis))
    if plot is not None:
        from npubench.measure.plot import plot_analysis

        plot_analysis(analysis, plot)
        err_console.print(f"wrote {plot}")


def _finite(value: float) -> bool:
    return math.isfinite(value)


def check_options(
    k_enter: float | None,
    k_exit: float | None,
    direction: str,
    voltage: float | None,
    min_duration_ms: float | None,
    max_samples: int | None = None,
) -> None:
    """The detector options in their ranges, before any file is read (``UsageError``)."""
    from npubench.measure.trace import MAX_VOLTAGE_V
    from npubench.measure.windows import DIRECTIONS, MAX_K, DetectorParams

    enter = DetectorParams.k_enter if k_enter is None else k_enter
    if k_enter is not None and not (_finite(k_enter) and 0 < k_enter <= MAX_K):
        raise UsageError(
            f"--k-enter {k_enter} is out of range",
            f"give a number of noise sigmas above 0 and at most {MAX_K:g} (default "
            f"{DetectorParams.k_enter:g})",
        )
    if k_exit is not None and not (_finite(k_exit) and 0 <= k_exit <= enter):
        raise UsageError(
            f"--k-exit {k_exit} is out of range",
            f"give a number of noise sigmas from 0 to --k-enter ({enter:g}): a window closes "
            f"below the level that opens it (default {DetectorParams.k_exit:g})",
        )
    if k_exit is None and k_enter is not None and k_enter < DetectorParams.k_exit:
        raise UsageError(
            f"--k-enter {k_enter} is below the default --k-exit {DetectorParams.k_exit:g}",
            "give --k-exit too, at most --k-enter",
        )
    if direction not in DIRECTIONS:
        raise UsageError(f"--direction {direction!r} is unknown", f"use {' or '.join(DIRECTIONS)}")
    if voltage is not None and not (_finite(voltage) and 0 < voltage <= MAX_VOLTAGE_V):
        raise UsageError(
            f"--voltage {voltage} is out of range",
            f"give the supply in volts, above 0 and at most {MAX_VOLTAGE_V:g} (e.g. 3.3)",
        )
    if min_duration_ms is not None and not (_finite(min_duration_ms) and min_duration_ms >= 0):
        raise UsageError(
            f"--min-duration-ms {min_duration_ms} is out of range", "give a duration >= 0 ms"
        )
    if max_samples is not None and max_samples < 1:
        raise UsageError(f"--max-samples {max_samples} is out of range", "give a positive count")
