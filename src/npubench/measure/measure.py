"""``npubench measure``: one model, one board (or emulated board), five stages timed on it.

``measure(model_spec, target, ...)`` prepares the model (int8, cached), then either

- **emulated boards** (``qemu-cortex-m4/m7/m33/m55``): generates the model's C with
  ``compilers.cgen``, builds the harness for the board, boots it in QEMU with its UART on a pty
  and talks to it with the host runner exactly as to a board, and stops QEMU afterwards;
- **real boards** (``port=...``): talks to the already-flashed harness firmware (the handshake
  checks that the firmware's model hash is the prepared int8 model's).

Optionally a power instrument (``ppk2``, ``joulescope`` or ``csv:FILE`` replayed) records the
supply during the run; the capture is cut into the stages of every timed repetition (marker
pulses if the trace has them, else the firmware's tick timestamps anchored on the active windows)
and gives per-stage power and energy, gross and net of the idle baseline.

The result is a ``BenchResult`` of kind ``"measured"``: per-stage medians, per-stage statistics
(median, IQR, CI, warnings), the output checked against TFLM on the same int8 model and input,
and provenance (board, firmware, hashes, instrument, port, cycle accuracy). A link fault keeps
the repetitions collected and marks the result ``"incomplete"``; a wrong output marks it
``"failed"`` and names the first differing byte.

This is an orchestration module like ``pipeline``: besides ``npubench.errors``, ``schema`` and
``targets`` it imports (lazily, inside functions) ``pipeline``, ``compilers.cgen``,
``analysis.tflm`` and ``store``, plus the sibling ``measure`` modules.
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from npubench import STAGES, __version__
from npubench.errors import MeasurementError, NpubenchError, TargetError
from npubench.measure import qemu, runner
from npubench.measure.runner import BoardLinkError, RunResult
from npubench.measure.stage_power import (
    StagePowerResult,
    StageSpan,
    idle_baseline_mw,
    stage_power,
)
from npubench.measure.stats import RepetitionStats, summarize
from npubench.measure.trace import PowerTrace
from npubench.schema import BenchResult, Fidelity, MemoryUse, empty_stages

if TYPE_CHECKING:
    from npubench.measure.instruments import StreamingInstrument
    from npubench.pipeline import BenchOptions, PreparedBundle
    from npubench.store import ResultStore

Progress = Callable[[str], None]

EMULATOR_NOTE = (
    "emulator timings are not cycle-accurate: QEMU runs the firmware functionally and its "
    "SysTick follows host wall time, so these figures test the measurement chain and compare "
    "relative costs only; they are not the latency of any silicon"
)
# Toolchains whose on-board arithmetic is meant to match TFLM's reference kernels bit for bit:
# for these a differing output is a failure; for vendor quantizers it is only reported.
BIT_EXACT_TOOLCHAINS = frozenset({"tflm", "vela", "cgen"})
EMULATOR_MAX_INPUT_BYTES = 4096  # NPB_MAX_INPUT_BYTES of the QEMU builds (harness Makefile)


def _quiet(_: str) -> None:
    pass


# --------------------------------------------------------------------------- results


@dataclass
class MeasureContext:
    """What a result needs besides the run: the model, the target and how it was built."""

    model: str
    target: str
    model_sha256: str
    input_shape: tuple[int, ...]
    emulated: bool
    strict_output: bool = True
    fidelity: Fidelity = field(default_factory=Fidelity)
    options: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)
    compiler: dict[str, Any] = field(
        default_factory=lambda: {"name": None, "version": None, "cycles": None}
    )


@dataclass
class PowerSummary:
    """Per-repetition stage power of one capture and how the stages were found."""

    method: str
    baseline_mw: float
    per_rep: dict[int, StagePowerResult]
    instrument: dict[str, Any]
    warnings: list[str] = field(default_factory=list)


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


def first_difference(got: bytes, want: bytes) -> tuple[int, int, int] | None:
    """(index, got byte, want byte) of the first difference as int8, or None if equal."""
    if got == want:
        return None
    n = min(len(got), len(want))
    a = np.frombuffer(got[:n], dtype=np.int8)
    b = np.frombuffer(want[:n], dtype=np.int8)
    diff = np.flatnonzero(a != b)
    if diff.size:
        i = int(diff[0])
        return i, int(a[i]), int(b[i])
    return n, 0, 0  # equal prefix, different lengths


def _output_check(
    run: RunResult, reference: bytes | None, strict: bool
) -> tuple[dict[str, Any], str | None]:
    """The output check's record and, if it failed strictly, the failure message."""
    if reference is None:
        return {"checked": False, "reason": "no host reference"}, None
    if run.output is None:
        return {"checked": False, "reason": "the output did not arrive (incomplete run)"}, None
    check: dict[str, Any] = {
        "checked": True,
        "reference": "tflm (same int8 model, same input)",
        "strict": strict,
        "bytes": len(reference),
    }
    diff = first_difference(run.output, reference)
    if diff is None:
        check["identical"] = True
        return check, None
    index, got, want = diff
    n = min(len(run.output), len(reference))
    differing = int(
        np.count_nonzero(
            np.frombuffer(run.output[:n], np.int8) != np.frombuffer(reference[:n], np.int8)
        )
    )
    check.update(
        identical=False,
        first_difference={"index": index, "board": got, "reference": want},
        differing_bytes=differing,
        max_abs_diff=int(
            np.max(
                np.abs(
                    np.frombuffer(run.output[:n], np.int8).astype(int)
                    - np.frombuffer(reference[:n], np.int8).astype(int)
                )
            )
        )
        if n
        else None,
    )
    if len(run.output) != len(reference):
        message = (
            f"the board returned {len(run.output)} output bytes, the TFLM reference has "
            f"{len(reference)}"
        )
    else:
        message = (
            f"output differs from the TFLM reference at byte {index} (board {got}, reference "
            f"{want}); {differing} of {len(reference)} bytes differ"
        )
    return check, message if strict else None


