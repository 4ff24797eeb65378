"""Generated C vs the TFLM interpreter on the host, and instruction counts per emulated core.

For each zoo model (or the ones named): host seconds per inference of the generated C (gcc -O2)
and of the tflite-micro interpreter (in a subprocess: TFLM can abort the process), retired
instructions of one inference on cortex-m4/m7/m33/m55 (QEMU TCG plugin, outputs checked against
the host build), the time those counts give at each core's CPI (an ESTIMATE, at 100 MHz), and
the image's memory (code, weights, RAM, arena) next to TFLM's arena.

Run: ``python benchmarks/cgen_icount.py [MODEL ...] [--cores cortex-m4,...] [--record]``.
``--record`` rewrites src/npubench/predict/params/cpu_counts.toml from the counts.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from npubench.analysis.tflm import measure_arena
from npubench.compilers.cgen import generate_c
from npubench.compilers.cgen.host import build_host, time_host
from npubench.measure.icount import CORES, count_model, elf_memory
from npubench.measure.icount.boards import get_core
from npubench.measure.icount.build import build_image, prepare_sources
from npubench.measure.icount.record import NamedCounts, write_cpu_counts
from npubench.models.prepare import prepare_model
from npubench.models.source import resolve_source
from npubench.models.zoo import ZOO
from npubench.predict.cpu_counts import instructions_to_us

CLOCK_HZ = 100e6  # the paper's equal-clock comparison
COUNTS_TOML = Path(__file__).resolve().parents[1] / "src/npubench/predict/params/cpu_counts.toml"

_TFLM_TIMER = """
import sys, time
import numpy as np
from tflite_micro.python.tflite_micro import runtime
path, arena, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
it = runtime.Interpreter.from_file(path, arena_size=arena)
details = it.get_input_details(0)
x = (np.arange(int(np.prod(details["shape"]))) * 37).astype(np.int8).reshape(details["shape"])
it.set_input(x, 0)
it.invoke()
start = time.process_time()
for _ in range(n):
    it.invoke()
print((time.process_time() - start) / n)
"""


def _iterations(seconds_per_call: float, budget_s: float = 0.5) -> int:
    return max(3, min(2000, int(budget_s / max(seconds_per_call, 1e-6))))


def time_tflm(tflite: Path, arena: int) -> float:
    """Host CPU seconds per TFLM invoke (arena with generous headroom: only speed matters)."""
    probe = subprocess.run(
        [sys.executable, "-c", _TFLM_TIMER, str(tflite), str(2 * arena + 65536), "3"],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    n = _iterations(float(probe.stdout.split()[-1]))
    done = subprocess.run(
        [sys.executable, "-c", _TFLM_TIMER, str(tflite), str(2 * arena + 65536), str(n)],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    return float(done.stdout.split()[-1])


def time_cgen(tflite: Path) -> float:
    with tempfile.TemporaryDirectory(prefix="npb-cgen-bench-") as tmp:
        result = generate_c(tflite, Path(tmp))
        binary = build_host(result)
        n = _iterations(time_host(binary, 3))
        return time_host(binary, n)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help=f"zoo names (default: all {len(ZOO)})")
    parser.add_argument("--cores", default=",".join(CORES))
    parser.add_argument("--record", action="store_true", help="rewrite cpu_counts.toml")
    args = parser.parse_args()
    models = args.models or list(ZOO)
    cores = [c.strip() for c in args.cores.split(",") if c.strip()]

    runs: list[NamedCounts] = []
    timing_rows, count_rows, memory_rows = [], [], []
    for name in models:
        tflite = prepare_model(resolve_source(f"zoo:{name}")).int8_tflite
        arena = measure_arena(tflite)
        t_cgen = time_cgen(tflite)
        try:
            t_tflm = time_tflm(tflite, arena)
        except subprocess.CalledProcessError as e:
            print(f"{name}: TFLM timing failed: {e.stderr.strip()[-200:]}", file=sys.stderr)
            t_tflm = float("nan")
        timing_rows.append((name, t_cgen * 1e6, t_tflm * 1e6, t_tflm / t_cgen))
        for core in cores:
            start = time.perf_counter()
            counts = count_model(tflite, core)
            wall = time.perf_counter() - start
            runs.append(NamedCounts(name, counts))
            us, lo, hi = instructions_to_us(core, counts.inference, CLOCK_HZ)
            per_mac = counts.inference / max(counts.total_macs, 1)
            count_rows.append((name, core, counts.inference, per_mac, us, lo, hi, wall))
        mem = elf_memory(build_image(prepare_sources(tflite), get_core(cores[0])))
        memory_rows.append((name, mem, arena))

    print("\nHost time per inference (this machine, CPU time)")
    print(f"{'model':20} {'cgen us':>10} {'TFLM us':>10} {'TFLM/cgen':>10}")
    for name, c, t, ratio in timing_rows:
        print(f"{name:20} {c:10.1f} {t:10.1f} {ratio:10.2f}")

    print(
        f"\nRetired instructions of one inference (QEMU TCG plugin); time at {CLOCK_HZ / 1e6:.0f}"
    )
    print("MHz through targets/cpi.toml = ESTIMATE [low..high]")
    print(
        f"{'model':20} {'core':11} {'instructions':>13} {'instr/MAC':>9} {'est. ms':>8} "
        f"{'range ms':>15} {'run s':>6}"
    )
    for name, core, n, per_mac, us, lo, hi, wall in count_rows:
        print(
            f"{name:20} {core:11} {n:13d} {per_mac:9.2f} {us / 1e3:8.2f} "
            f"{lo / 1e3:7.2f}..{hi / 1e3:<7.2f} {wall:6.2f}"
        )

    print(f"\nImage memory on {cores[0]} (bytes) vs TFLM's arena")
    print(
        f"{'model':20} {'code':>8} {'rodata':>8} {'weights':>8} {'RAM':>8} {'arena':>8} "
        f"{'TFLM arena':>10}"
    )
    for name, m, tflm in memory_rows:
        print(
            f"{name:20} {m.code_bytes:8d} {m.rodata_bytes:8d} {m.weights_bytes:8d} "
            f"{m.ram_bytes:8d} {m.arena_bytes:8d} {tflm:10d}"
        )

    if args.record:
        write_cpu_counts(runs, COUNTS_TOML)
        print(f"\nwrote {COUNTS_TOML}")


if __name__ == "__main__":
    main()
