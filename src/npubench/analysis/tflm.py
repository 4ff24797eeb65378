"""TFLite Micro checks of an int8 model: tensor-arena size, bit-exactness, reference outputs.

May import ``npubench.errors``, ``npubench.cache``, ``npubench.provenance`` (package versions),
the sibling analysis modules and numpy.
TFLM and LiteRT's reference kernels (``OpResolverType.BUILTIN_REF``, the arithmetic TFLM's
kernels are meant to match bit for bit) run only in a subprocess (``_tflm_worker``): both abort
or segfault the process on some models, and a crash there must become an ``AnalysisError`` here.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from npubench import processes
from npubench.analysis import _tflm_worker
from npubench.analysis.graph import analyze_tflite
from npubench.analysis.graph_types import GraphAnalysis
from npubench.analysis.tflite_reader import ModelRecord, TensorRecord, read_tflite
from npubench.cache import cache_key, cached_dir
from npubench.errors import AnalysisError
from npubench.provenance import package_version

TFLM_TIMEOUT_S = 120.0
# Bump when the content of the cached TFLM checks changes meaning (2: TFLM fields only).
ANALYSIS_CACHE_VERSION = 2
_CACHE_FILE = "analysis.json"  # holds the TFLM part of the analysis (see ``_TflmChecks``)
_ARENA_TOTAL = re.compile(r"Arena allocation total (\d+) bytes")
_ARENA_RETRIES = 3  # each retry quadruples the arena
_MAX_ARENA = 1 << 30


@dataclass
class BitExactReport:
    """TFLM against LiteRT's reference kernels on the same random int8 inputs."""

    identical: bool
    samples: int
    max_abs_diff: int
    first_mismatch: str | None


@dataclass(frozen=True)
class _TflmChecks:
    """What ``analyze_with_tflm`` caches: TFLM's findings only, never the graph analysis."""

    arena_bytes: int
    bit_exact: bool
    mismatch: str | None  # the note on the first TFLM/LiteRT difference, if any


@dataclass
class _WorkerRun:
    arena_total_bytes: int | None  # TFLM only
    stdout: str
    stderr: str


_ENGINE_NAMES = {"tflm": "TFLM", "litert-ref": "LiteRT (reference kernels)"}


def measure_arena(path: Path) -> int:
    """Bytes of tensor arena TFLM needs for the model (its RecordingMicroAllocator total).

    Within 16 bytes of the smallest ``arena_size`` the host interpreter accepts (the rest is
    alignment of the malloc'd arena): planned activations, persistent tensor structs and kernel
    scratch. The host wrapper has no ``arena_used_bytes()``; this is the figure it prints.
    """
    run = _run_worker(Path(path), "tflm")
    assert run.arena_total_bytes is not None
    return run.arena_total_bytes