def _stats_json(stats: RepetitionStats) -> dict[str, Any]:
    data = stats.to_json()
    return {
        k: data[k]
        for k in (
            "n",
            "median",
            "q1",
            "q3",
            "iqr",
            "relative_iqr",
            "mean",
            "std",
            "min",
            "max",
            "ci_low",
            "ci_high",
            "ci_level",
            "ci_method",
            "unit",
            "warnings",
        )
    }


def assemble_result(
    run: RunResult,
    ctx: MeasureContext,
    *,
    reference: bytes | None,
    fault: BoardLinkError | None = None,
    power: PowerSummary | None = None,
) -> BenchResult:
    """The measured BenchResult of one run (possibly a fault's partial run)."""
    hz = run.board.tick_hz
    reps = [run.reps[i] for i in sorted(run.reps)]
    if not reps:
        raise MeasurementError(
            f"no repetition of {ctx.model} on {ctx.target} was received",
            hint="nothing to report; check the link and rerun",
        )
    latency = empty_stages()
    stages: dict[str, Any] = {}
    warnings: list[str] = []
    for stage in STAGES:
        values = [r.ticks[stage] * 1e6 / hz for r in reps]
        s = summarize(values, unit="us", name=f"stage {stage}")
        latency[stage] = s.median
        stages[stage] = _stats_json(s)
    totals = [sum(r.ticks[st] for st in STAGES) * 1e6 / hz for r in reps]
    total = summarize(totals, unit="us", name="the total latency")
    latency["total"] = total.median
    warnings += total.warnings

    status: str = "ok"
    messages: list[str] = []
    if fault is not None or not run.complete:
        status = "incomplete"
        why = fault.message if fault is not None else "; ".join(run.problems) or "data lost"
        messages.append(f"incomplete: {len(reps)} of {run.repeat} repetitions received ({why})")
    check, failure = _output_check(run, reference, ctx.strict_output)
    if failure is not None:
        status = "failed"
        messages.insert(0, failure)
    elif check.get("identical") is False:
        warnings.append(
            "output differs from the TFLM reference (expected for this toolchain, which "
            "quantizes on its own): " + str(check["first_difference"])
        )

    provenance = {
        **ctx.provenance,
        "board": run.board.board,
        "firmware_version": run.board.fw,
        "firmware_model_hash": run.board.model_hash,
        "model_sha256": ctx.model_sha256,
        "port": run.port,
        "cycle_accurate": run.board.cycle_accurate,
        "tick_hz": hz,
        "instrument": power.instrument if power is not None else None,
    }
    if ctx.emulated or not run.board.cycle_accurate:
        note = (
            EMULATOR_NOTE
            if ctx.emulated
            else (
                "the board's timer is not its cycle counter (cycle_accurate=0): timings are "
                f"quantized to 1/{hz} s"
            )
        )
        warnings.insert(0, note)
    details: dict[str, Any] = {
        **ctx.details,
        "stages": stages,
        "total": _stats_json(total),
        "sum_of_stage_medians_us": float(sum(latency[s] or 0.0 for s in STAGES)),
        "repetitions": {"requested": run.repeat, "received": len(reps), "warmup": run.warmup},
        "cycle_accurate": run.board.cycle_accurate,
        "output_check": check,
        "postprocess": sorted({r.post for r in reps}),
        "run": run.metadata(),
        "warnings": warnings,
    }
    if ctx.emulated:
        details["emulator_note"] = EMULATOR_NOTE
    result = BenchResult(
        model=ctx.model,
        target=ctx.target,
        kind="measured",
        status=status,  # type: ignore[arg-type]
        message="; ".join(messages),
        latency_us=latency,
        latency_us_low=total.ci_low,
        latency_us_high=total.ci_high,
        compiler=dict(ctx.compiler),
        fidelity=ctx.fidelity,
        clock_mhz=run.board.clock_hz / 1e6 if run.board.clock_hz else None,
        options=dict(ctx.options),
        provenance=provenance,
        details=details,
    )
    if power is not None:
        result.power_mw, result.energy_uj, details["power"] = power_fields(power)
    return result


