"""Build and run generated C on the host: a tiny stdin/stdout runner, gcc, cross-compile checks.

``write_host_runner`` adds ``main.c`` (reads whole inputs from stdin, writes outputs to stdout;
``main N`` instead times N invocations); ``build_host`` compiles it with gcc;
``run_host`` feeds int8 samples through the binary; ``compile_for_cortex_m`` compiles the model
sources for a Cortex-M core with arm-none-eabi-gcc (``-c`` only). May import: numpy,
npubench.errors and sibling cgen modules.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from npubench import processes
from npubench.compilers.cgen.generator import CgenResult
from npubench.errors import CompilerError

STRICT_FLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-O2")
CORTEX_M_FLAGS = {
    "cortex-m4": ("-mcpu=cortex-m4", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv4-sp-d16"),
    "cortex-m7": ("-mcpu=cortex-m7", "-mthumb", "-mfloat-abi=hard", "-mfpu=fpv5-d16"),
    "cortex-m33": ("-mcpu=cortex-m33", "-mthumb"),
    "cortex-m55": ("-mcpu=cortex-m55", "-mthumb"),
}

_RUNNER = """/* Host runner for generated npubench C: stdin samples -> stdout outputs. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "model.h"

static int8_t input[{up}_INPUT_SIZE];
static int8_t output[{up}_OUTPUT_SIZE];

int main(int argc, char **argv)
{{
    if (argc > 1) {{ /* timing mode: invoke N times on a fixed input */
        long n = atol(argv[1]);
        long i;
        clock_t start;
        double seconds;
        unsigned checksum = 0;
        for (i = 0; i < {up}_INPUT_SIZE; ++i) {{
            input[i] = (int8_t)(i * 37);
        }}
        start = clock();
        for (i = 0; i < n; ++i) {{
            {prefix}_invoke(input, output);
            checksum += (uint8_t)output[i % {up}_OUTPUT_SIZE];
        }}
        seconds = (double)(clock() - start) / CLOCKS_PER_SEC;
        printf("%.9f %u\\n", n > 0 ? seconds / n : 0.0, checksum);
        return 0;
    }}
    while (fread(input, 1, sizeof input, stdin) == sizeof input) {{
        {prefix}_invoke(input, output);
        if (fwrite(output, 1, sizeof output, stdout) != sizeof output) {{
            return 1;
        }}
    }}
    return 0;
}}
"""


def write_host_runner(result: CgenResult) -> Path:
    path = result.out_dir / "main.c"
    path.write_text(_RUNNER.format(prefix=result.prefix, up=result.prefix.upper()))
    return path


def _run_compiler(cmd: list[str], what: str) -> None:
    proc = processes.run(cmd, text=True, timeout=600)
    if proc.returncode != 0:
        raise CompilerError(
            f"{what} failed ({' '.join(cmd[:3])} ...):\n{proc.stderr.strip()[-2000:]}",
            hint="this is a bug in the C generator; please report it with the model",
        )


def build_host(result: CgenResult, cc: str = "gcc", extra_flags: tuple[str, ...] = ()) -> Path:
    """Compile the model and the stdin/stdout runner with strict warnings; return the binary."""
    if shutil.which(cc) is None:
        raise CompilerError(f"C compiler {cc!r} not found", hint="install gcc")
    runner = write_host_runner(result)
    binary = result.out_dir / "npb_host_runner"
    _run_compiler(
        [
            cc,
            *STRICT_FLAGS,
            *extra_flags,
            "-I",
            str(result.out_dir),
            *map(str, result.sources),
            str(runner),
            "-o",
            str(binary),
        ],
        "host build",
    )
    return binary


def run_host(binary: Path, result: CgenResult, samples: list[np.ndarray]) -> list[np.ndarray]:
    """Run int8 ``samples`` (each of the model's input size) and return int8 outputs."""
    size_in = int(np.prod(result.input_shape))
    size_out = int(np.prod(result.output_shape))
    data = b"".join(np.asarray(s, np.int8).reshape(-1)[:size_in].tobytes() for s in samples)
    proc = processes.run([str(binary)], input=data, timeout=600)
    if proc.returncode != 0 or len(proc.stdout) != size_out * len(samples):
        raise CompilerError(
            f"generated host program failed (exit {proc.returncode}, "
            f"{len(proc.stdout)} output bytes)",
            hint="this is a bug in the C generator; please report it with the model",
        )
    flat = np.frombuffer(proc.stdout, np.int8)
    return [
        flat[i * size_out : (i + 1) * size_out].reshape(result.output_shape)
        for i in range(len(samples))
    ]


def time_host(binary: Path, iterations: int) -> float:
    """Seconds per inference of the host build (CPU time, fixed input)."""
    proc = processes.run([str(binary), str(iterations)], text=True, timeout=600)
    if proc.returncode != 0:
        raise CompilerError(
            f"generated host program failed (exit {proc.returncode}) while timing",
            hint="this is a bug in the C generator; please report it with the model",
        )
    return float(proc.stdout.split()[0])


def compile_for_cortex_m(result: CgenResult, cpu: str, cc: str = "arm-none-eabi-gcc") -> list[Path]:
    """Compile (``-c``) the model sources for ``cpu``; return the object files."""
    if shutil.which(cc) is None:
        raise CompilerError(
            f"{cc} not found",
            hint="apt-get install gcc-arm-none-eabi libnewlib-arm-none-eabi",
        )
    flags = CORTEX_M_FLAGS.get(cpu)
    if flags is None:
        raise CompilerError(f"unknown core {cpu!r}", hint=f"one of {', '.join(CORTEX_M_FLAGS)}")
    objects = []
    for source in result.sources:
        obj = result.out_dir / f"{source.stem}.{cpu}.o"
        _run_compiler(
            [
                cc,
                *STRICT_FLAGS,
                *flags,
                "-ffunction-sections",
                "-fdata-sections",
                "-I",
                str(result.out_dir),
                "-c",
                str(source),
                "-o",
                str(obj),
            ],
            f"{cpu} build",
        )
        objects.append(obj)
    return objects
