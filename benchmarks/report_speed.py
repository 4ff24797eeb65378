"""How long `npubench report --html` takes on a store of 1,000 results, and how big the page is.

Builds a store of 1,000 synthetic results with ``npubench.store.ResultStore`` (25 models of
0.2 to 50 M MACs on 20 catalogue boards: compiled and predicted figures with calibrated,
family-calibrated, datasheet and assumption bases, measurements on two boards, emulator
timings on the QEMU boards, some models that do not fit), then times the command as a user
runs it (a fresh process: imports included) and prints the time and the page size against the
targets: under 5 s and under 5 MB.

Run: ``python benchmarks/report_speed.py [--results 1000] [--keep DIR]``. Exits 1 when a
target is missed.
"""

from __future__ import annotations

import argparse
import math
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from npubench import STAGES
from npubench.schema import BenchResult, Fidelity, MemoryUse, stage_total
from npubench.store import ResultStore

TARGET_SECONDS = 5.0
TARGET_BYTES = 5_000_000
BOARDS = [
    "hx-we2",
    "alif-e7-hp",
    "alif-e7-he",
    "alif-e4",
    "corstone-300",
    "ethos-u55-128",
    "ethos-u65-256",
    "ethos-u85-256",
    "max78000",
    "max78002",
    "stm32n6",
    "mcxn947",
    "gap8",
    "gap9",
    "rv1106",
    "esp32s3",
    "stm32h747",
    "ra8p1",
    "qemu-cortex-m55",
    "qemu-cortex-m4",
]
MEASURED = {"hx-we2", "max78000"}
BASES = ["calibrated", "calibrated-family", "datasheet", "assumption"]


def synthetic_results(n: int, seed: int = 0) -> list[BenchResult]:
    rng = random.Random(seed)
    out: list[BenchResult] = []
    models = [(f"model{i:02d}", 2e5 * (250 ** (i / 24))) for i in range(25)]
    while len(out) < n:
        for model, macs in models:
            for b, board in enumerate(BOARDS):
                emulator = board.startswith("qemu-")
                kinds = ["measured"] if emulator else ["compiled", "predicted"]
                if board in MEASURED:
                    kinds.append("measured")
                for kind in kinds:
                    if len(out) >= n:
                        return out
                    out.append(_one(rng, model, macs, board, b, kind, len(out)))
    return out


def _one(
    rng: random.Random, model: str, macs: float, board: str, b: int, kind: str, i: int
) -> BenchResult:
    rate = 1e9 * (0.3 + 2.0 * (b % 7)) * rng.uniform(0.8, 1.2)  # MACs/s
    inference = 1e6 * macs / rate
    stages = {
        "init": 300.0 + 3000.0 * (b % 3 == 0),
        "input_io": 20.0 + macs / 2e5,
        "inference": inference,
        "output_io": 5.0 + rng.uniform(0, 50),
        "postprocess": rng.uniform(0, 2000) if model.endswith(("3", "7")) else 5.0,
    }
    latency: dict[str, float | None] = {s: None for s in STAGES}
    status, message = "ok", ""
    if kind == "compiled":
        latency["inference"] = inference
    else:
        latency.update({s: v * rng.uniform(0.9, 1.1) for s, v in stages.items()})
    latency["total"] = stage_total(latency)
    weights = int(macs / 40)
    fit = {"sram": MemoryUse(weights // 3 + 20_000, 1 << 20), "flash": MemoryUse(weights, 8 << 20)}
    if board in ("max78000", "max78002") and macs > 2e7:
        status, message = "does_not_fit", f"cnn_weights: needs {weights} B of 442368 B"
        latency = {s: None for s in (*STAGES, "total")}
    total = latency["total"]
    details: dict = {"macs": macs, "params": weights}
    compiler: dict = {"name": None, "version": None, "cycles": None}
    if kind == "compiled":
        compiler = {"name": "vela", "tool": "ethos-u-vela", "version": "5.2.0", "cycles": None}
    if kind == "predicted":
        basis = BASES[b % len(BASES)]
        details |= {
            "basis_kind": basis,
            "basis": f"{basis} parameters",
            "cross_validated": {"lomo_median": 1.08, "lomo_worst": 1.17}
            if basis == "calibrated"
            else {},
            "mode": "analytical",
        }
    energy: dict[str, float | None] = {}
    power: dict[str, float | None] = {}
    if kind != "compiled" and total is not None and not board.startswith("qemu-"):
        mw = 20.0 + 5 * (b % 5)
        power = {"average": mw}
        energy = {"total": mw * total / 1000, "net": (mw - 10) * total / 1000}
    spread = 0.02 if kind == "measured" else 0.25
    return BenchResult(
        model=model,
        target=board,
        kind=kind,  # type: ignore[arg-type]
        status=status,  # type: ignore[arg-type]
        message=message,
        latency_us=latency,
        latency_us_low=None if total is None or kind == "compiled" else total * (1 - spread),
        latency_us_high=None if total is None or kind == "compiled" else total * (1 + spread),
        fit=fit,
        ops={"npu": 20, "cpu": 1},
        compiler=compiler,
        fidelity=Fidelity(sqnr_db=20 + math.log(macs), samples=16),
        power_mw=power,
        energy_uj=energy,
        clock_mhz=100.0,
        options={"optimise": "Performance", "seed": i % 3},
        provenance={
            "npubench_version": "0.1.0",
            "toolchains": {"vela": "5.2.0", "tensorflow": "2.21.0"},
            "host": {"hostname": "bench", "platform": "Linux", "python": "3.11"},
            "time_utc": f"2026-03-02T10:{i % 60:02d}:00+00:00",
            "model_sha256": f"{hash(model) & 0xFFFFFFFF:08x}" * 8,
            **({"cycle_accurate": False} if board.startswith("qemu-") else {}),
        },
        details=details,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=int, default=1000)
    parser.add_argument("--keep", type=Path, help="write the store and page here and keep them")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="npubench-report-speed-"))
    work.mkdir(parents=True, exist_ok=True)
    db, page = work / "results.sqlite", work / "report.html"
    db.unlink(missing_ok=True)
    results = synthetic_results(args.results)
    t0 = time.perf_counter()
    with ResultStore(db) as store:
        for r in results:
            store.add(r)
    built = time.perf_counter() - t0
    exe = Path(sys.executable).parent / "npubench"
    command = [str(exe) if exe.exists() else "npubench", "report", "--db", str(db)]
    command += ["--html", str(page)]
    t0 = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - t0
    if done.returncode != 0:
        print(done.stderr[-3000:], file=sys.stderr)
        return 1
    size = page.stat().st_size
    figures = page.read_text(encoding="utf-8").count('<div class="plot"')
    models = len({r.model for r in results})
    boards = len({r.target for r in results})
    print(
        f"store: {len(results)} results ({models} models x {boards} boards), built in {built:.1f} s"
    )
    print(f"npubench report --html: {seconds:.2f} s (target < {TARGET_SECONDS:g} s)")
    print(f"page: {size / 1e6:.2f} MB, {figures} figures (target < {TARGET_BYTES / 1e6:.2f} MB)")
    ok = seconds < TARGET_SECONDS and size < TARGET_BYTES
    print("within targets" if ok else "TARGET MISSED")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"kept {db} and {page}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
