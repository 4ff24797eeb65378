"""``npubench measure`` end to end on an emulated board: a real int8 model compiled to C by
npubench's cgen, the harness built for QEMU mps2-an386 (Cortex-M4), booted with its UART on a
pty and driven by the host runner exactly as a board; outputs checked against TFLM; the result
stored and read back. Also a fault (QEMU killed mid-run) and power from a replayed CSV capture.

QEMU timings are emulator wall time, not cycles: only sanity bounds are checked on them.
Needs arm-none-eabi-gcc, newlib and qemu-system-arm (skipped, with the reason, without them).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from _markers import needs_qemu
from npubench import STAGES
from npubench.measure import qemu
from npubench.measure import transport as transport_mod
from npubench.measure.result import EMULATOR_NOTE
from npubench.pipeline.measure import measure
from npubench.store import ResultStore

pytestmark = [
    pytest.mark.integration,
    needs_qemu,
]

MODEL = str(Path(__file__).parent.parent / "data" / "cgen" / "mlp_per_tensor.tflite")


@pytest.fixture(scope="module", autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    # One cache for the module: the harness is built once and reused by every test.
    mp = pytest.MonkeyPatch()
    mp.setenv("NPUBENCH_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


@pytest.fixture
def store(tmp_path: Path) -> ResultStore:
    with ResultStore(tmp_path / "results.db") as s:
        yield s


class _RecordingQemu(qemu.QemuBoard):
    started: ClassVar[list[qemu.QemuBoard]] = []

    def start(self) -> str:
        _RecordingQemu.started.append(self)
        return super().start()


def test_measure_on_qemu_stores_a_checked_measured_result(store: ResultStore, monkeypatch) -> None:
    _RecordingQemu.started.clear()
    monkeypatch.setattr(qemu, "QemuBoard", _RecordingQemu)
    outcome = measure(MODEL, "qemu-cortex-m4", repeat=5, warmup=2, store=store)
    r = outcome.result
    assert r.kind == "measured" and r.status == "ok", r.message
    assert r.model == "mlp_per_tensor" and r.target == "qemu-cortex-m4"
    for stage in STAGES:
        assert r.latency_us[stage] is not None and r.latency_us[stage] > 0
        assert r.details["stages"][stage]["n"] == 5
    # The 4-layer MLP's inference dominates the copies, even in emulator time.
    assert r.latency_us["inference"] > r.latency_us["input_io"]
    assert r.latency_us_low <= r.latency_us["total"] <= r.latency_us_high
    assert r.details["output_check"] == {
        "checked": True,
        "reference": "tflm (same int8 model, same input)",
        "strict": True,
        "bytes": 40,
        "identical": True,
    }
    prov = r.provenance
    assert prov["board"] == "qemu-mps2-an386" and prov["cycle_accurate"] is False
    assert prov["firmware_model_hash"] == prov["model_sha256"][:16]
    assert prov["firmware"]["sha256"] and prov["firmware"]["emulator"] == "mps2-an386"
    assert prov["npubench_version"] and prov["toolchains"]["vela"]
    assert r.details["emulator_note"] == EMULATOR_NOTE and r.compiler["name"] == "npubench-cgen"
    # The raw samples: every repetition's stages, the image's hash, the timer.
    s = r.samples
    assert s is not None and s.repetitions == 5 and s.warmup_count == 2
    assert all(len(s.stages[stage]) == 5 for stage in STAGES)
    assert s.firmware_sha256 == prov["firmware"]["sha256"] and s.cycle_accurate is False
    assert "SysTick" in s.tick_source and s.clock_mhz == 25.0
    # QEMU was stopped.
    assert _RecordingQemu.started and _RecordingQemu.started[-1].proc is None
    # Stored, and visible as a measured result.
    stored = store.query(kind="measured")
    assert [s.id for s in stored] == [outcome.stored_id]
    assert stored[0].result.latency_us == r.latency_us
    assert stored[0].result.status == "ok"
    assert stored[0].result.samples == s


def test_qemu_killed_mid_run_keeps_the_repetitions_as_incomplete(
    store: ResultStore, monkeypatch
) -> None:
    _RecordingQemu.started.clear()
    monkeypatch.setattr(qemu, "QemuBoard", _RecordingQemu)
    opener = transport_mod.open_transport

    class KillAfterThirdRep:
        """The real serial port; QEMU is killed once repetition 2's line has arrived whole."""

        def __init__(self, inner) -> None:
            self.inner, self.seen, self.killed = inner, b"", False

        def __getattr__(self, name: str):
            return getattr(self.inner, name)

        def read(self, size: int = 1) -> bytes:
            data = self.inner.read(size)
            if not self.killed:
                self.seen += data
                if re.search(rb"REP i=2 [^\n]*\n", self.seen):  # a complete line
                    self.killed = True
                    _RecordingQemu.started[-1].proc.kill()
            return data

    monkeypatch.setattr(
        transport_mod, "open_transport", lambda port, baud: KillAfterThirdRep(opener(port, baud))
    )
    # 250 repetitions: far more REP lines than the pty buffers, so QEMU dies mid-run.
    outcome = measure(MODEL, "qemu-cortex-m4", repeat=250, warmup=0, store=store)
    r = outcome.result
    assert r.status == "incomplete"
    received = r.details["repetitions"]["received"]
    assert 3 <= received < 250 and len(outcome.run.reps) == received
    assert f"{received} of 250 repetitions" in r.message and "QEMU exited" in r.message
    assert r.details["stages"]["inference"]["n"] == received
    assert r.details["output_check"]["checked"] is False
    assert store.query(kind="measured", status="ok") == []
    assert [s.result.status for s in store.query(kind="measured")] == ["incomplete"]


