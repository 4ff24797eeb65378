"""`npubench measure`: hardware-in-the-loop (or emulated-board) measurement into the store."""

from __future__ import annotations

from pathlib import Path

import typer

from npubench.cli.common import console, print_json, progress_display

# Exit statuses (npubench.errors): a complete measurement is 0; a failed one and one whose
# repetitions were kept but is incomplete (a board reset, a dropped link) are 1 (the JSON's
# "status" tells them apart); 3 is kept for a missing board or instrument.
EXIT_STATUS = {"ok": 0, "failed": 1, "incomplete": 1}


def measure_command(
    model: str,
    target: str,
    port: str | None,
    power: str | None,
    repeat: int,
    warmup: int,
    baud: int,
    db: Path | None,
    store: bool,
    json_out: bool,
) -> None:
    from npubench.measure.render import render_measurement
    from npubench.pipeline import BenchOptions
    from npubench.pipeline.measure import measure as run_measure

    with progress_display(not json_out) as progress:
        outcome = run_measure(
            model,
            target,
            port=port,
            power=power,
            repeat=repeat,
            warmup=warmup,
            baud=baud,
            options=BenchOptions(),
            progress=progress,
        )
    result = outcome.result
    if store:
        from npubench.store import ResultStore

        # Incomplete and failed runs are stored with that status, never as complete.
        with ResultStore(db) as result_store:
            result_store.add(result)
    if json_out:
        print_json(result.to_json())
    else:
        console.print(render_measurement(result))
    raise typer.Exit(EXIT_STATUS.get(result.status, 1))
