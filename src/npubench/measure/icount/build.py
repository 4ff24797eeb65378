"""Build the counting plugin (host gcc) and the bare-metal counting image (arm-none-eabi-gcc).

Both are cached by content (``npubench.cache``): the plugin by its source and the host
compiler's version; the generated model sources by the model's SHA-256, the generator's own
source and the input seed; an image by those plus the core, its flags and the cross-compiler's
version. May import: npubench.errors, npubench.cache, npubench.compilers.cgen, numpy and
sibling icount modules.

Paths are passed to the compilers as separate arguments (never through a shell or make), so a
cache folder with spaces or ``$(...)`` in its name is taken literally; the one path the linker
gets inside an option (the map file) goes through ``-Xlinker``, which a comma cannot split
(``-Wl,`` would). ``qemu_option_path`` escapes a path for a comma-separated QEMU option.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

from npubench import processes
from npubench.cache import cache_key, cached_dir, file_sha256
from npubench.compilers.cgen import generate_c
from npubench.compilers.cgen.host import build_host, run_host
from npubench.errors import MeasurementError
from npubench.measure.icount.boards import (
    LDFLAGS,
    IcountCore,
    firmware_dir,
    harness_dir,
    plugin_dir,
)
from npubench.measure.icount.instrument import input_c, write_instrumented

PREFIX = "npb_model"  # the harness model API (npb_model.h) expects this prefix
HOST_CC = "gcc"
CROSS_CC = "arm-none-eabi-gcc"
PLUGIN_NAME = "libnpb_icount.so"
APT_HINT = "apt-get install gcc gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm"


def _require(tool: str) -> None:
    if shutil.which(tool) is None:
        raise MeasurementError(f"{tool} not found on PATH", hint=APT_HINT)


def _run(cmd: list[str], what: str, cwd: Path | None = None) -> None:
    proc = processes.run(cmd, text=True, timeout=600, cwd=cwd)
    if proc.returncode != 0:
        raise MeasurementError(
            f"{what} failed:\n{proc.stderr.strip()[-2000:]}",
            hint="check the toolchain install; if it is fine this is an npubench bug",
        )


def tool_version(tool: str) -> str:
    _require(tool)
    out = processes.run([tool, "--version"], text=True, timeout=60)
    return out.stdout.splitlines()[0].strip() if out.stdout else tool


def _tree_hash(folder: Path, patterns: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    for pattern in patterns:
        for path in sorted(folder.glob(pattern)):
            h.update(path.name.encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def _cgen_hash() -> str:
    """The generator's sources and the TFLite reader it uses: generated C changes with them."""
    folder = Path(str(resources.files("npubench.compilers.cgen")))
    reader = Path(str(resources.files("npubench.analysis")))
    return _tree_hash(folder, ("*.py", "kernels/*.c", "kernels/*.h")) + _tree_hash(
        reader, ("tflite_reader.py",)
    )


def build_plugin() -> Path:
    """The QEMU TCG plugin shared object (built once per source and compiler)."""
    _require(HOST_CC)
    src = plugin_dir()
    key = cache_key("icount-plugin", _tree_hash(src, ("*.c", "*.h")), tool_version(HOST_CC))

    def build(tmp: Path) -> None:
        _run(
            [
                HOST_CC,
                "-std=c99",
                "-Wall",
                "-Wextra",
                "-Werror",
                "-O2",
                "-shared",
                "-fPIC",
                "-fvisibility=hidden",
                "-o",
                str(tmp / PLUGIN_NAME),
                str(src / "icount_plugin.c"),
            ],
            "building the QEMU instruction-count plugin",
        )

    folder, _ = cached_dir("icount-plugin", key, build)
    return folder / PLUGIN_NAME


@dataclass(frozen=True)
class ModelSources:
    """Generated and instrumented C for one model, with the fixed input and its host output."""

    folder: Path
    model_sha256: str
    layers: list[tuple[int, str]]  # (TFLite operator index, opcode) of each marked layer
    expected_output: bytes  # the host build's output for the fixed input
    input_size: int
    output_size: int
    arena_bytes: int  # the generator's static plan
    constant_bytes: int


