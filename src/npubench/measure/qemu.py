"""Build the C harness and run it on an emulated board, reachable on a pseudo-terminal.

``build_firmware("qemu-cortex-m4", model)`` cross-compiles ``measure/harness`` with a model port
(default: the built-in npb-dense-v1 workload) through its Makefile and caches the ELF by
content. ``QemuBoard`` starts ``qemu-system-arm`` with the board's UART0 on a pty, and
``HostHarness`` runs the harness as a POSIX process on a pty (no emulator at all); both give
a ``port`` that the host runner opens exactly like a real board's serial port.

The emulated boards are the board files with an ``[emulator]`` table (QEMU machine, harness
Makefile target, timer clock); the QEMU ``-cpu`` follows from the board's ``cpu.core``.

Paths never reach ``make`` as they are: GNU make expands ``$(...)`` in a variable given on its
command line (a cache folder named ``$(shell ...)`` would run it) and splits every path at
spaces, so a build runs in a private staging folder whose path is plain (``_MAKE_SAFE``): the
harness sources and the model port's files are copied there, make builds there, and the
binary is copied back into the cache. ``make_safe`` tells whether a path may be handed over.

QEMU timings are not cycle-accurate: the firmware times stages with SysTick, which QEMU
drives from host time, and reports ``cycle_accurate=0``. Use them to test the measurement
chain and compare relative costs, never as a board's latency.

May import: the foundation modules (``errors``, ``cache``, ``processes``), ``targets``, the
standard library.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from npubench import processes
from npubench.cache import cache_key, cached_dir, file_sha256
from npubench.errors import MeasurementError

if TYPE_CHECKING:
    from npubench.targets import Board

HARNESS_DIR = Path(__file__).with_name("harness")
APT_PACKAGES = ("gcc-arm-none-eabi", "libnewlib-arm-none-eabi", "qemu-system-arm")
_PTY_RE = re.compile(rb"char device redirected to (/dev/\S+)")
_MAKE_SAFE = re.compile(r"[A-Za-z0-9_./+-]+")
"""Characters a path may contain to be passed to make as it is (no space, $, #, %, :, =...)."""


def make_safe(path: Path | str) -> bool:
    """Whether ``path`` can be given to make literally (no expansion, no word splitting)."""
    return bool(_MAKE_SAFE.fullmatch(str(path)))


class EmulatorError(MeasurementError):
    """The cross-compiler or QEMU is missing, a build failed, or QEMU did not start."""


@dataclass(frozen=True)
class EmulatedBoard:
    """One QEMU machine the harness has a port for: a board file's ``[emulator]`` table."""

    name: str
    machine: str
    cpu: str
    make_target: str
    clock_hz: int

    @classmethod
    def of(cls, board: Board) -> EmulatedBoard:
        assert board.emulator is not None
        return cls(
            name=board.name,
            machine=board.emulator.qemu_machine,
            cpu=qemu_cpu(board.cpu.core),
            make_target=board.emulator.make_target,
            clock_hz=board.emulator.clock_hz,
        )


def qemu_cpu(core: str) -> str:
    """QEMU's ``-cpu`` for a board's core: ``cortex-m4f`` (with its FPU) is ``cortex-m4``."""
    return re.sub(r"^(cortex-m\d+)f$", r"\1", core)


def emulated_boards() -> dict[str, EmulatedBoard]:
    """The boards with an ``[emulator]`` table in their board file, by name."""
    from npubench.targets import all_targets

    return {
        name: EmulatedBoard.of(board)
        for name, board in sorted(all_targets().items())
        if board.emulator is not None
    }


def is_emulated(name: str) -> bool:
    """Whether ``name`` is a board ``npubench measure`` runs in QEMU (it has ``[emulator]``)."""
    from npubench.targets import all_targets

    board = all_targets().get(name)
    return board is not None and board.emulator is not None


def missing_tools(board: str = "qemu-cortex-m4") -> list[str]:
    """The executables a board build/run needs that are not on PATH."""
    need = ["make", "gcc"] if board == "host" else ["make", "arm-none-eabi-gcc", "qemu-system-arm"]
    return [tool for tool in need if shutil.which(tool) is None]


def _require_tools(board: str) -> None:
    missing = missing_tools(board)
    if missing:
        raise EmulatorError(
            f"cannot build/run the harness for {board}: {', '.join(missing)} not found on PATH",
            hint="install them: apt-get install -y " + " ".join(APT_PACKAGES),
        )


def emulated_board(name: str) -> EmulatedBoard:
    """The emulated board ``name``; an unknown name gets the closest emulated boards."""
    boards = emulated_boards()
    try:
        return boards[name]
    except KeyError:
        from npubench.errors import closest_names

        close = closest_names(name, list(boards))
        raise EmulatorError(
            f"no emulated board named {name!r} (a board file with an [emulator] table)",
            hint=f"did you mean {', '.join(close)}?"
            if close
            else f"choose one of {', '.join(boards)}",
        ) from None


CGEN_GLUE = HARNESS_DIR / "models" / "cgen" / "npb_model_glue.c"
"""Identity functions for a model generated by compilers/cgen (sizes from its model.h)."""


@dataclass(frozen=True)
class ModelPort:
    """The C files of a model port and the flags they need.

    The default (``ModelPort()``) is the built-in npb-dense-v1 workload. For a model generated
    by compilers/cgen use ``ModelPort.from_cgen(folder, sha256, name)``.
    """

    sources: tuple[Path, ...] = ()
    include_dirs: tuple[Path, ...] = ()
    defines: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_cgen(cls, folder: Path, model_sha256: str, name: str) -> ModelPort:
        folder = Path(folder).resolve()
        if not re.fullmatch(r"[0-9a-fA-F]{16,64}", model_sha256):
            raise EmulatorError(
                f"model hash {model_sha256!r} is not hex", hint="pass the model file's SHA-256"
            )
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,24}", name):
            raise EmulatorError(
                f"model name {name!r} must be 1-24 letters, digits, '_' or '-'",
                hint="pick a short name without spaces",
            )
        return cls(
            sources=(folder / "model.c", folder / "npb_kernels.c", CGEN_GLUE),
            include_dirs=(folder,),
            defines=(("NPB_MODEL_HASH", model_sha256[:16].lower()), ("NPB_MODEL_NAME", name)),
        )

    def make_args(self) -> list[str]:
        """``MODEL_SRC``/``MODEL_CFLAGS`` for make; every path must be ``make_safe`` (a
        port staged by ``staged``), else ``EmulatorError``."""
        if not self.sources:
            return []
        paths = [Path(f).resolve() for f in self.sources] + [
            Path(d).resolve() for d in self.include_dirs
        ]
        unsafe = [str(p) for p in paths if not make_safe(p)]
        values = [str(v) for _, v in self.defines] + [k for k, _ in self.defines]
        if unsafe or not all(make_safe(v) for v in values):
            raise EmulatorError(
                f"model port paths or defines cannot be passed to make as they are: "
                f"{', '.join(unsafe) or ', '.join(values)}",
                hint="this is an npubench bug: the build should stage them (ModelPort.staged)",
            )
        flags = [f"-I{d.resolve()}" for d in self.include_dirs]
        flags += [f"-D{k}={v}" for k, v in self.defines]
        return [
            "MODEL_SRC=" + " ".join(str(Path(f).resolve()) for f in self.sources),
            "MODEL_CFLAGS=" + " ".join(flags),
        ]

    def staged(self, folder: Path, harness: Path) -> ModelPort:
        """This port with its files copied below ``folder`` (a make-safe path), so that make
        sees no space or ``$`` from the user's or the cache's paths. Files of the harness
        itself (the cgen glue) map into the staged ``harness`` copy."""
        if not self.sources:
            return self
        mapping: dict[Path, Path] = {}
        include_dirs = []
        for i, d in enumerate(self.include_dirs):
            source_dir = Path(d).resolve()
            target = folder / f"inc{i}"
            shutil.copytree(source_dir, target, dirs_exist_ok=True)
            mapping[source_dir] = target
            include_dirs.append(target)
        sources = []
        for i, f in enumerate(self.sources):
            file = Path(f).resolve()
            if file.is_relative_to(HARNESS_DIR.resolve()):
                sources.append(harness / file.relative_to(HARNESS_DIR.resolve()))
                continue
            if file.parent in mapping and make_safe(file.name):
                sources.append(mapping[file.parent] / file.name)
                continue
            name = file.name if make_safe(file.name) else f"source{i}.c"
            target_dir = folder / f"src{i}"
            target_dir.mkdir(parents=True, exist_ok=True)
            shutil.copy2(file, target_dir / name)
            sources.append(target_dir / name)
        return ModelPort(tuple(sources), tuple(include_dirs), self.defines)

    def key(self) -> object:
        missing = [str(f) for f in self.sources if not Path(f).is_file()]
        if missing:
            raise EmulatorError(
                f"model port source(s) not found: {', '.join(missing)}",
                hint="generate the model's C code first, or fix the paths",
            )
        headers = [h for d in self.include_dirs for h in sorted(Path(d).glob("*.h"))]
        return {
            "sources": [file_sha256(Path(f)) for f in self.sources],
            "headers": [file_sha256(h) for h in headers],
            "defines": list(self.defines),
        }


