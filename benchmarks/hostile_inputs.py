"""Throw generated hostile inputs at the installed ``npubench`` and count how it copes.

The generators of tests/_hostile.py write random and bit-flipped model files, 3 GiB sparse
files, damaged stores (overwritten row bytes, damaged pages, truncation), broken power traces
(NaN, inf, time going backwards, 10^7 rows, binary junk) and lying boards on a pseudo-terminal;
each runs through the console script with a timeout. Printed per family and in total:

- inputs tried;
- clean errors: a non-zero exit with the right status and a message (the goal: all of them);
- clean successes: exit 0 where that is right (a bit flip the model survives);
- tracebacks, hangs and data-loss events (a row readable before the command is gone or
  changed after it): the goal is 0, 0, 0;
- wrong exit statuses.

    python benchmarks/hostile_inputs.py [--family model store trace board] [--seed 0]
        [--n 12] [--json] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

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

FAMILIES = ("model", "store", "trace", "board")


def generate(family: str, work: Path, n: int, seed: int) -> list:
    if family == "model":
        return model_cases(work / "models", n=n, seed=seed)
    if family == "store":
        return store_cases(work / "stores", n=n, seed=seed)
    if family == "trace":
        return trace_cases(work / "traces", seed=seed)
    return board_cases(work / "boards")


def tally(outcomes: list[Outcome]) -> dict[str, int]:
    return {
        "inputs": len(outcomes),
        "clean_errors": sum(1 for o in outcomes if o.clean and o.code != 0),
        "clean_successes": sum(1 for o in outcomes if o.clean and o.code == 0),
        "tracebacks": sum(1 for o in outcomes if o.traceback),
        "hangs": sum(1 for o in outcomes if o.hung),
        "data_loss": sum(1 for o in outcomes if o.data_loss),
        "wrong_status": sum(
            1 for o in outcomes if o.code is not None and o.code not in o.case.expect
        ),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--family", nargs="+", choices=FAMILIES, default=list(FAMILIES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n", type=int, default=12, help="mutants per model/store family")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--keep", type=Path, help="generate into this folder and keep it")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="npubench-hostile-"))
    started = time.monotonic()
    figures: dict[str, dict[str, int]] = {}
    problems: list[str] = []
    try:
        for family in args.family:
            outcomes = []
            for case in generate(family, work, args.n, args.seed):
                before = readable_rows(case.store) if case.store else {}
                outcome = run_console_script(case)
                if family == "board" and (odd := new_rows_are_never_ok(case, before)):
                    outcome.data_loss = "; ".join(odd)
                outcomes.append(outcome)
                if not outcome.clean:
                    problems.append(outcome.describe())
            figures[family] = tally(outcomes)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    total = {k: sum(f[k] for f in figures.values()) for k in next(iter(figures.values()))}
    figures["total"] = total
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        columns = list(total)
        print(f"{'family':8} " + " ".join(f"{c:>15}" for c in columns))
        for family, f in figures.items():
            print(f"{family:8} " + " ".join(f"{f[c]:>15}" for c in columns))
        print(f"{time.monotonic() - started:.0f} s")
        for text in problems:
            print("\n" + text)
    bad = total["tracebacks"] + total["hangs"] + total["data_loss"] + total["wrong_status"]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