# --------------------------------------------------------------------------- power


def parse_power(spec: str) -> tuple[str, Path | None]:
    """``ppk2`` | ``joulescope`` | ``csv:FILE`` -> (kind, file)."""
    if spec in ("ppk2", "joulescope"):
        return spec, None
    if spec.startswith("csv:") and len(spec) > 4:
        path = Path(spec[4:]).expanduser()
        if not path.is_file():
            raise MeasurementError(
                f"--power {spec}: no such trace file {path}",
                hint="give a CSV export of a capture (see `npubench trace analyze --help`)",
            )
        return "csv", path
    raise MeasurementError(
        f"unknown --power {spec!r}", hint="use ppk2, joulescope or csv:FILE (replays a capture)"
    )


def open_instrument(spec: str) -> StreamingInstrument:
    kind, path = parse_power(spec)
    if kind == "ppk2":
        from npubench.measure.instruments.ppk2 import Ppk2Instrument

        return Ppk2Instrument()
    if kind == "joulescope":
        from npubench.measure.instruments.joulescope import JoulescopeInstrument

        return JoulescopeInstrument(gpi=(0,))
    from npubench.measure.instruments.csv_replay import CsvReplayInstrument

    assert path is not None
    return CsvReplayInstrument(path)


class _Recorder:
    """Polls a live instrument in a thread while the run goes on; replays a CSV at once."""

    def __init__(self, instrument: StreamingInstrument, replay: bool) -> None:
        self.instrument = instrument
        self.replay = replay
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.error: MeasurementError | None = None

    def start(self) -> None:
        self.instrument.start()
        if not self.replay:
            self._thread = threading.Thread(target=self._poll, daemon=True)
            self._thread.start()

    def _fault(self, error: Exception, doing: str) -> MeasurementError:
        """The instrument's failure as a MeasurementError naming what it was doing."""
        if isinstance(error, MeasurementError):
            return error
        return MeasurementError(
            f"{self.instrument.name} failed while {doing} ({type(error).__name__}: {error})",
            hint="check the instrument's USB cable and that no other program holds it; the "
            "samples captured before the failure are kept",
        )

    def _poll(self) -> None:
        # Any exception ends this thread; it must become the recorder's error, or a pulled
        # instrument (an OSError from its serial port) would pass as a short, clean capture.
        try:
            while not self._stop.is_set():
                if self.instrument.read() is None:
                    time.sleep(0.01)
        except Exception as e:  # a stall or a lost device: keep what arrived
            self.error = self._fault(e, "recording")

    def finish(self) -> PowerTrace | None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        elif self.replay:
            # A replay has no clock to follow: the whole file is the capture.
            while self.instrument.read() is not None:
                pass
        try:
            self.instrument.stop()
        except Exception as e:  # a pulled instrument cannot be stopped; the run still counts
            self.error = self.error or self._fault(e, "stopping")
        trace = self.instrument.captured()
        if trace is None:
            return None
        from npubench.measure.instruments import stamped

        return stamped(trace, self.instrument)


def _pulses(trace: PowerTrace, bit: int) -> list[tuple[float, float]]:
    if trace.digital is None or bit >= max(trace.digital_channels, 1):
        return []
    level = trace.marker(bit).astype(np.int8)
    t = trace.time_ms
    mid = (t[1:] + t[:-1]) / 2.0
    change = np.diff(level)
    rising, falling = mid[change == 1], mid[change == -1]
    if level[0]:
        falling = falling[1:]
    return list(zip(rising.tolist(), falling[: rising.size].tolist(), strict=False))


