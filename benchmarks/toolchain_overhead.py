"""Per toolchain: process start to CompileReport for the study's five models, and npubench's share.

For every toolchain installed here and a target it compiles for, runs
``npubench compile -m zoo:<model> -t <target> --toolchain <name> --json`` as a fresh process (the
way a user or a script runs it), with the int8 models already prepared (quantization is not a
toolchain's work) and the toolchain cache emptied before each run (so the tool really runs).
Prints the wall time, the tool's own time (the vendor tool's process, as npubench timed it:
``compiler.seconds_tool``) and npubench's overhead share = 1 - tool / wall, against the 20 %
target.

    python benchmarks/toolchain_overhead.py [--models study] [--toolchain vela ...]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STUDY = ("yolov1", "resnet", "simplenet", "nas", "autoenc")
# One target per toolchain (the board the study used where it applies).
TARGETS = {
    "vela": "hx-we2",
    "executorch-ethos-u": "hx-we2",
    "executorch-cortex-m": "qemu-cortex-m4",
    "rknn": "rv1106",
    "esp-ppq": "esp32s3",
    "tflm": "stm32h7a3",
    "ai8x-synthesis": "max78000",
    "tpu-mlir": "cv1800b",
}
TARGET_OVERHEAD = 0.20


def npubench() -> str:
    return str(Path(sys.executable).parent / "npubench")


def available() -> list[str]:
    out = subprocess.run(
        [npubench(), "toolchains", "list", "--json"], capture_output=True, text=True, check=True
    )
    return [t["name"] for t in json.loads(out.stdout) if t["available"]]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", default=list(STUDY))
    parser.add_argument("--toolchain", nargs="*", default=None)
    args = parser.parse_args()
    cache = Path(os.environ.get("NPUBENCH_CACHE_DIR") or tempfile.mkdtemp(prefix="npb-bench-"))
    env = {**os.environ, "NPUBENCH_CACHE_DIR": str(cache)}
    names = args.toolchain or [t for t in available() if t in TARGETS]
    print(f"cache {cache}; toolchains: {', '.join(names)}")
    # Prepare (quantize) once: that is npubench's int8 path, not the toolchain's work.
    for model in args.models:
        subprocess.run(
            [npubench(), "compile", "-m", f"zoo:{model}", "-t", "hx-we2", "--json"],
            capture_output=True,
            env=env,
            check=False,
        )
    rows = []
    for name in names:
        target = TARGETS[name]
        for model in args.models:
            shutil.rmtree(cache / "toolchain", ignore_errors=True)
            start = time.perf_counter()
            done = subprocess.run(
                [
                    npubench(),
                    "compile",
                    "-m",
                    f"zoo:{model}",
                    "-t",
                    target,
                    "--toolchain",
                    name,
                    "--json",
                ],
                capture_output=True,
                text=True,
                env=env,
            )
            wall = time.perf_counter() - start
            if done.returncode != 0:
                print(
                    f"{name:20s} {model:10s} failed (exit {done.returncode}): "
                    f"{done.stderr.strip().splitlines()[-1] if done.stderr.strip() else ''}"
                )
                continue
            result = json.loads(done.stdout)
            tool = result["compiler"].get("seconds_tool") or 0.0
            rows.append((name, model, wall, tool))
            print(
                f"{name:20s} {model:10s} wall {wall:7.2f} s  tool {tool:7.2f} s  "
                f"npubench {1 - tool / wall:5.1%}"
            )
    print()
    for name in names:
        mine = [r for r in rows if r[0] == name]
        if not mine:
            continue
        wall = sum(r[2] for r in mine)
        tool = sum(r[3] for r in mine)
        share = 1 - tool / wall
        verdict = "ok" if share <= TARGET_OVERHEAD else "over target"
        print(
            f"{name:20s} {len(mine)} models: wall {wall:.1f} s, tool {tool:.1f} s, npubench "
            f"overhead {share:.1%} (target <= {TARGET_OVERHEAD:.0%}: {verdict}); median wall "
            f"{statistics.median(r[2] for r in mine):.2f} s"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
