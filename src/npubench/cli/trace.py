"""`npubench trace analyze`: active windows, baseline and energy of a power trace."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from npubench.cli.common import console, err_console, print_json

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
) -> None:
    """Find the active windows in a trace automatically, with the baseline before and after."""
    from npubench.measure.windows import analyze_trace, render_table

    params: dict[str, float | str] = {"direction": direction}
    for name, value in (
        ("k_enter", k_enter),
        ("k_exit", k_exit),
        ("min_duration_ms", min_duration_ms),
    ):
        if value is not None:
            params[name] = value
    analysis = analyze_trace(
        file, voltage_v=voltage, drop_nan=drop_nan, allow_gaps=allow_gaps, **params
    )
    if json_out:
        print_json(analysis.to_json())
    else:
        console.print(render_table(analysis))
    if plot is not None:
        from npubench.measure.plot import plot_analysis

        plot_analysis(analysis, plot)
        err_console.print(f"wrote {plot}")
