"""Time the full matrix: the study's five models x the built-in Ethos-U boards x both Vela modes.

Cold: empty artifact cache (quantization, TFLM analysis and Vela all run). Warm: the same run
again on the filled cache. Prints seconds per phase and per cell; figures go in closing notes.

    python benchmarks/bench_matrix.py [--models study] [--skip-cold]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path


def run_matrix(models: list[str], db: Path) -> tuple[float, int]:
    import npubench.api as npb
    from npubench.pipeline import ETHOS_U_BOARDS

    start = time.perf_counter()
    cells = 0
    for optimise in ("Performance", "Size"):
        results = npb.bench(models, list(ETHOS_U_BOARDS), db=db, optimise=optimise)
        cells += len(results)
        failed = [r for r in results if r.status == "failed"]
        for r in failed:
            print(f"  failed: {r.model} on {r.target}: {r.message}")
    return time.perf_counter() - start, cells


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", nargs="+", default=["study"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["NPUBENCH_CACHE_DIR"] = str(Path(tmp) / "cache")
        db = Path(tmp) / "bench.sqlite"
        cold, cells = run_matrix(args.models, db)
        print(f"cold: {cold:.1f} s for {cells} cells ({cold / cells:.2f} s/cell)")
        warm, cells = run_matrix(args.models, db)
        print(f"warm: {warm:.1f} s for {cells} cells ({warm / cells:.3f} s/cell)")
        print(f"speed-up from the cache: {cold / warm:.1f}x")


if __name__ == "__main__":
    main()