def input_sample(size: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(-128, 128, size, dtype=np.int64).astype(np.int8)


def prepare_sources(tflite: Path, seed: int = 0) -> ModelSources:
    """Generate C for ``tflite``, add layer markers, and run it on the host for the reference."""
    model_sha = file_sha256(tflite)
    key = cache_key("icount-src", model_sha, _cgen_hash(), seed, tool_version(HOST_CC))

    def build(tmp: Path) -> None:
        result = generate_c(tflite, tmp, prefix=PREFIX)
        _, layers = write_instrumented(result.out_dir / "model.c", PREFIX)
        size_in = int(np.prod(result.input_shape))
        sample = input_sample(size_in, seed)
        (tmp / "input.c").write_text(input_c(sample, size_in))
        binary = build_host(result)
        expected = run_host(binary, result, [sample])[0]
        (tmp / "expected_output.bin").write_bytes(np.asarray(expected, np.int8).tobytes())
        meta = {
            "layers": [[m.index, m.op] for m in layers],
            "input_size": size_in,
            "output_size": int(np.prod(result.output_shape)),
            "arena_bytes": result.arena_bytes,
            "constant_bytes": result.constant_bytes,
        }
        (tmp / "meta.json").write_text(json.dumps(meta))

    folder, _ = cached_dir("icount-src", key, build)
    meta = json.loads((folder / "meta.json").read_text())
    return ModelSources(
        folder=folder,
        model_sha256=model_sha,
        layers=[(int(i), str(op)) for i, op in meta["layers"]],
        expected_output=(folder / "expected_output.bin").read_bytes(),
        input_size=int(meta["input_size"]),
        output_size=int(meta["output_size"]),
        arena_bytes=int(meta["arena_bytes"]),
        constant_bytes=int(meta["constant_bytes"]),
    )


def build_image(sources: ModelSources, core: IcountCore, layer_marks: bool = True) -> Path:
    """The linked ELF that runs the five stages once on ``core`` (cached)."""
    _require(CROSS_CC)
    fw, harness = firmware_dir(), harness_dir()
    key = cache_key(
        "icount-elf",
        file_sha256(sources.folder / "model.c"),
        file_sha256(sources.folder / "input.c"),
        _tree_hash(fw, ("*.c", "*.ld")),
        _tree_hash(harness, ("npb_model.h", "npb_model_weak.c", "ports/qemu_mps2/startup_cm.c")),
        core.core,
        core.cflags,
        LDFLAGS,
        layer_marks,
        tool_version(CROSS_CC),
    )
    model_c = "model_marked.c" if layer_marks else "model.c"

    def build(tmp: Path) -> None:
        _run(
            [
                CROSS_CC,
                *core.cflags,
                "-I",
                str(sources.folder),
                "-I",
                str(harness),
                "-T",
                str(fw / core.linker_script),
                *LDFLAGS,
                "-Xlinker",
                f"-Map={tmp / 'icount.map'}",
                "-o",
                str(tmp / "icount.elf"),
                str(sources.folder / model_c),
                str(sources.folder / "npb_kernels.c"),
                str(sources.folder / "input.c"),
                str(fw / "icount_main.c"),
                str(harness / "npb_model_weak.c"),
                str(harness / "ports" / "qemu_mps2" / "startup_cm.c"),
            ],
            f"building the {core.core} counting image",
        )

    folder, _ = cached_dir("icount-elf", key, build)
    return folder / "icount.elf"


def qemu_option_path(path: Path | str) -> str:
    """``path`` for a comma-separated QEMU option (``-plugin FILE,arg=...``): QEMU reads a
    doubled comma as a literal one, so a folder named ``a,b`` stays one path."""
    return str(path).replace(",", ",,")


def compile_flags(core: IcountCore) -> str:
    return " ".join((*core.cflags, *LDFLAGS))