def _sources_key(target: str, model: ModelPort) -> str:
    files = sorted(
        p
        for p in HARNESS_DIR.rglob("*")
        if p.is_file() and (p.suffix in {".c", ".h", ".ld"} or p.name == "Makefile")
    )
    files = [p for p in files if "build" not in p.relative_to(HARNESS_DIR).parts]
    compiler = "arm-none-eabi-gcc" if target.startswith("qemu") else "gcc"
    version = subprocess.run(
        [compiler, "--version"], capture_output=True, text=True, check=False
    ).stdout.splitlines()[:1]
    return cache_key(
        "npb-harness",
        target,
        {str(p.relative_to(HARNESS_DIR)): file_sha256(p) for p in files},
        model.key(),
        version,
    )


def _staging_root() -> Path:
    """A make-safe folder for staging builds: the temp folder, else /tmp."""
    for candidate in (Path(tempfile.gettempdir()).resolve(), Path("/tmp")):
        if make_safe(candidate) and candidate.is_dir() and os.access(candidate, os.W_OK):
            return candidate
    raise EmulatorError(
        f"no temporary folder without spaces or special characters to build in "
        f"(TMPDIR={tempfile.gettempdir()!r})",
        hint="set TMPDIR to a plain path such as /tmp",
    )


def _make(target: str, out_dir: Path, model: ModelPort) -> None:
    """Run the harness Makefile for ``target``; its output lands in ``out_dir``.

    make runs in a private staging folder with a plain path (harness and model files copied
    in), never on the user's or the cache's paths, which may hold spaces or ``$(...)``.
    """
    stage = Path(tempfile.mkdtemp(prefix="npb-make-", dir=_staging_root()))
    try:
        harness = stage / "harness"
        shutil.copytree(HARNESS_DIR, harness, ignore=shutil.ignore_patterns("build", "__pycache__"))
        port = model.staged(stage / "model", harness)
        build = stage / "build"
        cmd = ["make", "-s", "-C", str(harness), f"BUILD={build}", target, *port.make_args()]
        _run_make(cmd, target)
        out_dir.mkdir(parents=True, exist_ok=True)
        shutil.copytree(build, out_dir, dirs_exist_ok=True)
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _run_make(cmd: list[str], target: str) -> None:
    proc = processes.run(cmd, text=True)
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        raise EmulatorError(
            f"building the harness target {target} failed:\n{tail}",
            hint="the model port must implement the required functions of npb_model.h and "
            "compile warning-free with -Wall -Wextra -Werror -std=c99",
        )


