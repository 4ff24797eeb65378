"""ADI ai8x-synthesis: the MAX78000/MAX78002 network loader ``ai8xize.py``, as a plug-in.

ADI's tool is not a package: it is a git checkout with its own Python environment (its
requirements pin torch and numpy versions of their own). npubench finds the checkout
(``$NPUBENCH_AI8X_SYNTHESIS``, a folder with ``ai8xize.py``, or ``ai8xize.py`` on PATH) and its
Python (``$NPUBENCH_AI8X_PYTHON``, else ``<checkout>/.venv/bin/python``, else
``<checkout>/venv/bin/python``) and runs ``ai8xize.py`` as an external program. Nothing of ADI's
code is imported or copied; the inputs it needs are written by npubench's own code:

- the network description (YAML), by ``network.describe_module`` + ``network.to_yaml`` from the
  float PyTorch model rebuilt in npubench's process (``resolve_source(...).build_module()``), or
  a user's file (option ``network_yaml``, e.g. one of the checkout's ``networks/``);
- the quantized checkpoint (``checkpoint.write_checkpoint``): symmetric per-layer 8-bit weights;
- the sample input (``--sample-input``): npubench's first calibration sample as int8 (C, H, W).

The run is ``ai8xize.py --no-version-check --test-dir <work>/out --prefix npubench
--checkpoint-file ... --config-file ... --device MAX78000|MAX78002 --timer 0
--display-checkpoint --verbose [--softmax] [--fifo]``, from the checkout (it finds its assets
relative to the working directory). ``parse`` reads ``out/npubench/log.txt``: per-layer rows,
"Weight memory" and "Bias memory" with their capacities, kernel words per processor, and the
"ESTIMATED LATENCY" in CNN clock cycles (MAX78000 only), whose clock is the board's NPU clock:
the generated main.c runs the MAX78000 CNN from PCLK (50 MHz); the tool states no clock itself.

May import ``npubench.errors``, ``npubench.cache``, ``npubench.processes``, ``npubench.targets``,
``npubench.toolchains`` (base, inputs) and ``npubench.models`` (inside ``compile``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import model_validator

from npubench import processes
from npubench.cache import file_sha256
from npubench.errors import CompilerError, ModelError, ToolchainMissing
from npubench.targets.schema import Board
from npubench.toolchains.ai8x_synthesis.checkpoint import write_checkpoint
from npubench.toolchains.ai8x_synthesis.network import (
    DEVICES,
    Network,
    describe_module,
    popcount,
    read_yaml_summary,
    to_yaml,
    yaml_operation,
)
from npubench.toolchains.ai8x_synthesis.parse import (
    Ai8xError,
    Ai8xLog,
    notices,
    parse_error,
    parse_log,
)
from npubench.toolchains.base import (
    CompileReport,
    CostReport,
    LayerReport,
    MemoryRegion,
    StrictModel,
    Toolchain,
    ToolchainInfo,
)
from npubench.toolchains.inputs import CompileInput

__all__ = ["TOOLCHAIN", "Ai8xBoardConfig", "Ai8xOptions", "Ai8xSynthesis", "report_from_outputs"]

ENV_CHECKOUT = "NPUBENCH_AI8X_SYNTHESIS"
ENV_PYTHON = "NPUBENCH_AI8X_PYTHON"
INSTALL = (
    "git clone https://github.com/analogdevicesinc/ai8x-synthesis, install its requirements "
    f"(torch==2.13.0 first), then set {ENV_CHECKOUT}=<checkout>"
)
TIMEOUT_S = 1200
PREFIX = "npubench"
OUT_DIR = "out"
Device = Literal["MAX78000", "MAX78002"]
_NPU_DEVICE = {"max78000-cnn": "MAX78000", "max78002-cnn": "MAX78002"}


class Ai8xBoardConfig(StrictModel):
    """The board file's ``[toolchains.ai8x-synthesis]`` table (optional)."""

    # The --device; by default the one the board's npu.name says (max78000-cnn -> MAX78000).
    device: Device | None = None


