"""Hostile inputs through the installed console script (tests/_hostile.py): generated model
files (bit flips of a Keras-built int8 model, truncations, 3 GiB sparse files), damaged stores,
broken traces and lying boards on a pseudo-terminal. A case that does not exit within its
timeout is a hang; a traceback, a wrong exit status, a non-zero exit without a message or a
stored row lost or changed fails the test. benchmarks/hostile_inputs.py prints the same
figures for any seed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from _hostile import (
    Outcome,
    board_cases,
    model_cases,
    new_rows_are_never_ok,
    readable_rows,
    run_console_script,
    store_cases,
    trace_cases,
)

pytestmark = [pytest.mark.integration, pytest.mark.timeout(1800)]


def check(outcomes: list[Outcome]) -> None:
    bad = [o.describe() for o in outcomes if not o.clean]
    assert not bad, f"{len(bad)} of {len(outcomes)} not handled:\n" + "\n\n".join(bad)


def test_models_through_the_console_script(tmp_path: Path, tflite_models: dict[str, Path]) -> None:
    cases = model_cases(tmp_path / "convnet", tflite_models["small_convnet"], n=9, seed=21)
    cases += model_cases(tmp_path / "residual", tflite_models["residual"], n=6, seed=22)[:6]
    check([run_console_script(c) for c in cases])


def test_stores_through_the_console_script(tmp_path: Path) -> None:
    check([run_console_script(c) for c in store_cases(tmp_path, n=15, seed=7)])


def test_traces_through_the_console_script(tmp_path: Path) -> None:
    check([run_console_script(c) for c in trace_cases(tmp_path, seed=9)])


def test_lying_boards_through_the_console_script(tmp_path: Path) -> None:
    outcomes = []
    for case in board_cases(tmp_path):
        before = readable_rows(case.store) if case.store else {}
        outcome = run_console_script(case)
        if odd := new_rows_are_never_ok(case, before):
            outcome.data_loss = "; ".join(odd)
        outcomes.append(outcome)
    check(outcomes)
    # Repetitions received before a lie are stored, as incomplete.
    assert any("kept" in o.err for o in outcomes)
