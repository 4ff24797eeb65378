"""What a worker does for one task: prepare a model, or compute one cell. Never raises.

May import every stage package (through ``npubench.pipeline``), ``npubench.measure`` (a
measure cell is ``npubench measure``) and ``npubench.sweep.cells``.
Both backends (the local pool and Ray) run these functions in worker processes, so they take
and return only picklable values, and every failure becomes data: a ``PrepareOutcome`` with
an error, or a ``BenchResult`` with ``status="failed"`` and the message.

Test hooks (environment variables, for the failure-isolation tests only):
``NPUBENCH_SWEEP_TEST_KILL=<text>`` makes the worker SIGKILL itself at the start of every task
whose label contains ``<text>``; ``NPUBENCH_SWEEP_TEST_SLOW_S=<seconds>`` sleeps that long in
every cell, so a test can interrupt a sweep halfway.
"""

from __future__ import annotations

import os
import signal
import time
import traceback
from dataclasses import dataclass
from typing import Any

from npubench.errors import MeasurementError, NpubenchError
from npubench.provenance import base_provenance
from npubench.schema import BenchResult
from npubench.sweep.cells import Cell, PrepareTask

KILL_ENV = "NPUBENCH_SWEEP_TEST_KILL"
SLOW_ENV = "NPUBENCH_SWEEP_TEST_SLOW_S"


@dataclass
class PrepareOutcome:
    """A prepared model (``bundle``) or why it could not be prepared (``error``)."""

    key: str
    bundle: Any | None  # npubench.pipeline.PreparedBundle
    error: str | None = None
    seconds: float = 0.0


def _test_hooks(label: str, slow: bool) -> None:
    pattern = os.environ.get(KILL_ENV)
    if pattern and pattern in label:
        os.kill(os.getpid(), signal.SIGKILL)
    if slow and (delay := os.environ.get(SLOW_ENV)):
        time.sleep(float(delay))


def _describe(error: BaseException) -> str:
    if isinstance(error, NpubenchError):
        return str(error)
    return f"internal error ({type(error).__name__}: {error}); please report it"


def run_prepare(task: PrepareTask) -> PrepareOutcome:
    """Quantize (content-cached) and analyse one model."""
    from npubench.pipeline import prepare

    t0 = time.perf_counter()
    try:
        _test_hooks(f"prepare {task.model_name}", slow=False)
        bundle = prepare(task.model_spec, task.bench_options())
    except Exception as e:  # every failure is data for the cells of this model
        return PrepareOutcome(task.key, None, _describe(e), time.perf_counter() - t0)
    return PrepareOutcome(task.key, bundle, None, time.perf_counter() - t0)


def failed_cell_result(
    cell: Cell, message: str, details: dict[str, Any] | None = None
) -> BenchResult:
    """The stored record of a cell that could not be computed."""
    return BenchResult(
        model=cell.model_name,
        target=cell.target,
        kind=cell.result_kind,  # type: ignore[arg-type]
        status="failed",
        message=message,
        clock_mhz=cell.clock_mhz,
        options=cell.bench_options().as_dict(),
        provenance=base_provenance(source=cell.model_spec, source_sha256=cell.model_sha256),
        details={"sweep_cell": cell.label, **(details or {})},
    )


def run_cell(cell: Cell, outcome: PrepareOutcome) -> BenchResult:
    """Compute one cell from its prepared model; a failure comes back as a failed result."""
    if outcome.bundle is None:
        return failed_cell_result(cell, f"model preparation failed: {outcome.error}")
    t0 = time.perf_counter()
    try:
        _test_hooks(cell.label, slow=True)
        result = _COMPUTE[cell.kind](cell, outcome.bundle)
    except Exception as e:
        details = {} if isinstance(e, NpubenchError) else {"traceback": traceback.format_exc()}
        return failed_cell_result(cell, _describe(e), details)
    result.details["sweep_cell"] = cell.label
    result.details["cell_seconds"] = round(time.perf_counter() - t0, 4)
    return result


# --- the three kinds of cell --------------------------------------------------------------


def _board(cell: Cell) -> Any:
    from npubench.targets import get_target

    return get_target(cell.target)


def _compile(cell: Cell, bundle: Any) -> BenchResult:
    from npubench.pipeline import compile_on

    return compile_on(bundle, _board(cell), cell.bench_options())


def _predict(cell: Cell, bundle: Any) -> BenchResult:
    """The pipeline's prediction, on the toolchain's figures where one is installed."""
    from npubench.pipeline import predict_with_toolchain

    return predict_with_toolchain(bundle, _board(cell), cell.bench_options())


def _port_for(cell: Cell) -> str | None:
    """The board's serial port: the sweep's [measure] ports, an env var, or a probe.

    None for an emulated target with no port named: ``measure`` then builds the harness and
    boots it in QEMU, exactly as ``npubench measure -t qemu-...`` does.
    """
    if cell.port:
        return cell.port
    env = "NPUBENCH_PORT_" + cell.target.upper().replace("-", "_")
    if port := os.environ.get(env):
        return port
    from npubench.measure.qemu import is_emulated

    if is_emulated(cell.target):
        return None
    from npubench.measure.runner import find_boards

    for found in find_boards():
        if found.info.board == cell.target:
            return found.port
    raise MeasurementError(
        f"no {cell.target} board found on any serial port",
        f"attach one, or name its port in the sweep's [measure] ports or in ${env}",
    )


def _measure(cell: Cell, bundle: Any) -> BenchResult:
    """``npubench measure`` on the prepared model: the same function, so the same checks.

    It checks the firmware's model hash, uses the emulator for ``qemu-*`` targets, feeds the
    sweep's seed as input and checks the output against TFLM; the sweep's ``[measure]`` section
    may give each board a baud rate and a power instrument.
    """
    from npubench.measure import runner
    from npubench.pipeline.measure import measure

    outcome = measure(
        cell.model_spec,
        cell.target,
        port=_port_for(cell),
        power=cell.power,
        repeat=cell.repeat,
        warmup=cell.warmup,
        baud=cell.baud or runner.DEFAULT_BAUD,
        options=cell.bench_options(),
        bundle=bundle,
    )
    return outcome.result


_COMPUTE = {"compile": _compile, "predict": _predict, "measure": _measure}
