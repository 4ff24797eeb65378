"""The host runner against boards that lie (tests/_lying_board.py), over a real pty.

Every number a board sends is checked against the protocol's limits (docs/protocol.md,
"Limits"): each lie ends in a named ``BoardLinkError`` within a bounded time, carrying every
repetition received before it, which a measurement stores as ``incomplete``.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from _lying_board import LIES, Lie, LyingRig
from npubench.measure import protocol as p
from npubench.measure import runner as r

pytestmark = pytest.mark.timeout(60)

FAST = r.Timeouts(hello_s=0.3, hello_tries=2, ack_s=0.3, ack_tries=3, line_s=0.6, get_s=0.2,
                  get_tries=2)  # fmt: skip

# How many repetitions each lie lets through before it is caught (None: caught at HELLO).
KEPT = {
    "tick_hz=0": None,
    "out=10^9": None,
    "in=10^9": None,
    "negative ticks": [0, 1],
    "ticks beyond 32 bits": [0],
    "rep index beyond max_repeat": [0],
    "DONE olen=10^9": [0, 1, 2, 3],
    "DONE n > repeat": [0, 1, 2, 3],
    "OUT off beyond output": [0, 1, 2, 3],
    "REP replayed forever": [0, 1],
    "NEED in a seed run": [],
}


@pytest.mark.parametrize("case", sorted(LIES))
def test_every_lie_is_named_bounded_and_keeps_the_repetitions(case: str) -> None:
    lie, says = LIES[case]
    with LyingRig(lie) as rig:
        t0 = time.monotonic()
        with pytest.raises(r.BoardLinkError) as info:
            r.measure(rig.port, warmup=0, repeat=4, seed=1, timeouts=FAST)
        elapsed = time.monotonic() - t0
    assert elapsed < 5 * FAST.line_s + 2, f"{case} took {elapsed:.1f} s"
    assert says in info.value.message, info.value.message
    assert info.value.hint
    kept = KEPT[case]
    if kept is None:
        assert isinstance(info.value, r.ProtocolViolationError)
        assert "announced" in info.value.message
    else:
        assert info.value.partial is not None and sorted(info.value.partial.reps) == kept
        assert not info.value.partial.complete


def test_a_replayed_line_does_not_extend_the_wait_and_the_overall_deadline_holds() -> None:
    # Silence is long enough never to trigger: only the overall deadline can end the run.
    patient = r.Timeouts(hello_s=0.3, ack_s=0.3, line_s=30.0, get_s=0.2, run_s=1.0)
    with LyingRig(Lie(replay_rep_forever=0)) as rig:
        t0 = time.monotonic()
        with pytest.raises(r.RunTimeoutError, match="overall deadline") as info:
            r.measure(rig.port, warmup=0, repeat=3, seed=1, timeouts=patient)
        assert time.monotonic() - t0 < 3.0
    assert info.value.partial is not None and sorted(info.value.partial.reps) == [0]


def test_the_default_overall_deadline_follows_the_run_size() -> None:
    t = r.Timeouts()
    info = p.BoardInfo("b", "f", 1, "ab", "m", 1024, 128, 0, 1000, False, 64)
    small, large = t.run_budget_s(info, 10, False), t.run_budget_s(info, 60, True)
    assert 60 < small < 300 and large > small
    assert r.Timeouts(run_s=7.0).run_budget_s(info, 10, False) == 7.0


def test_a_board_asking_for_input_forever_is_stopped() -> None:
    with (
        LyingRig(Lie(need_forever=True)) as rig,
        pytest.raises(r.ProtocolViolationError, match="NEED lines") as info,
    ):
        r.measure(rig.port, warmup=0, repeat=2, input_data=bytes(64), timeouts=FAST)
    assert info.value.partial is not None and info.value.partial.reps == {}


def test_the_liar_telling_the_truth_completes_a_run() -> None:
    with LyingRig(Lie()) as rig, r.BoardSession(rig.port, timeouts=FAST) as s:
        s.handshake()
        seeded = s.run(0, 2, seed=3)
        hosted = s.run(0, 2, input_data=bytes(range(64)))
    assert seeded.complete and hosted.complete and sorted(hosted.reps) == [0, 1]


def test_strict_numbers_in_lines() -> None:
    msg = p.decode(p.encode("REP", i="1_0", init="0x10", ocrc="zz"))
    with pytest.raises(p.LineError):
        msg.int("i")
    with pytest.raises(p.LineError):
        msg.int("init")
    with pytest.raises(p.LineError):
        msg.hex32("ocrc")
    ok = p.decode(p.encode("REP", i=3, init=-5))
    with pytest.raises(p.LimitError, match=r"init=-5 \(outside the protocol's limits 0\.\."):
        ok.bounded("init", 0, p.U32_MAX)
    assert p.printable("a\x1b[31mb") == "a?[31mb"


def test_a_lie_after_some_repetitions_is_stored_as_incomplete(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from npubench.measure import transport
    from npubench.measure.result import MeasureContext, assemble_result
    from npubench.store import ResultStore

    monkeypatch.setattr(r, "Timeouts", lambda: FAST)
    with LyingRig(Lie(rep={2: {"inference": -5}}), model_hash="00112233aabbccdd") as rig:
        done = transport.run_on_port(rig.port, 115200, "00112233aabbccdd" + "0" * 48, 0, 4, 1)
    assert done.fault is not None and isinstance(done.fault, r.ProtocolViolationError)
    ctx = MeasureContext(
        model="liar", target="hx-we2", model_sha256="00", input_shape=(1, 64), emulated=False
    )
    result = assemble_result(done.run, ctx, reference=None, fault=done.fault)
    assert result.status == "incomplete" and "2 of 4 repetitions" in result.message
    with ResultStore(tmp_path / "r.sqlite") as store:
        store.add(result)
        [stored] = store.query()
    assert stored.result.status == "incomplete"
    assert stored.result.samples is not None and stored.result.samples.repetitions == 2