def _marker_spans(
    trace: PowerTrace, run: RunResult, bit: int, warnings: list[str]
) -> dict[int, list[StageSpan]] | None:
    """Stage spans per received repetition from marker pulses (5 per repetition), or None."""
    pulses = _pulses(trace, bit)
    n = len(STAGES)
    if not pulses:
        return None
    if len(pulses) % n:
        warnings.append(
            f"marker D{bit} has {len(pulses)} pulses, not a multiple of {n} (one per stage): "
            "falling back to the firmware timestamps"
        )
        return None
    groups = [pulses[k : k + n] for k in range(0, len(pulses), n)]
    if len(groups) > run.repeat:
        # The timed repetitions are the last ones pulsed. Dropping ``warmup`` groups would be
        # wrong when the capture began mid-warm-up: fewer warm-ups were captured than were run.
        groups = groups[len(groups) - run.repeat :]
    if len(groups) != run.repeat:
        warnings.append(
            f"marker D{bit} shows {len(groups)} timed repetitions, the run has {run.repeat}: "
            "the capture is matched to the first ones"
        )
    order = sorted(run.reps)
    spans: dict[int, list[StageSpan]] = {}
    for index, group in enumerate(groups):
        if index in run.reps:
            spans[index] = [StageSpan(s, a, b) for s, (a, b) in zip(STAGES, group, strict=True)]
    if not spans and order:
        return None
    return spans


def _timestamp_spans(
    trace: PowerTrace, run: RunResult, warnings: list[str]
) -> dict[int, list[StageSpan]]:
    """Stage spans laid back to back from the REP ticks, each repetition anchored on an
    active window of the trace (one window per repetition, warm-ups included or not)."""
    from npubench.measure.windows import detect_windows

    windows = detect_windows(trace).windows
    hz = run.board.tick_hz
    if len(windows) == run.warmup + run.repeat:
        starts = {i: windows[run.warmup + i].start_ms for i in run.reps}
    elif len(windows) == run.repeat:
        starts = {i: windows[i].start_ms for i in run.reps}
    elif windows:
        first = min(run.reps)
        starts = {first: windows[min(run.warmup, len(windows) - 1)].start_ms}
        warnings.append(
            f"{len(windows)} active window(s) for {run.warmup} warm-up + {run.repeat} timed "
            f"repetitions: only repetition {first} is aligned (on window "
            f"{min(run.warmup, len(windows) - 1)}); add a marker GPIO for per-stage power"
        )
    else:
        raise MeasurementError(
            "the capture has no marker pulses and no active window to align the stages on",
            hint="wire the harness's marker GPIO to the instrument's digital input, or capture "
            "the run itself (the board must be busy during the capture)",
        )
    spans: dict[int, list[StageSpan]] = {}
    for i, start in starts.items():
        t = start
        rep: list[StageSpan] = []
        for stage in STAGES:
            d = run.reps[i].ticks[stage] * 1e3 / hz
            rep.append(StageSpan(stage, t, t + d))
            t += d
        spans[i] = rep
    return spans


def align_power(
    trace: PowerTrace,
    run: RunResult,
    *,
    marker_bit: int = 0,
    instrument: dict[str, Any] | None = None,
) -> PowerSummary:
    """Per-stage power of every timed repetition the capture covers."""
    warnings: list[str] = []
    spans = _marker_spans(trace, run, marker_bit, warnings)
    method = f"markers (pulse per stage, D{marker_bit})"
    if spans is None:
        spans = _timestamp_spans(trace, run, warnings)
        method = "firmware timestamps aligned on active windows"
    all_spans = [s for rep in spans.values() for s in rep]
    baseline = idle_baseline_mw(trace, all_spans)
    per_rep: dict[int, StagePowerResult] = {}
    for i, rep_spans in spans.items():
        try:
            per_rep[i] = stage_power(trace, rep_spans, baseline_mw=baseline, method=method)
        except MeasurementError as e:
            warnings.append(f"repetition {i}: {e.message}")
    if not per_rep:
        raise MeasurementError(
            "no repetition's stages lie inside the power capture",
            hint="start the capture before the run and stop it after",
        )
    for result in per_rep.values():
        warnings += [w for w in result.warnings if w not in warnings]
    if "marker" in method:
        # Marker pulses and the firmware's timer measure the same intervals: say if they disagree.
        for stage in STAGES:
            fw = np.median([run.reps[i].ticks[stage] * 1e3 / run.board.tick_hz for i in per_rep])
            mk = np.median([r.by_stage()[stage].duration_ms for r in per_rep.values()])
            if fw > 0 and abs(mk - fw) > max(0.2 * fw, 2 * trace.sample_period_ms):
                warnings.append(
                    f"stage {stage}: marker pulses last {mk:.3f} ms, the firmware timed "
                    f"{fw:.3f} ms (different run, clock or wiring?)"
                )
    return PowerSummary(
        method=method,
        baseline_mw=baseline,
        per_rep=per_rep,
        instrument=instrument or {"instrument": trace.instrument or None},
        warnings=warnings,
    )


