"""``npubench measure``: one model, one board (or emulated board), five stages timed on it.

``measure(model_spec, target, ...)`` prepares the model (int8, cached), then either

- **emulated boards** (board files with an ``[emulator]`` table, ``qemu-cortex-m4/m7/m33/m55``):
  generates the model's C with ``compilers.cgen``, builds the harness for the board, boots it
  in QEMU with its UART on a pty and talks to it with the host runner exactly as to a board,
  and stops QEMU afterwards (``measure.emulator``);
- **real boards** (``port=...``): talks to the already-flashed harness firmware (the handshake
  checks that the firmware's model hash is the prepared int8 model's).

Optionally a power instrument (``ppk2``, ``joulescope`` or ``csv:FILE`` replayed) records the
supply during the run (``measure.recorder``); the capture is cut into the stages of every timed
repetition (``measure.power_align``). The output is checked against TFLM on the same int8 model
and input, and the result (``measure.result``: per-stage statistics, the raw samples,
provenance) is stored if a store is given.

Part of the pipeline: it may import every stage (the pipeline, the store, ``predict`` for the
fallback targets of a layer cgen cannot generate).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from npubench.errors import MeasurementError
from npubench.measure import runner
from npubench.measure.emulator import EmulatorBoot, add_instruction_profile, start_emulator
from npubench.measure.power_align import PowerSummary, align_power
from npubench.measure.qemu import emulated_boards, is_emulated
from npubench.measure.recorder import Recorder, open_instrument
from npubench.measure.result import (
    BIT_EXACT_TOOLCHAINS,
    MeasureContext,
    assemble_result,
    reference_output,
)
from npubench.measure.runner import RunResult
from npubench.measure.trace import PowerTrace
from npubench.measure.transport import PortRun, run_on_port
from npubench.schema import BenchResult

if TYPE_CHECKING:
    from npubench.pipeline import BenchOptions, PreparedBundle
    from npubench.store import ResultStore
    from npubench.targets import Board

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    pass


@dataclass
class MeasureOutcome:
    """What ``measure`` returns: the result, the raw run, the power capture and the firmware."""

    result: BenchResult
    run: RunResult | None
    power: PowerSummary | None = None
    trace: PowerTrace | None = None
    firmware: Path | None = None
    stored_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.result.status == "ok"


def measure(
    model_spec: str,
    target: str,
    port: str | None = None,
    power: str | None = None,
    repeat: int = 20,
    warmup: int = 3,
    baud: int = runner.DEFAULT_BAUD,
    options: BenchOptions | None = None,
    progress: Progress = _quiet,
    *,
    store: ResultStore | None = None,
    bundle: PreparedBundle | None = None,
) -> MeasureOutcome:
    """Measure ``model_spec`` on ``target`` (see the module docstring); store it if ``store``.

    ``bundle`` is ``model_spec`` already prepared with ``options`` (a sweep prepares each model
    once for all its cells); without it the model is prepared here.
    """
    from npubench.pipeline import BenchOptions, prepare
    from npubench.targets import get_target

    if repeat < 1 or warmup < 0:
        raise MeasurementError(
            f"repeat={repeat}, warmup={warmup}", hint="repeat must be >= 1 and warmup >= 0"
        )
    emulated = port is None and is_emulated(target)
    board = get_target(target)  # an emulated board is a board file with [emulator]
    if port is None and not emulated:
        raise MeasurementError(
            f"{target} is a real board: measuring it needs its serial port",
            hint="flash the harness firmware (npubench firmware project) and pass --port "
            f"/dev/ttyACM0; emulated targets: {', '.join(emulated_boards())}",
        )
    instrument = open_instrument(power) if power else None  # fail fast on a bad --power
    options = options or BenchOptions()
    if bundle is None:
        bundle = prepare(model_spec, options, progress)
    ctx = _context(
        model_spec,
        target,
        board,
        bundle,
        emulated,
        {
            **options.as_dict(),
            "repeat": repeat,
            "warmup": warmup,
            "baud": baud,
            "power": power,
            "input": f"seed:{options.seed}",
        },
    )
    p = bundle.prepared
    boot: EmulatorBoot | None = None
    recorder: Recorder | None = None
    done: PortRun | None = None
    try:
        if emulated:
            boot = _boot(p, target, ctx, progress)
            port = boot.port
        assert port is not None
        if instrument is not None:
            recorder = Recorder(instrument, replay=power is not None and power.startswith("csv:"))
            recorder.start()
        progress(f"{p.name} on {target}: {warmup} warm-up + {repeat} timed repetitions")
        done = run_on_port(port, baud, p.sha256, warmup, repeat, options.seed)
    finally:
        trace = recorder.finish() if recorder is not None else None
        emu = boot.board if boot is not None else None
        emu_exit = emu.proc.poll() if emu is not None and emu.proc is not None else None
        if emu is not None:
            emu.stop()
    assert done is not None  # run_on_port returned (else its error is on its way up)
    run, fault = done.run, done.fault
    if fault is not None:
        progress(f"fault after {len(run.reps)} repetitions: {fault.message}")
    reference = None
    if run.output is not None:
        progress(f"{p.name}: TFLM reference output")
        reference = reference_output(p.int8_tflite, run.input, ctx.input_shape)
    summary = None
    power_error = None
    if trace is not None:
        try:
            summary = align_power(
                trace, run, instrument=instrument.metadata() if instrument else None
            )
        except MeasurementError as e:
            power_error = str(e)
    result = assemble_result(run, ctx, reference=reference, fault=fault, power=summary)
    if fault is not None and emu_exit is not None:
        result.message += f" (QEMU exited with status {emu_exit} during the run)"
    if power_error is not None:
        result.details["power"] = {"error": power_error}
        result.message = "; ".join(m for m in (result.message, f"power: {power_error}") if m)
    if recorder is not None and recorder.error is not None:
        result.details.setdefault("power", {})["instrument_error"] = recorder.error.message
    if emulated and result.status != "failed":
        add_instruction_profile(
            result, p.int8_tflite, board, bundle.analysis.tflm_arena_bytes, progress
        )
    outcome = MeasureOutcome(
        result=result,
        run=run,
        power=summary,
        trace=trace,
        firmware=boot.elf if boot is not None else None,
    )
    if store is not None:
        outcome.stored_id = store.add(result)
    return outcome


def _context(
    model_spec: str,
    target: str,
    board: Board,
    bundle: PreparedBundle,
    emulated: bool,
    options: dict[str, Any],
) -> MeasureContext:
    """What the result records besides the run: model, target, toolchain, options, provenance."""
    from npubench.provenance import base_provenance

    p = bundle.prepared
    toolchain = "cgen" if emulated else board.toolchain
    return MeasureContext(
        model=p.name,
        target=target,
        model_sha256=p.sha256,
        input_shape=tuple(p.input_shape),
        emulated=emulated,
        strict_output=toolchain in BIT_EXACT_TOOLCHAINS,
        fidelity=p.fidelity,
        options=options,
        provenance=base_provenance(
            model_sha256=p.sha256,
            source_sha256=getattr(p, "source_sha256", None),
            source=model_spec,
            calibration=p.calibration_source,
            converter=p.converter,
        ),
        details={
            "macs": bundle.analysis.total_macs,
            "params": bundle.analysis.total_params,
            "toolchain": toolchain,
        },
        tick_source=board.firmware.timebase if board.firmware is not None else None,
    )


def _boot(prepared: Any, target: str, ctx: MeasureContext, progress: Progress) -> EmulatorBoot:
    """The harness for ``prepared`` running in QEMU; what it records goes into ``ctx``."""
    from npubench.compilers.cgen.generator import UnsupportedOperatorError

    try:
        boot = start_emulator(prepared, target, progress)
    except UnsupportedOperatorError as e:
        raise _with_fallback_targets(e, prepared.int8_tflite) from e
    ctx.compiler = dict(boot.compiler)
    ctx.details["cgen"] = boot.cgen
    ctx.provenance["firmware"] = boot.firmware
    ctx.firmware_sha256 = boot.firmware_sha256
    ctx.tick_source = boot.tick_source
    return boot


def _with_fallback_targets(error: Any, tflite: Path) -> MeasurementError:
    """The generator's error, plus the NPU targets on which that layer falls back to the CPU
    (where its cost would come from this code path, so it matters that it is missing)."""
    from npubench.analysis.graph import analyze_tflite
    from npubench.predict.fit import check_fit
    from npubench.targets import all_targets

    analysis = analyze_tflite(tflite)
    fallback = []
    for board in all_targets().values():
        if not board.has_npu:
            continue
        placement = check_fit(analysis, board).placement
        if any(p.index == error.layer and p.placement == "cpu" for p in placement):
            fallback.append(board.name)
    where = (
        f"; on {', '.join(fallback)} this layer would fall back to the CPU"
        if fallback
        else "; no NPU target runs it on the CPU"
    )
    return MeasurementError(f"{error.message}{where}", hint=error.hint)