class Ai8xOptions(StrictModel):
    """Options of one ai8xize run."""

    network_yaml: Path | None = None  # a network description to use instead of npubench's
    softmax: bool = False  # --softmax: a software softmax after the CNN (classifiers)
    # Filled in from network_yaml's content, so that the cache key changes with the file.
    network_yaml_sha256: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _hash_yaml(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("network_yaml"):
            path = Path(str(data["network_yaml"])).expanduser()
            digest = file_sha256(path) if path.is_file() else None
            data = {**data, "network_yaml_sha256": digest}
        return data


# --- finding the tool ---------------------------------------------------------------------


def find_checkout() -> Path | None:
    """The ai8x-synthesis checkout: ``$NPUBENCH_AI8X_SYNTHESIS``, else ``ai8xize.py`` on PATH."""
    given = os.environ.get(ENV_CHECKOUT)
    if given:
        path = Path(given).expanduser()
        return path if (path / "ai8xize.py").is_file() else None
    on_path = shutil.which("ai8xize.py")
    return Path(on_path).resolve().parent if on_path else None


def find_python(checkout: Path) -> Path | None:
    """The checkout's Python: ``$NPUBENCH_AI8X_PYTHON``, else its .venv or venv."""
    given = os.environ.get(ENV_PYTHON)
    candidates = (
        [Path(given).expanduser()]
        if given
        else [checkout / ".venv" / "bin" / "python", checkout / "venv" / "bin" / "python"]
    )
    for python in candidates:
        if python.is_file() and os.access(python, os.X_OK):
            return python
    return None


def checkout_version(checkout: Path) -> str | None:
    """The checkout's git commit (short), plus the content of a version file if it has one."""
    try:
        done = processes.run(
            ["git", "-C", str(checkout), "rev-parse", "--short", "HEAD"], text=True, timeout=30
        )
        commit = done.stdout.strip() if done.returncode == 0 else ""
    except (OSError, subprocess.SubprocessError):
        commit = ""
    for name in ("VERSION", "version.txt", ".version"):
        path = checkout / name
        if path.is_file():
            text = path.read_text(errors="replace").strip().splitlines()
            if text:
                return f"{commit} ({name} {text[0].strip()})" if commit else text[0].strip()
    return commit or None


def _tool_env(python: Path) -> dict[str, str]:
    """The tool's environment: its venv first on PATH, none of npubench's Python paths."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")
    }
    env["PATH"] = f"{python.parent}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def board_device(board: Board, config: Ai8xBoardConfig) -> str:
    if config.device is not None:
        return config.device
    name = board.npu.name if board.npu else ""
    if name not in _NPU_DEVICE:
        raise CompilerError(
            f"board {board.name}: npu.name {name!r} is not a MAX78000/MAX78002 CNN",
            'set device = "MAX78000" or "MAX78002" in [toolchains.ai8x-synthesis]',
        )
    return _NPU_DEVICE[name]


# --- the report ---------------------------------------------------------------------------


def _board_capacity(board: Board, role: str) -> tuple[str | None, int | None]:
    found = board.memories_with_role(role)
    if not found:
        return None, None
    mem = max(found, key=lambda m: m.capacity_bytes)
    return mem.name, mem.capacity_bytes


def _layer_name(network: Network | None, index: int) -> str:
    if network is None or index >= len(network.layers):
        return f"layer {index}"
    lay = network.layers[index]
    return lay.name or f"layer {index} ({lay.describe()})"


def report_from_outputs(
    board: Board,
    log: Ai8xLog,
    console: str,
    *,
    options: Ai8xOptions,
    version: str,
    network: Network | None = None,
    seconds_tool: float | None = None,
) -> CompileReport:
    """A ``CompileReport`` from a successful run's log.txt and console output."""
    n = log.layer_count
    col = log.per_layer
    operator, kernel_dims = col("Operator"), col("Kernel dimensions")
    in_ch, out_ch, maps = col("Input channels"), col("Output channels"), col("Processor map")
    offsets, lengths, streaming = col("Kernel offset"), col("Kernel length"), col("Streaming")
    expansion, bias_q = col("Input expansion"), col("Quadrant with bias")

    def at(values: list[Any], k: int) -> Any:
        return values[k] if k < len(values) else None

    layers = []
    for k in range(n):
        dims = at(kernel_dims, k)
        layers.append(
            LayerReport(
                index=k,
                name=_layer_name(network, k),
                op=str(at(operator, k)),
                placement="npu",
                reason="CNN layer " + str(k) + (" (streaming)" if at(streaming, k) else ""),
                cycles=float(log.latency[k]) if k in log.latency else None,
                macs=log.macs.get(k),
                extra={
                    "kernel": "x".join(map(str, dims)) if isinstance(dims, list) else dims,
                    "in_channels": at(in_ch, k),
                    "out_channels": at(out_ch, k),
                    "processors": popcount(int(at(maps, k) or 0)),
                    "processor_map": f"0x{int(at(maps, k) or 0):016x}",
                    "passes": at(expansion, k),
                    "kernel_offset": at(offsets, k),
                    "kernel_words": at(lengths, k),
                    "bias_quadrant": at(bias_q, k),
                    "streaming": bool(at(streaming, k)),
                    "latency_estimated": k in log.latency_estimated,
                },
            )
        )
    weights_name, _ = _board_capacity(board, "npu_weights")
    memory = []
    if log.weight_memory is not None:
        memory.append(
            MemoryRegion(
                region="weight memory",
                used_bytes=log.weight_memory.used_bytes,
                capacity_bytes=log.weight_memory.capacity_bytes,
                board_memory=weights_name,
                what="CNN kernels: ai8xize's 'Weight memory' (packed weight bytes)",
            )
        )
    if log.bias_memory is not None:
        memory.append(
            MemoryRegion(
                region="bias memory",
                used_bytes=log.bias_memory.used_bytes,
                capacity_bytes=log.bias_memory.capacity_bytes,
                board_memory=None,
                what="CNN bias memories (4 quadrants; the board file lists no memory for them)",
            )
        )
    words = log.kernel_words_per_processor()
    device = log.device or ""
    busiest = max(range(64), key=lambda p: words[p])
    capacity = DEVICES[device].words_of(busiest) if device in DEVICES else None
    clock_hz = board.npu.clock_mhz.value * 1e6 if board.npu else None
    notes = notices(console)
    cost = None
    if log.latency_total is not None:
        cost = CostReport(
            what="ai8xize's ESTIMATED LATENCY of the CNN (log.txt, CNN clock cycles)"
            + (" — estimated for streaming layers" if log.latency_total_estimated else ""),
            cycles_total=float(log.latency_total),
            cycles_npu=float(log.latency_total),
            clock_hz=clock_hz,
        )
        notes.append(
            "ai8xize states no clock for its cycles; they are taken at the board's NPU clock "
            f"({(clock_hz or 0) / 1e6:g} MHz: the generated main.c runs the MAX78000 CNN from "
            "PCLK = 50 MHz)"
        )
    else:
        notes.append(f"ai8xize prints no latency estimate for {device or 'this device'}")
    notes.append(
        f"kernel memory: {words[busiest]} of {capacity or '?'} 72-bit words on the busiest "
        f"processor ({busiest}); bias per quadrant {log.bias_per_quadrant} bytes"
    )
    return CompileReport(
        toolchain=Ai8xSynthesis.name,
        tool=Ai8xSynthesis.tool,
        tool_version=version,
        plugin_version=Ai8xSynthesis.plugin_version,
        target=board.name,
        frontend="pytorch",
        options=options.model_dump(mode="json"),
        layers=layers,
        memory=memory,
        cost=cost,
        ops={"npu": n, "cpu": 0},
        notes=notes,
        extra={
            "device": device,
            "kernel_words_per_processor": words,
            "kernel_words_max": words[busiest],
            "kernel_words_capacity": capacity,
            "bias_per_quadrant": log.bias_per_quadrant,
            "weight_memory_percent": log.weight_memory.percent if log.weight_memory else None,
            "bias_memory_percent": log.bias_memory.percent if log.bias_memory else None,
            "hardware_ops": log.ops_total,
            "hardware_macc": log.macs_total,
            "startup_cycles": log.startup_cycles,
            "latency_estimated": log.latency_total_estimated,
            "network_yaml": str(options.network_yaml) if options.network_yaml else "npubench",
        },
        seconds_tool=seconds_tool,
    )


def compiler_error(
    err: Ai8xError | None, console: str, network: Network | None, returncode: int
) -> CompilerError:
    """The ``CompilerError`` for a failed run, naming the layer ai8xize rejected."""
    tail = "\n".join([x for x in console.splitlines() if x.strip()][-15:])
    if err is None:
        return CompilerError(
            f"ai8xize.py failed (exit status {returncode}) without an ERROR line:\n{tail}",
            "see its console output in the work folder (ai8xize_console.txt)",
        )
    where = ""
    if err.layer is not None:
        where = f" layer {err.layer} ({_layer_name(network, err.layer)})"
    hint = "see ai8xize's console output in the work folder (ai8xize_console.txt)"
    if err.processor is not None:
        hint = (
            "the layer's kernels do not fit that processor's kernel memory: fewer channels, "
            "4-bit weights for large layers, or MAX78002"
        )
    return CompilerError(f"ai8xize rejects{where}: {err.message}", hint)


# --- the plug-in --------------------------------------------------------------------------


class Ai8xSynthesis(Toolchain):
    name = "ai8x-synthesis"
    display_name = "ADI ai8x-synthesis (ai8xize)"
    tool = "ai8x-synthesis"
    plugin_version = 1
    consumes = "pytorch"
    frontend = "pytorch"
    gives = ("placement", "cycles", "memory")
    homepage = "https://github.com/analogdevicesinc/ai8x-synthesis"
    BoardConfig = Ai8xBoardConfig
    Options = Ai8xOptions

    def detect(self) -> ToolchainInfo:
        checkout = find_checkout()
        if checkout is None:
            given = os.environ.get(ENV_CHECKOUT)
            detail = (
                f"{ENV_CHECKOUT}={given} has no ai8xize.py"
                if given
                else f"{ENV_CHECKOUT} is not set and ai8xize.py is not on PATH"
            )
            return self._info(None, "ai8x-synthesis checkout", False, detail)
        python = find_python(checkout)
        if python is None:
            return self._info(
                None,
                str(checkout),
                False,
                f"no Python for {checkout}: set {ENV_PYTHON}, or create {checkout}/.venv",
            )
        version = checkout_version(checkout)
        return self._info(
            version or "unknown",
            str(checkout),
            True,
            f"{checkout} with {python}",
        )

    def _info(self, version: str | None, where: str, ok: bool, detail: str) -> ToolchainInfo:
        return ToolchainInfo(
            name=self.name,
            display_name=self.display_name,
            tool=self.tool,
            version=version,
            available=ok,
            environment=where,
            install=INSTALL,
            detail=detail,
        )

    def check_board(self, board: Board, config: StrictModel) -> list[str]:
        assert isinstance(config, Ai8xBoardConfig)
        if config.device is None and (board.npu is None or board.npu.name not in _NPU_DEVICE):
            return ["the board's npu.name is not max78000-cnn/max78002-cnn and no device is set"]
        return []

    def cache_inputs(
        self, model: CompileInput, board: Board, config: StrictModel, clock_mhz: float | None
    ) -> list[Any]:
        assert isinstance(config, Ai8xBoardConfig)
        return [board_device(board, config), board.npu.clock_mhz.value if board.npu else None]

    def compile(
        self,
        model: CompileInput,
        board: Board,
        config: StrictModel,
        options: StrictModel,
        clock_mhz: float | None,
        workdir: Path,
    ) -> CompileReport:
        assert isinstance(options, Ai8xOptions) and isinstance(config, Ai8xBoardConfig)
        checkout = find_checkout()
        python = find_python(checkout) if checkout else None
        if checkout is None or python is None:
            raise ToolchainMissing(
                "ADI ai8x-synthesis is not installed here", f"install: {INSTALL}"
            )
        device = board_device(board, config)
        network = build_network(model)
        yaml_path = workdir / "network.yaml"
        if options.network_yaml is not None:
            yaml_path = _user_yaml(options.network_yaml, network)
        else:
            yaml_path.write_text(to_yaml(network, DEVICES[device], softmax=options.softmax))
        write_checkpoint(network, workdir / "checkpoint.pth.tar")
        sample = write_sample(model, workdir / "sample_input.npy")
        cmd = [
            str(python),
            "ai8xize.py",
            "--no-version-check",
            "--test-dir",
            str(workdir / OUT_DIR),
            "--prefix",
            PREFIX,
            "--checkpoint-file",
            str(workdir / "checkpoint.pth.tar"),
            "--config-file",
            str(yaml_path.resolve()),
            "--device",
            device,
            "--timer",
            "0",
            "--display-checkpoint",
            "--verbose",
            "--sample-input",
            str(sample),
        ]
        if options.softmax:
            cmd.append("--softmax")
        if _streams(yaml_path):
            cmd.append("--fifo")
        started = time.perf_counter()
        try:
            done = processes.run(
                cmd, cwd=checkout, text=True, timeout=TIMEOUT_S, env=_tool_env(python)
            )
        except subprocess.TimeoutExpired as e:
            raise CompilerError(
                f"ai8xize.py did not finish within {TIMEOUT_S} s (stopped)", "a smaller model"
            ) from e
        except OSError as e:
            raise ToolchainMissing(f"cannot run {python}: {e}", f"install: {INSTALL}") from e
        seconds = time.perf_counter() - started
        console = (done.stdout or "") + "\n" + (done.stderr or "")
        (workdir / "ai8xize_console.txt").write_text(
            "$ " + " ".join(cmd) + f"\n(cwd {checkout})\n" + console
        )
        log_path = workdir / OUT_DIR / PREFIX / "log.txt"
        if done.returncode != 0 or not log_path.is_file():
            raise compiler_error(parse_error(console), console, network, done.returncode)
        version = checkout_version(checkout) or "unknown"
        return report_from_outputs(
            board,
            parse_log(log_path.read_text(errors="replace")),
            console,
            options=options,
            version=version,
            network=network if options.network_yaml is None else None,
            seconds_tool=seconds,
        )


def build_network(model: CompileInput) -> Network:
    """The ai8x layers of the model's float PyTorch module, rebuilt in npubench's process."""
    from npubench.models.source import resolve_source

    if model.source_kind not in ("zoo", "pytorch"):
        raise ModelError(
            f"{model.name} is a {model.source_kind} model; ai8x-synthesis needs the PyTorch model",
            "give the model as zoo:<name> or path/to/file.py:Class",
        )
    source = resolve_source(
        model.spec, input_shape=model.input_shape_option, checkpoint=model.checkpoint
    )
    module = source.build_module()
    return describe_module(module, tuple(source.input_shape), model.name)


def write_sample(model: CompileInput, path: Path) -> Path:
    """npubench's first calibration sample as ai8x input data: int64 (C, H, W) in [-128, 127]."""
    calib, _ = model.write_samples(path.parent / "samples")
    x = np.load(calib)[0].astype(np.float64)
    peak = float(np.max(np.abs(x))) or 1.0
    np.save(path, np.clip(np.round(x / peak * 127), -128, 127).astype(np.int64))
    return path


def _user_yaml(path: Path, network: Network) -> Path:
    """Check a user's network description against the model; its arch names the checkpoint."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise CompilerError(f"network_yaml {path} does not exist", "give the path of a .yaml")
    arch, layers = read_yaml_summary(path.read_text(errors="replace"))
    weighted = [lay for lay in layers if yaml_operation(lay) not in ("passthrough", "add", "sub")]
    if len(weighted) != len(network.weight_layers()):
        raise CompilerError(
            f"{path.name} describes {len(weighted)} layers with weights; the model has "
            f"{len(network.weight_layers())}",
            "give the network description of this model",
        )
    if arch:
        network.arch = arch
    return path


def _streams(yaml_path: Path) -> bool:
    _, layers = read_yaml_summary(yaml_path.read_text(errors="replace"))
    return any(lay.get("streaming", "").lower() == "true" for lay in layers)


TOOLCHAIN = Ai8xSynthesis()