def power_fields(
    power: PowerSummary,
) -> tuple[dict[str, float | None], dict[str, float | None], dict[str, Any]]:
    """``power_mw`` (stages, average, baseline), ``energy_uj`` (stages, total, net) and details.

    Per stage: median over repetitions of its mean power, energy and net energy.
    """
    reps = list(power.per_rep.values())
    power_mw: dict[str, float | None] = {}
    energy_uj: dict[str, float | None] = {}
    net: dict[str, float] = {}
    stats: dict[str, Any] = {}
    for stage in STAGES:
        items = [r.by_stage()[stage] for r in reps if stage in r.by_stage()]
        p = summarize([x.mean_power_mw for x in items], unit="mW", name=f"{stage} power")
        e = summarize([x.energy_uj for x in items], unit="uJ", name=f"{stage} energy")
        ne = summarize([x.net_energy_uj for x in items], unit="uJ", name=f"{stage} net energy")
        power_mw[stage], energy_uj[stage], net[stage] = p.median, e.median, ne.median
        stats[stage] = {
            "power_mw": _stats_json(p),
            "energy_uj": _stats_json(e),
            "net_energy_uj": _stats_json(ne),
        }
    energy_all = sum(x.energy_uj for r in reps for x in r.stages)
    duration_all = sum(x.duration_ms for r in reps for x in r.stages)
    power_mw["average"] = energy_all / duration_all if duration_all > 0 else None
    power_mw["baseline"] = power.baseline_mw
    energy_uj["total"] = float(sum(v for v in energy_uj.values() if v is not None))
    energy_uj["net"] = float(sum(net.values()))
    details = {
        "method": power.method,
        "baseline_mw": power.baseline_mw,
        "repetitions": sorted(power.per_rep),
        "net_energy_uj": net,
        "stages": stats,
        "instrument": power.instrument,
        "warnings": list(power.warnings),
    }
    return power_mw, energy_uj, details


# --------------------------------------------------------------------------- the run


class _GuardedTransport:
    """A serial port whose death (QEMU exiting, a USB cable pulled) reads as silence.

    pyserial raises on a hung-up pty; the runner expects a silent link, which it turns into a
    ``RunTimeoutError`` carrying the repetitions received so far.
    """

    def __init__(self, inner: runner.SerialLike) -> None:
        self.inner = inner
        self.dead: str | None = None

    @property
    def in_waiting(self) -> int:
        if self.dead:
            return 0
        try:
            return self.inner.in_waiting
        except OSError as e:  # serial.SerialException is an OSError
            self.dead = str(e)
            return 0

    def read(self, size: int = 1) -> bytes:
        if self.dead:
            time.sleep(0.05)
            return b""
        try:
            return self.inner.read(size)
        except OSError as e:
            self.dead = str(e)
            return b""

    def write(self, data: bytes) -> int | None:
        if self.dead:
            return 0
        try:
            return self.inner.write(data)
        except OSError as e:
            self.dead = str(e)
            return 0

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.inner.close()

    def reset_input_buffer(self) -> None:
        if not self.dead:
            self.inner.reset_input_buffer()


def _open_transport(port: str, baud: int) -> runner.SerialLike:
    return _GuardedTransport(runner.open_serial(port, baud))


def _run_on_port(
    port: str,
    baud: int,
    expected_hash: str,
    warmup: int,
    repeat: int,
    seed: int,
) -> tuple[RunResult | None, BoardLinkError | None]:
    """Handshake and run; a fault after the run started returns its partial run."""
    with runner.BoardSession(port, baud, transport_factory=_open_transport) as session:
        session.handshake(expected_hash)
        try:
            return session.run(warmup, repeat, seed=seed), None
        except BoardLinkError as e:
            if e.partial is None or not e.partial.reps:
                raise
            return e.partial, e


