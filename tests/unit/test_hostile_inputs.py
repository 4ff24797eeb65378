"""Hostile inputs through the CLI, in-process (fast): generated model files, damaged stores,
broken traces and lying boards (tests/_hostile.py). Each must end with the right exit status
and a message, never a traceback or a hang, and leave every readable stored row as it was.
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
    run_in_process,
    store_cases,
    trace_cases,
)

pytestmark = pytest.mark.timeout(900)


def check(outcomes: list[Outcome]) -> None:
    bad = [o.describe() for o in outcomes if not o.clean]
    assert not bad, f"{len(bad)} of {len(outcomes)} hostile inputs not handled:\n" + "\n\n".join(
        bad
    )


def test_hostile_model_files(tmp_path: Path, tflite_models: dict[str, Path]) -> None:
    cases = model_cases(tmp_path, tflite_models["small_convnet"], n=6, seed=11)
    cases += model_cases(tmp_path / "mlp", n=3, seed=5)[:3]
    outcomes = [run_in_process(c) for c in cases]
    check(outcomes)
    huge = [o for o in outcomes if "sparse-3GiB" in o.case.name]
    assert huge and all("MiB" in o.err and o.seconds < 30 for o in huge)


def test_damaged_stores(tmp_path: Path) -> None:
    outcomes = [run_in_process(c) for c in store_cases(tmp_path, n=10, seed=3)]
    check(outcomes)
    skipped = [o for o in outcomes if o.code == 1 and o.case.name.startswith("results-")]
    assert skipped and all("row" in o.err and "--repair" in o.err for o in skipped)


def test_hostile_traces(tmp_path: Path) -> None:
    outcomes = [run_in_process(c) for c in trace_cases(tmp_path, seed=2)]
    check(outcomes)
    big = next(o for o in outcomes if o.case.name == "10^7-rows")
    assert "--max-samples" in big.err and big.seconds < 20


def test_lying_boards(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from npubench.measure import runner

    fast = runner.Timeouts(hello_s=0.5, ack_s=0.5, line_s=1.0, get_s=0.3, get_tries=2)
    monkeypatch.setattr(runner, "Timeouts", lambda: fast)
    outcomes = []
    for case in board_cases(tmp_path):
        before = readable_rows(case.store) if case.store else {}
        outcome = run_in_process(case)
        if problems := new_rows_are_never_ok(case, before):
            outcome.data_loss = "; ".join(problems)
        outcomes.append(outcome)
    check(outcomes)
    assert all(o.seconds < 30 for o in outcomes)
