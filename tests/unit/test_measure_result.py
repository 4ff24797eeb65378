"""Measured BenchResult assembly (``measure.result``) from a recorded run, and per-stage power.

The run is a real transcript: the HELLO and REP lines that the harness on QEMU mps2-an386 sent for
``tests/data/cgen/mlp_per_tensor.tflite`` (2 warm-ups, 6 repetitions, input seed 0), decoded
with the protocol codec. The power traces are synthetic with known levels, so the per-stage power
and net energy have exact expected values. A power instrument pulled mid-run is simulated by an
instrument whose serial port raises pyserial's ``SerialException`` (an ``OSError``), as a
disconnected USB device does.
"""

from __future__ import annotations

import io
import statistics

import numpy as np
import pytest
import serial
from rich.console import Console

from npubench import STAGES
from npubench.errors import MeasurementError
from npubench.measure import protocol as p
from npubench.measure.instruments import StreamingInstrument
from npubench.measure.power_align import align_power
from npubench.measure.recorder import Recorder, parse_power
from npubench.measure.render import render_measurement
from npubench.measure.result import (
    EMULATOR_NOTE,
    MeasureContext,
    assemble_result,
    first_difference,
    power_fields,
)
from npubench.measure.runner import BoardInfo, Repetition, RunResult, RunTimeoutError
from npubench.measure.trace import PowerTrace

TRANSCRIPT = """\
NPB1 HELLO board=qemu-mps2-an386 fw=0.1.0 proto=1 model=6195961c5b36c47a name=mlp_per_tensor in=40 out=40 clock_hz=25000000 tick_hz=25000000 cycle_accurate=0 max_repeat=256 *1c8ce20c
NPB1 REP i=0 init=17 input_io=24 inference=1033 output_io=20 postprocess=24 ocrc=edd636dd post=26 *95727f6c
NPB1 REP i=1 init=30 input_io=29 inference=1057 output_io=22 postprocess=323 ocrc=edd636dd post=26 *5a74708c
NPB1 REP i=2 init=19 input_io=28 inference=1062 output_io=25 postprocess=24 ocrc=edd636dd post=26 *4c6fe28c
NPB1 REP i=3 init=17 input_io=29 inference=1049 output_io=23 postprocess=28 ocrc=edd636dd post=26 *556b2080
NPB1 REP i=4 init=18 input_io=24 inference=1019 output_io=23 postprocess=26 ocrc=edd636dd post=26 *54be353d
NPB1 REP i=5 init=17 input_io=23 inference=1016 output_io=19 postprocess=26 ocrc=edd636dd post=26 *ad32ca50
"""  # noqa: E501
OUTPUT = bytes.fromhex(
    "01e200100d01dfe2f325fc0ae9e9e0f3121824f3fe211515f9072efbf6ee07010f130500dfe9f6e2"
)
SHA = "6195961c5b36c47a480b991f902cce27304e73337a969b9a02b616305507853b"


def recorded_run(keep: int | None = None) -> RunResult:
    lines = [p.decode(line.encode()) for line in TRANSCRIPT.splitlines()]
    info = BoardInfo.from_hello(lines[0])
    run = RunResult(
        port="/dev/pts/3",
        board=info,
        run_id=30949442,
        warmup=2,
        repeat=6,
        input_spec="seed:0",
        input=p.prng_bytes(0, info.input_bytes),
    )
    for msg in lines[1:]:
        i = msg.int("i")
        if keep is None or i < keep:
            run.reps[i] = Repetition(i, p.rep_ticks(msg), msg.hex32("ocrc"), msg.int("post"))
    if keep is None:
        run.output, run.output_crc, run.done, run.complete = OUTPUT, p.crc32(OUTPUT), True, True
    return run


def context(strict: bool = True, emulated: bool = True) -> MeasureContext:
    return MeasureContext(
        model="mlp_per_tensor",
        target="qemu-cortex-m4",
        model_sha256=SHA,
        input_shape=(1, 40),
        emulated=emulated,
        strict_output=strict,
        provenance={"npubench_version": "test"},
    )


