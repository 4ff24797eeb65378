"""The measured ``BenchResult`` of one run: per-stage statistics, the output check, the raw samples.

``assemble_result(run, ctx, reference=..., fault=..., power=...)`` turns what the host runner
received (``RunResult``) into a result of kind ``"measured"``: per-stage medians and statistics
(median, IQR, CI, warnings), the output checked against the TFLM reference, provenance (board,
firmware, hashes, instrument, port, cycle accuracy) and every repetition's timings
(``MeasuredSamples``), and the per-stage power of a capture (``power_fields``). A link fault
keeps the repetitions collected and marks the result ``"incomplete"``; a wrong output marks it
``"failed"`` and names the first differing byte.

May import the foundation modules, ``analysis`` (the TFLM reference) and the sibling ``measure``
modules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from npubench import STAGES
from npubench.errors import MeasurementError
from npubench.measure.power_align import PowerSummary
from npubench.measure.runner import BoardLinkError, RunResult
from npubench.measure.stats import RepetitionStats, summarize
from npubench.schema import BenchResult, Fidelity, MeasuredSamples, empty_stages

EMULATOR_NOTE = (
    "emulator timings are not cycle-accurate: QEMU runs the firmware functionally and its "
    "SysTick follows host wall time, so these figures test the measurement chain and compare "
    "relative costs only; they are not the latency of any silicon"
)
# Toolchains whose on-board arithmetic is meant to match TFLM's reference kernels bit for bit:
# for these a differing output is a failure; for vendor quantizers it is only reported.
BIT_EXACT_TOOLCHAINS = frozenset({"tflm", "vela", "cgen"})


@dataclass
class MeasureContext:
    """What a result needs besides the run: the model, the target and how it was built.

    ``tick_source`` names the timer the firmware reads (the board file's ``[firmware].timebase``,
    or the emulator's SysTick); ``firmware_sha256`` is the image's hash when the host built it.
    """

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
    tick_source: str | None = None
    firmware_sha256: str | None = None


@dataclass(frozen=True)
class OutputCheck:
    """The output check's record (``details["output_check"]``) and, if it failed strictly,
    the failure message."""

    record: dict[str, Any]
    failure: str | None = None


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


def reference_output(tflite: Path, input_bytes: bytes, shape: tuple[int, ...]) -> bytes:
    """TFLM's output for the same int8 model and input: what the board must return."""
    from npubench.analysis.tflm import run_tflm

    x = np.frombuffer(input_bytes, dtype=np.int8).reshape(shape)
    out = run_tflm(tflite, [x])
    return np.asarray(out[0]).astype(np.int8).tobytes()


def check_output(run: RunResult, reference: bytes | None, strict: bool) -> OutputCheck:
    """The board's output against the TFLM reference."""
    if reference is None:
        return OutputCheck({"checked": False, "reason": "no host reference"})
    if run.output is None:
        return OutputCheck(
            {"checked": False, "reason": "the output did not arrive (incomplete run)"}
        )
    record: dict[str, Any] = {
        "checked": True,
        "reference": "tflm (same int8 model, same input)",
        "strict": strict,
        "bytes": len(reference),
    }
    diff = first_difference(run.output, reference)
    if diff is None:
        record["identical"] = True
        return OutputCheck(record)
    index, got, want = diff
    n = min(len(run.output), len(reference))
    board = np.frombuffer(run.output[:n], np.int8).astype(int)
    host = np.frombuffer(reference[:n], np.int8).astype(int)
    differing = int(np.count_nonzero(board != host))
    record.update(
        identical=False,
        first_difference={"index": index, "board": got, "reference": want},
        differing_bytes=differing,
        max_abs_diff=int(np.max(np.abs(board - host))) if n else None,
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
    return OutputCheck(record, message if strict else None)


_STATS_KEYS = (
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


def stats_json(stats: RepetitionStats) -> dict[str, Any]:
    """The statistics of one series as the result's details keep them."""
    data = stats.to_json()
    return {k: data[k] for k in _STATS_KEYS}


@dataclass(frozen=True)
class PowerFields:
    """A power summary as result fields: ``power_mw`` (stages, average, baseline),
    ``energy_uj`` (stages, total, net) and ``details["power"]``."""

    power_mw: dict[str, float | None]
    energy_uj: dict[str, float | None]
    details: dict[str, Any]


def power_fields(power: PowerSummary) -> PowerFields:
    """Per stage: the median over repetitions of its mean power, energy and net energy."""
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
            "power_mw": stats_json(p),
            "energy_uj": stats_json(e),
            "net_energy_uj": stats_json(ne),
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
    return PowerFields(power_mw, energy_uj, details)


def measured_samples(run: RunResult, ctx: MeasureContext) -> MeasuredSamples:
    """Every received repetition's per-stage time (µs, in repetition order) and how it was
    timed. The harness sends no lines for warm-ups, so their lists are empty."""
    hz = run.board.tick_hz
    reps = [run.reps[i] for i in sorted(run.reps)]
    return MeasuredSamples(
        stages={stage: [r.ticks[stage] * 1e6 / hz for r in reps] for stage in STAGES},
        warmups={stage: [] for stage in STAGES},
        repetitions=len(reps),
        warmup_count=run.warmup,
        firmware_sha256=ctx.firmware_sha256,
        clock_mhz=run.board.clock_hz / 1e6 if run.board.clock_hz else None,
        tick_source=f"{ctx.tick_source or 'the firmware timer'}; tick_hz={hz}",
        cycle_accurate=run.board.cycle_accurate,
    )


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
    samples = measured_samples(run, ctx)
    latency = empty_stages()
    stages: dict[str, Any] = {}
    warnings: list[str] = []
    for stage in STAGES:
        s = summarize(samples.stages[stage], unit="us", name=f"stage {stage}")
        latency[stage] = s.median
        stages[stage] = stats_json(s)
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
    check = check_output(run, reference, ctx.strict_output)
    if check.failure is not None:
        status = "failed"
        messages.insert(0, check.failure)
    elif check.record.get("identical") is False:
        warnings.append(
            "output differs from the TFLM reference (expected for this toolchain, which "
            "quantizes on its own): " + str(check.record["first_difference"])
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
        "total": stats_json(total),
        "sum_of_stage_medians_us": float(sum(latency[s] or 0.0 for s in STAGES)),
        "repetitions": {"requested": run.repeat, "received": len(reps), "warmup": run.warmup},
        "cycle_accurate": run.board.cycle_accurate,
        "output_check": check.record,
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
        clock_mhz=samples.clock_mhz,
        options=dict(ctx.options),
        provenance=provenance,
        details=details,
        samples=samples,
    )
    if power is not None:
        fields = power_fields(power)
        result.power_mw, result.energy_uj = fields.power_mw, fields.energy_uj
        details["power"] = fields.details
    return result
