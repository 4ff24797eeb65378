"""Time a sweep on the local pool: the study's five models x every target, cold and warm.

Cold: an empty artifact cache (quantization, TFLM analysis and every Vela compile run).
Warm: the same sweep into a fresh store on the filled cache (nothing is skipped as already
stored; only the expensive artifacts are reused). Prints cells per second for both.

    python benchmarks/sweep_speed.py [--models study] [--workers N] [--kinds compile predict]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path


def run(models: list[str], kinds: list[str], workers: int | None, db: Path) -> None:
    from npubench.sweep.run import run_sweep
    from npubench.sweep.spec import spec_from_flags

    spec = spec_from_flags(
        models, ["all"], kinds=kinds, optimise=["Performance", "Size"], name="sweep-speed"
    )
    s = run_sweep(spec, db=db, workers=workers)
    print(
        f"  {s.ran} cells ({s.ok} ok, {s.does_not_fit} do not fit, {s.failed} failed) "
        f"in {s.elapsed_s:.1f} s: {s.cells_per_s:.2f} cells/s"
    )
    for label, message in s.failures[:5]:
        print(f"  failed: {label}: {message.splitlines()[0]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", nargs="+", default=["study"])
    parser.add_argument("--kinds", nargs="+", default=["compile", "predict"])
    parser.add_argument("--workers", type=int, default=None, help="default: os.cpu_count()")
    args = parser.parse_args()
    print(f"workers: {args.workers or os.cpu_count()}")
    with tempfile.TemporaryDirectory() as tmp:
        # Set before the first worker starts: workers take the npubench settings from here.
        os.environ["NPUBENCH_CACHE_DIR"] = str(Path(tmp) / "cache")
        print("cold (empty cache):")
        run(args.models, args.kinds, args.workers, Path(tmp) / "cold.sqlite")
        print("warm (filled cache, fresh store):")
        run(args.models, args.kinds, args.workers, Path(tmp) / "warm.sqlite")


if __name__ == "__main__":
    main()