def test_recorded_run_gives_per_stage_medians_and_stats() -> None:
    run = recorded_run()
    assert p.crc32(OUTPUT) == 0xEDD636DD  # the transcript's per-repetition output CRC
    result = assemble_result(run, context(), reference=OUTPUT)
    assert result.kind == "measured" and result.status == "ok" and not result.message
    hz = 25e6
    for stage in STAGES:
        ticks = [run.reps[i].ticks[stage] for i in range(6)]
        assert result.latency_us[stage] == pytest.approx(statistics.median(ticks) * 1e6 / hz)
        stats = result.details["stages"][stage]
        assert stats["n"] == 6 and stats["unit"] == "us"
        assert stats["ci_low"] <= stats["median"] <= stats["ci_high"]
    totals = sorted(sum(run.reps[i].ticks.values()) * 1e6 / hz for i in range(6))
    assert result.latency_us["total"] == pytest.approx(statistics.median(totals))
    # 6 values: the 96.9 % order-statistic interval of the median is [min, max].
    assert result.latency_us_low == pytest.approx(totals[0])
    assert result.latency_us_high == pytest.approx(totals[-1])
    # postprocess of rep 1 (323 ticks vs ~25) is an outlier: the IQR warning names the stage.
    assert any("postprocess" in w for w in result.details["stages"]["postprocess"]["warnings"])
    assert result.details["output_check"]["identical"] is True
    assert result.details["postprocess"] == [26]
    prov = result.provenance
    assert prov["board"] == "qemu-mps2-an386" and prov["firmware_version"] == "0.1.0"
    assert prov["cycle_accurate"] is False and prov["port"] == "/dev/pts/3"
    assert prov["firmware_model_hash"] == SHA[:16] and prov["model_sha256"] == SHA
    assert prov["npubench_version"] == "test"
    assert result.details["emulator_note"] == EMULATOR_NOTE
    assert result.details["warnings"][0] == EMULATOR_NOTE
    assert result.clock_mhz == 25.0
    # A stored result round-trips through JSON.
    assert type(result).from_json(result.to_json()).latency_us == result.latency_us


def test_the_result_keeps_every_repetitions_samples_and_how_they_were_timed() -> None:
    run = recorded_run()
    ctx = context()
    ctx.tick_source, ctx.firmware_sha256 = "SysTick of QEMU mps2-an386", "ab" * 32
    result = assemble_result(run, ctx, reference=OUTPUT)
    s = result.samples
    assert s is not None and s.repetitions == 6 and s.warmup_count == 2
    for stage in STAGES:
        assert s.stages[stage] == [run.reps[i].ticks[stage] * 1e6 / 25e6 for i in range(6)]
        assert s.warmups[stage] == []  # the harness sends no lines for warm-ups
    assert s.clock_mhz == 25.0 and s.cycle_accurate is False
    assert s.firmware_sha256 == "ab" * 32
    assert s.tick_source.startswith("SysTick of QEMU mps2-an386") and "25000000" in s.tick_source
    # The statistics are computed from the very samples kept.
    assert result.latency_us["postprocess"] == statistics.median(s.stages["postprocess"])
    back = type(result).from_json(result.to_json())
    assert back.samples == s and back.to_json()["samples"]["stages"] == s.stages
    # A partial run keeps the repetitions it received, in order.
    partial = recorded_run(keep=3)
    fault = RunTimeoutError("the board went silent", partial=partial)
    kept = assemble_result(partial, context(), reference=None, fault=fault).samples
    assert kept is not None and kept.repetitions == 3 and len(kept.stages["init"]) == 3
    assert kept.firmware_sha256 is None and kept.tick_source.startswith("the firmware timer")


def test_wrong_output_fails_and_names_the_first_differing_byte() -> None:
    wrong = bytearray(OUTPUT)
    wrong[7] ^= 0x01
    wrong[20] = 0
    result = assemble_result(recorded_run(), context(), reference=bytes(wrong))
    assert result.status == "failed"
    want = wrong[7] - 256 if wrong[7] > 127 else wrong[7]
    got = OUTPUT[7] - 256 if OUTPUT[7] > 127 else OUTPUT[7]
    assert f"byte 7 (board {got}, reference {want})" in result.message
    assert "2 of 40 bytes differ" in result.message
    assert result.details["output_check"]["differing_bytes"] == 2


def test_vendor_toolchain_mismatch_is_reported_not_failed() -> None:
    wrong = bytes(b ^ 0x10 for b in OUTPUT)
    result = assemble_result(recorded_run(), context(strict=False), reference=wrong)
    assert result.status == "ok"
    assert any("differs from the TFLM reference" in w for w in result.details["warnings"])


def test_fault_keeps_the_repetitions_and_marks_incomplete() -> None:
    partial = recorded_run(keep=3)
    fault = RunTimeoutError("the board went silent", partial=partial)
    result = assemble_result(partial, context(), reference=None, fault=fault)
    assert result.status == "incomplete"
    assert "3 of 6 repetitions" in result.message and "went silent" in result.message
    assert result.details["repetitions"] == {"requested": 6, "received": 3, "warmup": 2}
    assert result.details["stages"]["inference"]["n"] == 3
    assert result.details["output_check"]["checked"] is False
    assert result.latency_us["inference"] == pytest.approx(1057 / 25)  # median of 3 reps


def test_no_repetition_at_all_is_an_error() -> None:
    with pytest.raises(MeasurementError, match="no repetition"):
        assemble_result(recorded_run(keep=0), context(), reference=None)