def build_firmware(board: str, model: ModelPort | None = None) -> Path:
    """Builds (or takes from the cache) the harness for ``board``; returns the binary's path.

    ``board`` is an emulated board (``emulated_boards()``) or ``"host"`` (the POSIX-process
    harness); ``model`` is the model port (default: the built-in dense workload).
    """
    _require_tools(board)
    model = model or ModelPort()
    target = "host" if board == "host" else emulated_board(board).make_target
    binary = "npb_fw_host" if board == "host" else "npb_fw.elf"

    def build(tmp: Path) -> None:
        _make(target, tmp / "build", model)
        shutil.copy2(tmp / "build" / target / binary, tmp / binary)
        shutil.rmtree(tmp / "build")

    folder, _ = cached_dir("harness-fw", _sources_key(target, model), build)
    return folder / binary


class _PtyProcess:
    """A child process that announces a pty on its output; stopped on exit."""

    def __init__(self, cmd: list[str], what: str, start_timeout_s: float = 10.0) -> None:
        self.cmd = cmd
        self.what = what
        self.start_timeout_s = start_timeout_s
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = ""
        self._output = bytearray()
        self._found = threading.Event()

    def _pump(self) -> None:
        # Keeps reading the child's output so that it never blocks on a full pipe.
        assert self.proc is not None and self.proc.stdout is not None
        stdout = self.proc.stdout
        for chunk in iter(lambda: stdout.read1(4096), b""):
            self._output += chunk
            m = _PTY_RE.search(self._output) or re.search(rb"pty: (/dev/\S+)", self._output)
            if m and not self._found.is_set():
                self.port = m.group(1).decode()
                self._found.set()

    def start(self) -> str:
        self.proc = processes.popen(
            self.cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        threading.Thread(target=self._pump, daemon=True).start()
        deadline = time.monotonic() + self.start_timeout_s
        while not self._found.wait(0.05):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise EmulatorError(
                    f"{self.what} did not open a serial pty: "
                    f"{bytes(self._output).decode(errors='replace').strip()[-400:] or 'no output'}",
                    hint="run the command by hand to see why: " + " ".join(self.cmd),
                )
        return self.port

    def stop(self) -> None:
        if self.proc is None:
            return
        processes.kill_group(self.proc)
        processes.release(self.proc)
        self.proc = None

    @property
    def output(self) -> str:
        return bytes(self._output).decode(errors="replace")

    def __enter__(self) -> _PtyProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class QemuBoard(_PtyProcess):
    """``qemu-system-arm`` running a harness ELF with UART0 on a pty (``.port``)."""

    def __init__(self, board: str, elf: Path) -> None:
        _require_tools(board)
        b = emulated_board(board)
        cmd = [
            "qemu-system-arm",
            "-M",
            b.machine,
            "-cpu",
            b.cpu,
            "-display",
            "none",
            "-monitor",
            "none",
            "-serial",
            "pty",
            "-kernel",
            str(elf),
        ]
        super().__init__(cmd, f"QEMU {b.machine}")
        self.board = b


class HostHarness(_PtyProcess):
    """The harness compiled for the host, as a process with its UART on a pty (``.port``)."""

    def __init__(self, binary: Path) -> None:
        super().__init__([str(binary), "--pty"], "the host harness")