def _marker_trace(path: Path, reps: int) -> dict[str, float]:
    """A PPK2-like capture at 100 kHz: idle 8 mW, five marker pulses per repetition."""
    levels = {
        "init": 15.0,
        "input_io": 22.0,
        "inference": 95.0,
        "output_io": 24.0,
        "postprocess": 18.0,
    }
    period = 0.01
    power, marker = [8.0] * 2000, [0] * 2000
    for _ in range(reps):
        for stage in STAGES:
            power += [levels[stage]] * 100  # 1 ms per stage
            marker += [1] * 100
            power += [8.0] * 50
            marker += [0] * 50
        power += [8.0] * 500
        marker += [0] * 500
    power += [8.0] * 2000
    marker += [0] * 2000
    t = np.arange(len(power)) * period
    rows = "\n".join(f"{a:.2f},{b:.3f},{c}" for a, b, c in zip(t, power, marker, strict=True))
    path.write_text("time_ms,power_mw,D0\n" + rows + "\n")
    return levels


def test_power_from_a_replayed_capture_with_markers(tmp_path: Path) -> None:
    csv = tmp_path / "capture.csv"
    levels = _marker_trace(csv, reps=2 + 4)  # warm-ups pulse too
    outcome = measure(MODEL, "qemu-cortex-m4", repeat=4, warmup=2, power=f"csv:{csv}")
    r = outcome.result
    assert r.status == "ok", r.message
    assert r.details["power"]["method"].startswith("markers")
    assert r.details["power"]["repetitions"] == [0, 1, 2, 3]
    assert r.power_mw["baseline"] == pytest.approx(8.0)
    for stage in STAGES:
        assert r.power_mw[stage] == pytest.approx(levels[stage], rel=0.02)
        assert r.energy_uj[stage] == pytest.approx(levels[stage] * 1.0, rel=0.02)
        net = r.details["power"]["net_energy_uj"][stage]
        assert net == pytest.approx((levels[stage] - 8.0) * 1.0, rel=0.03)
    assert r.energy_uj["net"] == pytest.approx(sum(v - 8.0 for v in levels.values()), rel=0.03)
    assert r.provenance["instrument"]["instrument"] == "csv-replay"
    # The emulator's stages last microseconds, the capture's milliseconds: flagged, not hidden.
    assert any("marker pulses last" in w for w in r.details["power"]["warnings"])


def test_unsupported_operator_names_the_layer_and_the_fallback_targets(
    tflite_models: dict[str, Path],
) -> None:
    from npubench.errors import MeasurementError
    from npubench.pipeline.measure import measure

    with pytest.raises(MeasurementError) as info:
        measure(str(tflite_models["gather_head"]), "qemu-cortex-m4", repeat=1, warmup=0)
    message = str(info.value)
    assert "cgen does not support operator GATHER" in message and "layer" in message
    # Ethos-U boards run GATHER on their Cortex-M55: that is where the missing kernel matters.
    assert "hx-we2" in message and "fall back to the CPU" in message