def test_first_difference() -> None:
    assert first_difference(b"\x01\x02", b"\x01\x02") is None
    assert first_difference(b"\x01\xff", b"\x01\x02") == (1, -1, 2)
    assert first_difference(b"\x01", b"\x01\x02") == (1, 0, 0)


# --------------------------------------------------------------------------- power

LEVELS_MW = {
    "init": 20.0,
    "input_io": 30.0,
    "inference": 120.0,
    "output_io": 35.0,
    "postprocess": 25.0,
}
IDLE_MW = 10.0
STAGE_MS = {"init": 2.0, "input_io": 1.0, "inference": 5.0, "output_io": 1.0, "postprocess": 1.5}


def power_run(warmup: int = 1, repeat: int = 4) -> RunResult:
    """A run with 1 MHz ticks and the stage durations of STAGE_MS."""
    info = BoardInfo("synthetic", "0.1.0", 1, SHA[:16], "m", 4, 4, 1_000_000, 1_000_000, True, 256)
    run = RunResult("/dev/null", info, 1, warmup, repeat, "seed:0", b"\0" * 4)
    for i in range(repeat):
        ticks = {s: int(STAGE_MS[s] * 1000) for s in STAGES}
        run.reps[i] = Repetition(i, ticks, 0, 0)
    run.done = run.complete = True
    return run


def synthetic_trace(
    reps: int,
    markers: bool,
    rate_hz: float = 100_000.0,
    noise_mw: float = 0.0,
    gap_ms: float = 0.5,
) -> PowerTrace:
    """Idle, then per repetition: the five stages with ``gap_ms`` idle gaps, repetitions 30 ms
    apart (plus Gaussian noise of ``noise_mw``, seeded, for the window detector)."""
    period = 1e3 / rate_hz
    segments: list[tuple[float, float, int]] = [(50.0, IDLE_MW, 0)]
    for _ in range(reps):
        for s in STAGES:
            segments.append((STAGE_MS[s], LEVELS_MW[s], 1))
            if gap_ms:
                segments.append((gap_ms, IDLE_MW, 0))
        segments.append((30.0, IDLE_MW, 0))
    segments.append((20.0, IDLE_MW, 0))
    power, digital = [], []
    for duration, level, bit in segments:
        n = round(duration / period)
        power += [level] * n
        digital += [bit] * n
    t = np.arange(len(power)) * period
    return PowerTrace(
        time_ms=t,
        power_mw=np.array(power, dtype=float)
        + np.random.default_rng(0).normal(0.0, noise_mw, len(power)),
        digital=np.array(digital, dtype=np.uint8) if markers else None,
        digital_channels=1 if markers else 0,
        source="synthetic",
        instrument="csv-replay",
    )


def test_marker_pulses_give_per_stage_power_and_net_energy() -> None:
    run = power_run(warmup=1, repeat=4)
    summary = align_power(synthetic_trace(5, markers=True), run)  # warm-up pulses come first
    assert summary.method.startswith("markers") and sorted(summary.per_rep) == [0, 1, 2, 3]
    assert summary.baseline_mw == pytest.approx(IDLE_MW)
    fields = power_fields(summary)
    power, energy, details = fields.power_mw, fields.energy_uj, fields.details
    for stage in STAGES:
        # Edges fall midway between samples: at most half a sample (5 us) of error per edge.
        assert power[stage] == pytest.approx(LEVELS_MW[stage], rel=0.01)
        assert energy[stage] == pytest.approx(LEVELS_MW[stage] * STAGE_MS[stage], rel=0.01)
        want_net = (LEVELS_MW[stage] - IDLE_MW) * STAGE_MS[stage]
        assert details["net_energy_uj"][stage] == pytest.approx(want_net, rel=0.02)
    assert energy["total"] == pytest.approx(
        sum(LEVELS_MW[s] * STAGE_MS[s] for s in STAGES), rel=0.01
    )
    assert energy["net"] == pytest.approx(
        sum((LEVELS_MW[s] - IDLE_MW) * STAGE_MS[s] for s in STAGES), rel=0.02
    )
    total_ms = sum(STAGE_MS.values())
    assert power["average"] == pytest.approx(
        sum(LEVELS_MW[s] * STAGE_MS[s] for s in STAGES) / total_ms, rel=0.01
    )
    assert power["baseline"] == pytest.approx(IDLE_MW)
    assert not [w for w in details["warnings"] if "marker pulses last" in w]


def test_wrong_pulse_count_falls_back_to_timestamps_on_windows() -> None:
    # No marker channel: each repetition is one active window whose start anchors the stages
    # laid back to back from the firmware's ticks (as the harness runs them).
    run = power_run(warmup=1, repeat=3)
    trace = synthetic_trace(4, markers=False, noise_mw=0.2, gap_ms=0.0)
    summary = align_power(trace, run)
    assert summary.method.startswith("firmware timestamps")
    assert sorted(summary.per_rep) == [0, 1, 2]  # window 0 was the warm-up
    power = power_fields(summary).power_mw
    for stage in STAGES:
        # The window opens within a few samples of the true start (detector threshold).
        assert power[stage] == pytest.approx(LEVELS_MW[stage], rel=0.06)