def _reference_output(tflite: Path, input_bytes: bytes, shape: tuple[int, ...]) -> bytes:
    from npubench.analysis.tflm import run_tflm

    x = np.frombuffer(input_bytes, dtype=np.int8).reshape(shape)
    out = run_tflm(tflite, [x])
    return np.asarray(out[0]).astype(np.int8).tobytes()


def _firmware_name(name: str) -> str:
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "-", name)[:24]
    return cleaned or "model"


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
    from npubench.provenance import base_provenance

    if repeat < 1 or warmup < 0:
        raise MeasurementError(
            f"repeat={repeat}, warmup={warmup}", hint="repeat must be >= 1 and warmup >= 0"
        )
    emulated = target in qemu.EMULATED_BOARDS and port is None
    board = _board_or_none(target, required=not emulated)
    if port is None and not emulated:
        raise MeasurementError(
            f"{target} is a real board: measuring it needs its serial port",
            hint="flash the harness firmware (npubench firmware project) and pass --port "
            f"/dev/ttyACM0; emulated targets: {', '.join(qemu.EMULATED_BOARDS)}",
        )
    instrument = open_instrument(power) if power else None  # fail fast on a bad --power
    options = options or BenchOptions()
    if bundle is None:
        bundle = prepare(model_spec, options, progress)
    p = bundle.prepared
    toolchain = "cgen" if emulated else (board.toolchain if board else "?")
    ctx = MeasureContext(
        model=p.name,
        target=target,
        model_sha256=p.sha256,
        input_shape=tuple(p.input_shape),
        emulated=emulated,
        strict_output=toolchain in BIT_EXACT_TOOLCHAINS,
        fidelity=p.fidelity,
        options={
            **options.as_dict(),
            "repeat": repeat,
            "warmup": warmup,
            "baud": baud,
            "power": power,
            "input": f"seed:{options.seed}",
        },
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
    )
    firmware: Path | None = None
    emu: qemu.QemuBoard | None = None
    recorder: _Recorder | None = None
    try:
        if emulated:
            firmware, emu = _start_emulator(p, target, ctx, progress)
            port = emu.port
        assert port is not None
        if instrument is not None:
            recorder = _Recorder(instrument, replay=power is not None and power.startswith("csv:"))
            recorder.start()
        progress(f"{p.name} on {target}: {warmup} warm-up + {repeat} timed repetitions")
        run, fault = _run_on_port(port, baud, p.sha256, warmup, repeat, options.seed)
    finally:
        trace = recorder.finish() if recorder is not None else None
        emu_exit = emu.proc.poll() if emu is not None and emu.proc is not None else None
        if emu is not None:
            emu.stop()
    assert run is not None
    if fault is not None:
        progress(f"fault after {len(run.reps)} repetitions: {fault.message}")
    reference = None
    if run.output is not None:
        progress(f"{p.name}: TFLM reference output")
        reference = _reference_output(p.int8_tflite, run.input, ctx.input_shape)
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
        _add_instruction_profile(result, p.int8_tflite, board, target, bundle, progress)
    outcome = MeasureOutcome(result=result, run=run, power=summary, trace=trace, firmware=firmware)
    if store is not None:
        outcome.stored_id = store.add(result)
    return outcome


def _add_instruction_profile(
    result: BenchResult, tflite: Path, board: Any, target: str, bundle: Any, progress: Progress
) -> None:
    """Emulated cores: retired instructions per stage and layer, and the image's memory.

    Counting is separate from the timed run (its own image runs the five stages once under a
    QEMU TCG plugin), so it cannot disturb the timings; a failure is recorded, not raised.
    """
    from npubench.measure.icount.profile import profile_model

    if board is None:
        return
    progress(f"{result.model}: counting instructions per layer on {board.cpu.core}")
    try:
        profile = profile_model(tflite, board.cpu.core, clock_mhz=board.cpu.clock_mhz.value)
    except NpubenchError as e:
        result.details["instruction_counts"] = {"error": str(e)}
        return
    result.details.update(profile)
    mem = profile["elf_memory"]
    result.memory = {"sram_bytes": mem["ram_bytes"], "flash_bytes": mem["flash_bytes"]}
    result.details["tflm_arena_bytes"] = bundle.analysis.tflm_arena_bytes
    ram = [m for m in board.memories if m.role in ("sram", "tcm")]
    if ram:
        capacity = max(m.capacity_bytes for m in ram)
        result.fit = {"ram": MemoryUse(mem["ram_bytes"], capacity)}


def _board_or_none(target: str, required: bool) -> Any:
    from npubench.targets import get_target

    try:
        return get_target(target)
    except TargetError:
        if required:
            raise
        return None  # an emulated board without a board file (qemu-cortex-m7/m33)