def run_tflm(path: Path, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """The outputs TFLM computes for one set of ``inputs`` (in the model's input order)."""
    outputs, _ = _run_samples(Path(path), [inputs], "tflm")
    return outputs[0]


def check_bitexact(path: Path, samples: int = 4, seed: int = 0) -> BitExactReport:
    """Run ``samples`` random inputs through TFLM and LiteRT BUILTIN_REF; compare exactly."""
    report, _ = _bitexact_and_arena(Path(path), samples, seed)
    return report


def analyze_with_tflm(path: Path, samples: int = 4, strict: bool = False) -> GraphAnalysis:
    """``analyze_tflite`` plus the TFLM arena and bit-exactness; the TFLM part cached.

    Only what TFLM found (arena, bit-exactness, a mismatch note) is cached, keyed by the model's
    hash and the TFLM/LiteRT versions; the graph analysis itself is computed afresh every call,
    so a change to npubench's analysis code is never hidden behind a cache entry.

    If TFLM cannot run the model, ``strict`` re-raises its ``AnalysisError``; otherwise the TFLM
    fields stay None, the reason goes to ``notes`` and nothing is cached (a timeout may pass).
    """
    path = Path(path)
    analysis = analyze_tflite(path)  # refuses non-TFLite and float models before any TFLM run
    key = cache_key(
        "tflm-analysis",
        ANALYSIS_CACHE_VERSION,
        analysis.model_sha256,
        samples,
        package_version("tflite-micro"),
        package_version("ai-edge-litert"),
    )

    def build(folder: Path) -> None:
        report, arena = _bitexact_and_arena(path, samples, seed=0)
        mismatch = None
        if not report.identical:
            mismatch = (
                f"TFLM differs from LiteRT reference kernels by up to {report.max_abs_diff} "
                f"LSB ({report.first_mismatch})"
            )
        checks = _TflmChecks(arena_bytes=arena, bit_exact=report.identical, mismatch=mismatch)
        (folder / _CACHE_FILE).write_text(json.dumps(asdict(checks), indent=1))

    try:
        folder, _ = cached_dir("analysis", key, build)
    except AnalysisError as exc:
        if strict:
            raise
        analysis.notes.append(f"TFLM checks skipped: {exc.message}")
        return analysis
    checks = _TflmChecks(**json.loads((folder / _CACHE_FILE).read_text()))
    analysis.tflm_arena_bytes = checks.arena_bytes
    analysis.bit_exact = checks.bit_exact
    if checks.mismatch:
        analysis.notes.append(checks.mismatch)
    return analysis


def _bitexact_and_arena(path: Path, samples: int, seed: int) -> tuple[BitExactReport, int]:
    model = read_tflite(path)
    rng = np.random.default_rng(seed)
    batches = [[_random_input(model.tensors[i], rng) for i in model.inputs] for _ in range(samples)]
    tflm_outputs, arena = _run_samples(path, batches, "tflm")
    reference_outputs = _run_litert_reference(path, batches)

    max_abs_diff = 0
    first_mismatch = None
    for sample, (ours, theirs) in enumerate(zip(tflm_outputs, reference_outputs, strict=True)):
        for index, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            name = model.tensors[model.outputs[index]].name
            if a.shape != b.shape or a.dtype != b.dtype:
                raise AnalysisError(
                    f"TFLM and LiteRT disagree on output {index} ('{name}'): "
                    f"{a.dtype}{list(a.shape)} vs {b.dtype}{list(b.shape)}",
                    "the model may use dynamic shapes, which TFLM does not support",
                )
            diff = np.abs(a.astype(np.int64) - b.astype(np.int64))
            if diff.size and int(diff.max()) > 0:
                max_abs_diff = max(max_abs_diff, int(diff.max()))
                if first_mismatch is None:
                    where = tuple(int(i) for i in np.unravel_index(int(diff.argmax()), a.shape))
                    first_mismatch = (
                        f"sample {sample}, output {index} ('{name}') at {where}: "
                        f"TFLM {a[where]} vs LiteRT reference {b[where]}"
                    )
    report = BitExactReport(
        identical=first_mismatch is None,
        samples=samples,
        max_abs_diff=max_abs_diff,
        first_mismatch=first_mismatch,
    )
    assert arena is not None
    return report, arena


def _run_litert_reference(path: Path, batches: list[list[np.ndarray]]) -> list[list[np.ndarray]]:
    """Outputs of LiteRT with the reference kernels for each sample."""
    outputs, _ = _run_samples(path, batches, "litert-ref")
    return outputs


def _run_samples(
    path: Path, batches: list[list[np.ndarray]], engine: str
) -> tuple[list[list[np.ndarray]], int | None]:
    """Outputs for each sample of inputs, all in one worker process; and TFLM's arena."""
    with tempfile.TemporaryDirectory(prefix="npubench-tflm-") as tmp:
        io_dir = Path(tmp)
        for sample, inputs in enumerate(batches):
            for index, array in enumerate(inputs):
                np.save(io_dir / f"in_{sample}_{index}.npy", np.ascontiguousarray(array))
        run = _run_worker(path, engine, io_dir=io_dir, samples=len(batches))
        outputs: list[list[np.ndarray]] = []
        for sample in range(len(batches)):
            files = sorted(
                io_dir.glob(f"out_{sample}_*.npy"), key=lambda p: int(p.stem.rsplit("_", 1)[1])
            )
            if not files:
                raise AnalysisError(
                    f"{_ENGINE_NAMES[engine]} wrote no outputs for sample {sample} of {path.name}",
                    f"worker stderr ends with: {_tail(run.stderr)}",
                )
            outputs.append([np.load(f) for f in files])
        return outputs, run.arena_total_bytes


def _run_worker(
    path: Path,
    engine: str = "tflm",
    io_dir: Path | None = None,
    samples: int = 1,
    arena_bytes: int | None = None,
    timeout_s: float = TFLM_TIMEOUT_S,
    abort_for_test: bool = False,
) -> _WorkerRun:
    """Run the worker, enlarging a too-small TFLM arena; every failure becomes AnalysisError."""
    if not path.is_file():
        raise AnalysisError(f"model file {path} does not exist", "check the path")
    name = _ENGINE_NAMES[engine]
    arena = arena_bytes or _arena_guess(read_tflite(path))
    for attempt in range(_ARENA_RETRIES + 1):
        command = [sys.executable, "-m", "npubench.analysis._tflm_worker", str(path)]
        command += ["--engine", engine, "--samples", str(samples)]
        if engine == "tflm":
            command += ["--arena", str(arena)]
        if io_dir is not None:
            command += ["--io-dir", str(io_dir)]
        if abort_for_test:
            command.append("--abort-for-test")
        try:
            done = processes.run(command, text=True, timeout=timeout_s, env=_worker_env())
        except subprocess.TimeoutExpired as exc:
            raise AnalysisError(
                f"{name} did not finish {path.name} within {timeout_s:.0f} s (worker killed)",
                "the model may be too large for the host interpreter's reference kernels; "
                "try a smaller input resolution, or skip the TFLM checks",
            ) from exc
        arena_short = engine == "tflm" and "Failed to allocate" in done.stderr
        if done.returncode == 0 and _worker_result(done.stdout) is not None:
            if engine != "tflm":
                return _WorkerRun(None, done.stdout, done.stderr)
            total = _ARENA_TOTAL.search(done.stderr) or _ARENA_TOTAL.search(done.stdout)
            if total is None:
                raise AnalysisError(
                    "TFLM ran but printed no 'Arena allocation total' line",
                    "the tflite-micro build may have changed its allocator report; "
                    f"stderr ends with: {_tail(done.stderr)}",
                )
            return _WorkerRun(int(total.group(1)), done.stdout, done.stderr)
        if arena_short and arena_bytes is None and attempt < _ARENA_RETRIES:
            arena = min(arena * 4, _MAX_ARENA)
            continue
        raise _worker_failure(name, path, done, arena, arena_short)
    raise AssertionError("unreachable")  # the loop returns or raises


def _worker_failure(
    name: str, path: Path, done: subprocess.CompletedProcess[str], arena: int, arena_short: bool
) -> AnalysisError:
    if done.returncode < 0:
        try:
            how = f"crashed with {signal.Signals(-done.returncode).name}"
        except ValueError:
            how = f"was killed by signal {-done.returncode}"
    else:
        how = f"failed (exit status {done.returncode})"
    message = f"{name} {how} on {path.name}: {_tail(done.stderr)}"
    if arena_short:
        hint = f"the tensor arena of {arena} bytes is too small; give TFLM a larger arena"
    elif "op code CUSTOM" in done.stderr or "ethos-u" in done.stderr:
        hint = "the model has a custom operator (e.g. ethos-u from Vela) the host interpreter "
        hint += "cannot run: pass the int8 model from before Vela"
    elif "registration from op code" in done.stderr or "Didn't find op" in done.stderr:
        hint = f"{name} has no kernel for an operator of this model; check its operator list"
    elif done.returncode < 0:
        hint = (
            "TFLM and LiteRT abort on degenerate quantization parameters (e.g. a near-zero "
            "scale before a softmax, from a layer whose output is constant): re-quantize the "
            "model with representative calibration data, or skip the TFLM checks for it"
        )
    else:
        hint = f"the model is probably invalid for {name}; its message is above"
    return AnalysisError(message, hint)


def _worker_result(stdout: str) -> dict | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith(_tflm_worker.RESULT_MARKER):
            return json.loads(line[len(_tflm_worker.RESULT_MARKER) :])
    return None


def _arena_guess(model: ModelRecord) -> int:
    """An arena that surely fits: every activation at once, plus per-tensor/op bookkeeping."""
    activations = sum(t.nbytes for t in model.tensors if not t.is_constant)
    bookkeeping = 256 * len(model.tensors) + 1024 * len(model.operators)
    return min(2 * activations + bookkeeping + (64 << 10), _MAX_ARENA)


def _worker_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def _random_input(tensor: TensorRecord, rng: np.random.Generator) -> np.ndarray:
    """Uniform over the whole integer range for quantized inputs; N(0, 1) for float inputs."""
    try:
        dtype = np.dtype(tensor.dtype)
    except TypeError as exc:
        raise AnalysisError(
            f"input '{tensor.name}' has type {tensor.dtype}, which numpy cannot hold",
            "the TFLM checks support int8/int16/uint8 (and float) model inputs",
        ) from exc
    shape = tuple(tensor.shape)
    if dtype.kind in "iu" and dtype.itemsize <= 2:
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
    if dtype.kind in "iub":  # indices or flags: small values stay valid
        return rng.integers(0, 2, size=shape).astype(dtype)
    return rng.standard_normal(shape).astype(dtype)


def _tail(text: str, lines: int = 3) -> str:
    """The interpreter's own last messages, plus the exception line of a Python traceback."""
    before, traceback, after = text.partition("Traceback (most recent call last):")
    kept = [line.strip() for line in before.splitlines() if line.strip()][-lines:]
    if traceback:
        kept += [line.strip() for line in after.splitlines() if line.strip()][-1:]
    return " | ".join(kept) if kept else "(no output)"