def test_markers_disagreeing_with_the_firmware_are_flagged() -> None:
    run = power_run(warmup=0, repeat=2)
    for rep in run.reps.values():
        rep.ticks["inference"] *= 2  # firmware says 10 ms, the trace 5 ms
    summary = align_power(synthetic_trace(2, markers=True), run)
    assert any("stage inference: marker pulses last" in w for w in summary.warnings)


def test_result_with_power_fills_the_schema_fields() -> None:
    run = power_run(warmup=1, repeat=4)
    summary = align_power(synthetic_trace(5, markers=True), run)
    result = assemble_result(run, context(emulated=False), reference=None, power=summary)
    assert set(STAGES) <= set(result.power_mw) and "average" in result.power_mw
    assert {"total", "net"} <= set(result.energy_uj)
    assert result.details["power"]["method"].startswith("markers")
    text = io.StringIO()
    Console(file=text, width=140).print(render_measurement(result))
    out = text.getvalue()
    assert "inference" in out and "power mW" in out and "net µJ" in out


def test_parse_power(tmp_path) -> None:
    assert parse_power("ppk2") == ("ppk2", None)
    f = tmp_path / "t.csv"
    f.write_text("time_ms,power_mw\n0,1\n1,1\n2,1\n")
    assert parse_power(f"csv:{f}") == ("csv", f)
    with pytest.raises(MeasurementError, match="unknown --power"):
        parse_power("monsoon")
    with pytest.raises(MeasurementError, match="no such trace file"):
        parse_power(f"csv:{tmp_path / 'missing.csv'}")


def test_an_arena_larger_than_the_boards_ram_is_refused_with_both_sizes() -> None:
    from npubench.errors import MeasurementError
    from npubench.measure.emulator import check_arena_fits

    check_arena_fits("small", "qemu-cortex-m4", 49_152)  # fits: no error
    with pytest.raises(MeasurementError) as info:
        check_arena_fits("huge", "qemu-cortex-m33", 3_000_000)
    message = str(info.value)
    assert "3000000" in message and "2097152" in message and "qemu-cortex-m33" in message


def test_a_capture_begun_mid_warm_up_matches_the_last_groups_to_the_timed_repetitions() -> None:
    # 3 warm-ups and 4 timed repetitions ran, but the capture began after the second warm-up:
    # it holds 5 groups of pulses, of which only the first is a warm-up.
    run = power_run(warmup=3, repeat=4)
    summary = align_power(synthetic_trace(5, markers=True), run)
    assert sorted(summary.per_rep) == [0, 1, 2, 3]
    assert not [w for w in summary.warnings if "timed repetitions" in w]
    # Repetition i is the (i+1)-th pulsed group: its init stage starts where that group does.
    period_ms = sum(STAGE_MS.values()) + 0.5 * len(STAGES) + 30.0  # stages, gaps, rest
    for i, rep in summary.per_rep.items():
        assert rep.by_stage()["init"].start_ms == pytest.approx(
            50.0 + (i + 1) * period_ms, abs=0.02
        )


class _PulledInstrument(StreamingInstrument):
    """Delivers one chunk, then fails as pyserial does when the USB device disappears."""

    name = "pulled"

    def __init__(self) -> None:
        super().__init__(timeout_s=5.0)
        self.polls = 0

    def _open(self) -> None:
        pass

    def _poll(self) -> PowerTrace | None:
        self.polls += 1
        if self.polls == 1:
            t = np.arange(100) * 0.01
            return PowerTrace(time_ms=t, power_mw=np.full(100, 12.0), source="pulled")
        raise serial.SerialException(
            "device reports readiness to read but returned no data "
            "(device disconnected or multiple access on port?)"
        )

    def _close(self) -> None:
        raise serial.SerialException("write failed: [Errno 5] Input/output error")


def test_an_instrument_pulled_mid_run_is_the_recorders_error_and_keeps_its_samples() -> None:
    recorder = Recorder(_PulledInstrument(), replay=False)
    recorder.start()
    assert recorder._thread is not None
    recorder._thread.join(timeout=5)
    assert not recorder._thread.is_alive()  # the OSError ended the polling thread
    trace = recorder.finish()  # stopping the pulled device fails too: still no exception
    assert isinstance(recorder.error, MeasurementError)
    assert "pulled failed while recording (SerialException" in recorder.error.message
    assert "USB cable" in recorder.error.hint
    assert trace is not None and len(trace) == 100  # what arrived before the failure