def _cgen_version() -> str:
    """A digest of the code generator's sources: generated C is cached per generator version."""
    from npubench.cache import cache_key, file_sha256
    from npubench.compilers import cgen

    root = Path(cgen.__file__).parent
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix in {".py", ".c", ".h"})
    return cache_key({str(p.relative_to(root)): file_sha256(p) for p in files})


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


def _check_arena_fits(model: str, target: str, arena_bytes: int) -> None:
    """Refuse a model whose activation arena cannot fit the board's largest RAM."""
    from npubench.targets import get_target

    ram = [m for m in get_target(target).memories if m.role in ("sram", "tcm")]
    if not ram:
        return
    largest = max(ram, key=lambda m: m.capacity_bytes)
    if arena_bytes > largest.capacity_bytes:
        raise MeasurementError(
            f"{model} needs a {arena_bytes}-byte activation arena but {target}'s largest RAM "
            f"({largest.name}) holds {largest.capacity_bytes} bytes",
            hint="choose a target with more RAM (`npubench targets`) or a smaller model",
        )


def _start_emulator(
    prepared: Any, target: str, ctx: MeasureContext, progress: Progress
) -> tuple[Path, qemu.QemuBoard]:
    """Generate the model's C, build the harness for ``target`` and boot it in QEMU."""
    from npubench.cache import cache_key, cached_dir, file_sha256
    from npubench.compilers.cgen import generate_c
    from npubench.compilers.cgen.generator import UnsupportedOperatorError

    progress(f"{prepared.name}: generating C (npubench cgen)")

    def build(folder: Path) -> None:
        try:
            cg = generate_c(prepared.int8_tflite, folder, prefix="npb_model")
        except UnsupportedOperatorError as e:
            raise _with_fallback_targets(e, prepared.int8_tflite) from e
        figures = {
            "arena_bytes": cg.arena_bytes,
            "constant_bytes": cg.constant_bytes,
            "operators": cg.operators,
            "input_bytes": int(np.prod(cg.input_shape)),
        }
        (folder / "cgen.json").write_text(json.dumps(figures, sort_keys=True))

    gen_dir, _ = cached_dir("measure-cgen", cache_key(prepared.sha256, _cgen_version()), build)
    meta = json.loads((gen_dir / "cgen.json").read_text())
    ctx.compiler = {"name": "npubench-cgen", "version": __version__, "cycles": None, **meta}
    ctx.details["cgen"] = meta
    _check_arena_fits(prepared.name, target, int(meta["arena_bytes"]))
    if meta["input_bytes"] > EMULATOR_MAX_INPUT_BYTES:
        raise MeasurementError(
            f"{prepared.name} takes {meta['input_bytes']} input bytes; the emulated harness "
            f"is built for at most {EMULATOR_MAX_INPUT_BYTES}",
            hint="use a smaller model on the emulator, or raise NPB_MAX_INPUT_BYTES in "
            "measure/harness/Makefile",
        )
    progress(f"{prepared.name}: building the harness for {target}")
    model_port = qemu.ModelPort.from_cgen(gen_dir, prepared.sha256, _firmware_name(prepared.name))
    elf = qemu.build_firmware(target, model_port)
    ctx.provenance["firmware"] = {
        "path": str(elf),
        "sha256": file_sha256(elf),
        "builder": "npubench measure/harness Makefile + cgen",
        "emulator": qemu.EMULATED_BOARDS[target].machine,
    }
    progress(f"booting QEMU {qemu.EMULATED_BOARDS[target].machine}")
    emu = qemu.QemuBoard(target, elf)
    emu.start()
    return elf, emu


# --------------------------------------------------------------------------- rendering


