"""End to end on emulated boards: build the harness for QEMU Cortex-M4 (mps2-an386) and
Cortex-M55 (mps3-an547), boot it with its UART on a pty, and measure it with the same host
runner as a real board. Outputs are checked bit for bit against the numpy reference.

QEMU timings are emulator wall time, not cycles: the checks on them are sanity bounds only.
Needs arm-none-eabi-gcc, newlib and qemu-system-arm (skipped, with the reason, without them).
"""

from __future__ import annotations

import random
import time

import pytest

from _markers import needs_qemu
from npubench import STAGES
from npubench.measure import protocol as p
from npubench.measure import qemu, runner
from npubench.measure.model_stub import dense_model_hash, dense_postprocess, dense_reference

pytestmark = [
    pytest.mark.integration,
    needs_qemu,
]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("NPUBENCH_CACHE_DIR", str(tmp_path / "cache"))


@pytest.mark.parametrize(
    ("board", "name", "clock_hz"),
    [
        ("qemu-cortex-m4", "qemu-mps2-an386", 25_000_000),
        ("qemu-cortex-m55", "qemu-mps3-an547", 32_000_000),
    ],
)
def test_measure_on_qemu(board: str, name: str, clock_hz: int) -> None:
    elf = qemu.build_firmware(board)
    assert qemu.build_firmware(board) == elf  # second call comes from the cache
    emu = qemu.QemuBoard(board, elf)
    emu.start()
    proc = emu.proc
    try:
        with runner.BoardSession(emu.port) as s:
            info = s.handshake(dense_model_hash())
            t0 = time.monotonic()
            seeded = s.run(3, 12, seed=2024)
            wall_us = (time.monotonic() - t0) * 1e6
            data = bytes(random.Random(11).randrange(256) for _ in range(info.input_bytes))
            sent = s.run(1, 4, input_data=data)
    finally:
        emu.stop()
    # QEMU is gone, not left running.
    assert proc is not None and proc.poll() is not None

    assert info.board == name and info.clock_hz == clock_hz and info.tick_hz == clock_hz
    assert info.cycle_accurate is False and seeded.metadata()["cycle_accurate"] is False

    assert seeded.complete and sent.complete
    assert seeded.stats.bad_lines == 0 and seeded.stats.resend_requests == 0
    want = dense_reference(p.prng_bytes(2024, 1024))
    assert seeded.output == want
    assert {r.post for r in seeded.reps.values()} == {dense_postprocess(want)}
    assert sent.output == dense_reference(data)

    # Sanity bounds only (emulator time): every stage was timed, the inference loop of
    # 131k MACs dominates the copies, and the timed stages fit inside the run's wall time.
    for rep in seeded.reps.values():
        assert all(rep.ticks[s] > 0 for s in STAGES)
        assert rep.ticks["inference"] > 10 * rep.ticks["input_io"]
    timed_us = sum(sum(seeded.stage_us(s)) for s in STAGES)
    assert 0 < timed_us < wall_us


def test_model_mismatch_on_qemu_names_the_fix() -> None:
    elf = qemu.build_firmware("qemu-cortex-m4")
    with (
        qemu.QemuBoard("qemu-cortex-m4", elf) as emu,
        pytest.raises(runner.ModelMismatchError) as e,
    ):
        runner.measure(emu.port, repeat=1, expected_model_hash="ab" * 32)
    assert dense_model_hash() in e.value.message and "abababab" in e.value.message
    assert "flash" in (e.value.hint or "")


def test_unknown_emulated_board_suggests_names() -> None:
    with pytest.raises(qemu.EmulatorError) as e:
        qemu.build_firmware("qemu-cortex-m5")
    assert "qemu-cortex-m55" in (e.value.hint or "") or "qemu-cortex-m4" in (e.value.hint or "")


def test_systick_wraps_do_not_corrupt_stage_times() -> None:
    # SysTick is 24-bit: at 25 MHz it wraps every 0.67 s, so a ~2 s run crosses several wraps,
    # most of them inside a timed stage. A missed wrap turns a stage into ~2^32 ticks (171 s),
    # a doubly counted one adds 2^24 ticks (0.67 s); emulator noise, even on a loaded host,
    # stays well below that.
    elf = qemu.build_firmware("qemu-cortex-m4")
    results: list[runner.RunResult] = []
    with qemu.QemuBoard("qemu-cortex-m4", elf) as emu, runner.BoardSession(emu.port) as s:
        t0 = time.monotonic()
        # Run until at least two wraps happened, however fast the host is.
        while time.monotonic() - t0 < 2.5 * (1 << 24) / 25e6 and len(results) < 10:
            results.append(s.run(0, 250, seed=len(results)))
        wall = time.monotonic() - t0
    assert all(res.complete for res in results)
    assert wall > 2 * (1 << 24) / 25e6
    worst = max(max(res.stage_us(st)) for res in results for st in STAGES)
    assert worst < 600_000, f"a stage took {worst:.0f} us: SysTick wrap mishandled"
    assert sum(sum(res.stage_us(st)) for res in results for st in STAGES) < wall * 1e6