def render_measurement(result: BenchResult) -> Any:
    """A rich table of one measured result: stages, spread, power and energy, and its notes."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    stages = result.details.get("stages", {})
    has_power = bool(result.power_mw)
    title = f"{result.model} on {result.target} (measured, {result.status})"
    table = Table(title=title, title_justify="left")
    for name in ("stage", "median µs", "IQR µs", "95% CI µs", "n"):
        table.add_column(name, justify="left" if name == "stage" else "right")
    if has_power:
        table.add_column("power mW", justify="right")
        table.add_column("energy µJ", justify="right")
        table.add_column("net µJ", justify="right")
    net = result.details.get("power", {}).get("net_energy_uj", {})

    def fmt(v: float | None, digits: int = 1) -> str:
        return "—" if v is None else f"{v:,.{digits}f}"

    for stage in STAGES:
        s = stages.get(stage, {})
        row = [
            stage,
            fmt(result.latency_us.get(stage)),
            fmt(s.get("iqr")),
            f"{fmt(s.get('ci_low'))}–{fmt(s.get('ci_high'))}" if s else "—",
            str(s.get("n", "—")),
        ]
        if has_power:
            row += [
                fmt(result.power_mw.get(stage), 2),
                fmt(result.energy_uj.get(stage), 3),
                fmt(net.get(stage), 3),
            ]
        table.add_row(*row)
    total = result.details.get("total", {})
    row = [
        "total",
        fmt(result.latency_us.get("total")),
        fmt(total.get("iqr")),
        f"{fmt(result.latency_us_low)}–{fmt(result.latency_us_high)}",
        str(total.get("n", "—")),
    ]
    if has_power:
        row += [
            fmt(result.power_mw.get("average"), 2),
            fmt(result.energy_uj.get("total"), 3),
            fmt(result.energy_uj.get("net"), 3),
        ]
    table.add_row(*row, style="bold")
    notes: list[Any] = [table]
    if result.message:
        style = "red" if result.status == "failed" else "yellow"
        notes.append(Text(result.message, style=style))
    prov = result.provenance
    notes.append(
        Text(
            f"board {prov.get('board')} fw {prov.get('firmware_version')} on {prov.get('port')}, "
            f"cycle_accurate={prov.get('cycle_accurate')}, output check: "
            + _check_text(result.details.get("output_check", {})),
            style="dim",
        )
    )
    for warning in result.details.get("warnings", []):
        notes.append(Text(f"! {warning}", style="yellow"))
    for warning in result.details.get("power", {}).get("warnings", []):
        notes.append(Text(f"! power: {warning}", style="yellow"))
    notes += _render_instruction_profile(result)
    return Group(*notes)


def _render_instruction_profile(result: BenchResult) -> list[Any]:
    """Per-layer retired instructions and the image's memory (emulated cores only)."""
    from rich.table import Table
    from rich.text import Text

    counts = result.details.get("instruction_counts")
    if not counts:
        return []
    if "error" in counts:
        return [Text(f"! instruction counting failed: {counts['error']}", style="yellow")]
    table = Table(
        title=f"retired instructions on {counts['core']} ({counts['method']}; the "
        "same on every run)",
        title_justify="left",
    )
    for name in ("#", "op", "output", "MACs", "instructions", "instr/MAC"):
        table.add_column(name, justify="left" if name in ("op", "output") else "right")
    for layer in counts["layers"]:
        macs, instr = layer["macs"], layer["instructions"]
        table.add_row(
            str(layer["index"]),
            layer["op"],
            "x".join(map(str, layer["output_shape"])),
            f"{macs:,}",
            f"{instr:,}",
            f"{instr / macs:.2f}" if macs else "–",
        )
    per_stage = ", ".join(f"{k} {v:,}" for k, v in counts["stages"].items())
    out: list[Any] = [table, Text(f"instructions per stage: {per_stage}", style="bold")]
    mem = result.details.get("elf_memory", {})
    if mem:
        arena = result.details.get("tflm_arena_bytes")
        out.append(
            Text(
                f"linked image: code {mem['code_bytes']:,} B, "
                f"constant data {mem['rodata_bytes']:,} B "
                f"(weights {mem['weights_bytes']:,} B), RAM {mem['ram_bytes']:,} B with a "
                f"{mem['arena_bytes']:,} B arena"
                + (f" (TFLM's arena: {arena:,} B)" if arena else ""),
                style="dim",
            )
        )
    est = result.details.get("cycle_estimate")
    if est and "inference_us" in est:
        out.append(
            Text(
                f"estimate, not a measurement: inference {est['inference_cycles']:,} cycles = "
                f"{est['inference_us']:,.0f} µs at {est['clock_mhz']:g} MHz (CPI {est['cpi']:g}, "
                f"range {est['inference_us_low']:,.0f}–{est['inference_us_high']:,.0f} µs; "
                f"{est['cpi_source']})",
                style="dim",
            )
        )
    return out


def _check_text(check: dict[str, Any]) -> str:
    if not check.get("checked"):
        return f"not checked ({check.get('reason', '?')})"
    if check.get("identical"):
        return f"identical to TFLM ({check.get('bytes')} bytes)"
    d = check.get("first_difference", {})
    return f"differs at byte {d.get('index')} ({check.get('differing_bytes')} bytes)"
