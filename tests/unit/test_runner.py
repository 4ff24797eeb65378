"""Host runner against a simulated board on a real pseudo-terminal, with fault injection.

The simulated board is a Python thread implementing the board side of protocol 1 exactly as
the C harness does (HELLO at boot, PING, RUN with id dedup, NEED/IN with retries, INPUT,
REP, OUT, DONE, GET, ERR bad-line), computing the real output of the built-in dense
workload. Faults: noise bytes, corrupted checksums, dropped lines, a reset mid-run, a wrong
model hash, silence, a wrong baud rate (random bytes only), a model error, a hang, corrupted
host lines. The same runner is run against the real C harness in
tests/integration/test_harness_c.py and test_qemu.py.
"""

from __future__ import annotations

import os
import random
import select
import threading
import time
import tty
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from npubench import STAGES
from npubench.measure import protocol as p
from npubench.measure import runner as r
from npubench.measure.model_stub import dense_model_hash, dense_postprocess, dense_reference

FAST = r.Timeouts(hello_s=0.3, hello_tries=2, ack_s=0.3, ack_tries=3, line_s=0.6, get_s=0.3,
                  get_tries=3)  # fmt: skip
TICK_HZ = 25_000_000


def rep_ticks(i: int) -> dict[str, int]:
    """Distinct, index-dependent tick counts so that mixed-up repetitions would show."""
    return {s: 1000 * (k + 1) + i for k, s in enumerate(STAGES)}


@dataclass
class Faults:
    noise_every: int = 0  # noise bytes before every n-th line
    corrupt_once: set[str] = field(default_factory=set)  # keys like "REP2", "OUT32", "DONE"
    drop_once: set[str] = field(default_factory=set)
    drop_always: set[str] = field(default_factory=set)
    reset_after_rep: int | None = None
    hang_after_rep: int | None = None
    err_at_rep: int | None = None
    silent: bool = False
    wrong_baud: bool = False
    model_hash: str | None = None
    host_line_bad_once: set[str] = field(default_factory=set)  # "RUN", "IN" seen as corrupted
    rep_delay_s: float = 0.0
    after_ack_delay_s: float = 0.0  # a slow board: the host re-sends RUN meanwhile


class SimBoard(threading.Thread):
    """The board side of the protocol over the master end of a pty."""

    def __init__(self, fd: int, faults: Faults | None = None) -> None:
        super().__init__(daemon=True)
        self.fd = fd
        self.f = faults or Faults()
        self.stop = threading.Event()
        self.splitter = p.LineSplitter()
        self.pending: list[bytes] = []
        self.rng = random.Random(1234)
        self.nlines = 0
        self.runs_executed = 0
        self.needs_sent = 0
        self.received_input: bytes | None = None
        self.last: dict | None = None
        self.info = p.BoardInfo(
            board="sim-board",
            fw="0.1.0",
            proto=1,
            model_hash=self.f.model_hash or dense_model_hash(),
            model_name="npb-dense-v1",
            input_bytes=1024,
            output_bytes=128,
            clock_hz=TICK_HZ,
            tick_hz=TICK_HZ,
            cycle_accurate=False,
            max_repeat=64,
        )

    # ---- wire
    def write_raw(self, data: bytes) -> None:
        while data and not self.stop.is_set():
            try:
                n = os.write(self.fd, data)
            except BlockingIOError:
                time.sleep(0.001)
                continue
            except OSError:
                return
            data = data[n:]

    def send(self, key: str, type_: str, **fields: object) -> None:
        self.nlines += 1
        if self.f.noise_every and self.nlines % self.f.noise_every == 0:
            self.write_raw(bytes(self.rng.randrange(256) for _ in range(9)).replace(b"\n", b"."))
        if key in self.f.drop_always:
            return
        if key in self.f.drop_once:
            self.f.drop_once.discard(key)
            return
        line = p.encode(type_, **fields)
        if key in self.f.corrupt_once:
            self.f.corrupt_once.discard(key)
            b = bytearray(line)
            b[len(b) // 2] ^= 0x04
            line = bytes(b)
        self.write_raw(line)

    def read_line(self, timeout: float) -> bytes | None:
        deadline = time.monotonic() + timeout
        while not self.pending:
            left = deadline - time.monotonic()
            if left <= 0 or self.stop.is_set():
                return None
            ready, _, _ = select.select([self.fd], [], [], min(left, 0.05))
            if ready:
                try:
                    data = os.read(self.fd, 4096)
                except OSError:
                    time.sleep(0.01)  # nobody holds the slave open right now
                    continue
                self.pending.extend(self.splitter.feed(data))
        return self.pending.pop(0)

    def hello(self) -> None:
        self.send("HELLO", "HELLO", **self.info.hello_fields())

    # ---- board behaviour
    def run(self) -> None:
        if not (self.f.silent or self.f.wrong_baud):
            self.hello()
        while not self.stop.is_set():
            raw = self.read_line(0.1)
            if raw is None or not raw:
                continue
            if self.f.silent:
                continue
            if self.f.wrong_baud:
                self.write_raw(bytes(self.rng.randrange(256) for _ in range(len(raw))))
                continue
            try:
                msg = p.decode(raw)
            except p.LineError as e:
                self.send("ERR", "ERR", code="bad-line", detail=e.reason)
                continue
            if msg.type in self.f.host_line_bad_once:
                self.f.host_line_bad_once.discard(msg.type)
                self.send("ERR", "ERR", code="bad-line", detail="checksum")
                continue
            if msg.type == "PING":
                self.hello()
            elif msg.type == "RUN":
                self.do_run(msg)
            elif msg.type == "GET":
                self.do_get(msg)
            else:
                self.send("ERR", "ERR", code="unknown-type", detail=msg.type)

    def do_run(self, msg: p.Message) -> None:
        run_id = msg.int("id")
        if self.last and self.last["id"] == run_id:
            self.send("ACK", "ACK", id=run_id, dup=1)
            self.send_done()
            return
        self.last = None
        self.send("ACK", "ACK", id=run_id)
        time.sleep(self.f.after_ack_delay_s)
        spec = msg.get("input") or ""
        if spec == "host":
            data = self.receive_input()
            if data is None:
                return
        else:
            data = p.prng_bytes(int(spec.split(":")[1]), 1024)
        self.received_input = data
        self.send("INPUT", "INPUT", len=len(data), crc=f"{p.crc32(data):08x}")
        out = dense_reference(data)
        self.runs_executed += 1
        reps = []
        for i in range(msg.int("repeat")):
            if self.f.rep_delay_s:
                time.sleep(self.f.rep_delay_s)
            if self.f.err_at_rep == i:
                self.send("ERR", "ERR", code="model-invoke", detail="during-repetition", value=i)
                return
            rep = {**rep_ticks(i), "ocrc": f"{p.crc32(out):08x}", "post": dense_postprocess(out)}
            reps.append(rep)
            self.send(f"REP{i}", "REP", i=i, **rep)
            if self.f.reset_after_rep == i:
                time.sleep(0.05)
                self.hello()  # what a rebooted board prints first
                return
            if self.f.hang_after_rep == i:
                self.stop.wait()
                return
        self.last = {"id": run_id, "reps": reps, "out": out}
        for off in range(0, len(out), p.OUT_CHUNK):
            self.send(f"OUT{off}", "OUT", off=off, data=out[off : off + p.OUT_CHUNK])
        self.send_done()

    def receive_input(self) -> bytes | None:
        buf = bytearray(1024)
        for off in range(0, 1024, p.IN_CHUNK):
            for _ in range(5):
                self.needs_sent += 1
                self.send("NEED", "NEED", off=off, len=p.IN_CHUNK)
                while True:
                    raw = self.read_line(0.3)
                    try:
                        m = p.decode(raw) if raw else None
                    except p.LineError:
                        m = None
                    # like the C harness: an IN for an earlier chunk is a stale duplicate
                    if not (m and m.type == "IN" and m.int("off") < off):
                        break
                if m is None:
                    continue
                if m.type in self.f.host_line_bad_once:
                    self.f.host_line_bad_once.discard(m.type)
                    continue
                if m.type == "IN" and m.int("off") == off:
                    buf[off : off + p.IN_CHUNK] = bytes.fromhex(m.get("data") or "")
                    break
            else:
                self.send("ERR", "ERR", code="input-timeout", detail="no-valid-IN-line", value=off)
                return None
        return bytes(buf)

    def send_done(self) -> None:
        assert self.last is not None
        out = self.last["out"]
        self.send(
            "DONE", "DONE", id=self.last["id"], n=len(self.last["reps"]), olen=len(out),
            ocrc=f"{p.crc32(out):08x}",
        )  # fmt: skip

    def do_get(self, msg: p.Message) -> None:
        if self.last is None:
            self.send("ERR", "ERR", code="no-run")
        elif "rep" in msg.fields:
            i = msg.int("rep")
            self.send(f"REP{i}", "REP", i=i, **self.last["reps"][i])
        elif "out" in msg.fields:
            off = msg.int("out")
            out = self.last["out"]
            self.send(f"OUT{off}", "OUT", off=off, data=out[off : off + p.OUT_CHUNK])
        else:
            self.send_done()


@dataclass
class Rig:
    port: str
    board: SimBoard


@pytest.fixture
def make_rig() -> Iterator:
    made: list[tuple[int, int, SimBoard]] = []

    def make(faults: Faults | None = None) -> Rig:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no newline translation before pyserial opens it
        os.set_blocking(master, False)
        board = SimBoard(master, faults)
        board.start()
        made.append((master, slave, board))
        return Rig(os.ttyname(slave), board)

    yield make
    for master, slave, board in made:
        board.stop.set()
        board.join(timeout=2)
        os.close(master)
        os.close(slave)


def check_timings(result: r.RunResult, indices: list[int]) -> None:
    assert sorted(result.reps) == indices
    for i in indices:
        assert result.reps[i].ticks == rep_ticks(i)
    if indices:
        assert result.stage_us("inference")[0] == pytest.approx(
            rep_ticks(indices[0])["inference"] * 1e6 / TICK_HZ
        )


# --------------------------------------------------------------------------- clean runs


def test_clean_run_with_seed_input(make_rig) -> None:
    rig = make_rig()
    with r.BoardSession(rig.port, timeouts=FAST) as s:
        info = s.handshake(dense_model_hash())
        res = s.run(2, 5, seed=42)
    assert info.board == "sim-board" and not info.cycle_accurate
    assert res.complete and res.done and res.missing == [] and res.problems == []
    check_timings(res, [0, 1, 2, 3, 4])
    assert res.output == dense_reference(p.prng_bytes(42, 1024))
    assert rig.board.received_input == p.prng_bytes(42, 1024)
    md = res.metadata()
    assert md["cycle_accurate"] is False and md["complete"] is True
    assert md["link"]["bad_lines"] == 0
    assert res.median_us()["init"] == pytest.approx(1002 * 1e6 / TICK_HZ)


def test_host_input_is_transferred_in_chunks(make_rig) -> None:
    rig = make_rig()
    data = bytes(random.Random(7).randrange(256) for _ in range(1024))
    res = r.measure(rig.port, warmup=0, repeat=3, input_data=data, timeouts=FAST)
    assert res.complete
    assert rig.board.received_input == data
    assert rig.board.needs_sent == 1024 // p.IN_CHUNK
    assert res.output == dense_reference(data)
    assert res.input_spec == "host"


def test_input_of_the_wrong_size_is_refused_before_running(make_rig) -> None:
    rig = make_rig()
    with r.BoardSession(rig.port, timeouts=FAST) as s:
        s.handshake()
        with pytest.raises(r.BoardLinkError, match="takes 1024"):
            s.run(0, 1, input_data=b"\x00" * 10)
        with pytest.raises(r.BoardLinkError, match=r"outside 1\.\.64"):
            s.run(0, 65)
    assert rig.board.runs_executed == 0


# --------------------------------------------------------------------------- recoverable faults


def test_noise_between_lines_is_skipped(make_rig) -> None:
    rig = make_rig(Faults(noise_every=2))
    res = r.measure(rig.port, warmup=1, repeat=8, seed=3, timeouts=FAST)
    assert res.complete
    check_timings(res, list(range(8)))
    assert res.stats.noise_bytes > 0
    assert res.output == dense_reference(p.prng_bytes(3, 1024))


def test_corrupted_lines_are_counted_and_re_requested(make_rig) -> None:
    rig = make_rig(Faults(corrupt_once={"REP2", "OUT32", "REP4"}))
    res = r.measure(rig.port, warmup=0, repeat=6, seed=9, timeouts=FAST)
    assert res.complete
    check_timings(res, list(range(6)))
    assert res.stats.bad_lines == 3
    assert res.stats.resend_requests == 3  # GET rep=2, GET rep=4, GET out=32
    assert res.output == dense_reference(p.prng_bytes(9, 1024))


def test_dropped_lines_and_a_lost_done_are_recovered(make_rig) -> None:
    rig = make_rig(Faults(drop_once={"REP1", "OUT96", "DONE"}))
    res = r.measure(rig.port, warmup=0, repeat=4, seed=1, timeouts=FAST)
    assert res.complete
    check_timings(res, [0, 1, 2, 3])
    # GET done after the silence, then GET rep=1 and GET out=96
    assert res.stats.resend_requests == 3
    assert res.wall_s >= FAST.line_s  # the lost DONE costs one silence timeout


def test_lost_ack_and_retransmitted_run_do_not_run_twice(make_rig) -> None:
    rig = make_rig(Faults(drop_once={"ACK"}, after_ack_delay_s=0.45))
    with r.BoardSession(rig.port, timeouts=FAST) as s:
        s.handshake()
        first = s.run(0, 2, seed=5)
        second = s.run(0, 2, seed=6)  # stale ACK dup / DONE of run 1 must not confuse run 2
    assert first.complete and second.complete
    assert first.stats.command_retries == 1
    assert rig.board.runs_executed == 2  # the re-sent RUN was answered with "ACK dup=1"
    assert second.output == dense_reference(p.prng_bytes(6, 1024))


def test_corrupted_host_lines_are_sent_again(make_rig) -> None:
    rig = make_rig(Faults(host_line_bad_once={"RUN", "IN"}))
    data = bytes(range(256)) * 4
    res = r.measure(rig.port, warmup=0, repeat=2, input_data=data, timeouts=FAST)
    assert res.complete
    assert res.stats.board_line_errors == 1  # the RUN; a bad IN is handled by a new NEED
    assert rig.board.received_input == data
    assert rig.board.needs_sent == 1024 // p.IN_CHUNK + 1


# --------------------------------------------------------------------------- faults that stop a run


def test_repetition_lost_for_good_marks_the_run_incomplete(make_rig) -> None:
    rig = make_rig(Faults(drop_always={"REP3"}))
    res = r.measure(rig.port, warmup=0, repeat=5, seed=2, timeouts=FAST)
    assert not res.complete
    assert res.missing == [3]
    assert res.problems == ["repetition 3 lost"]
    check_timings(res, [0, 1, 2, 4])
    assert res.metadata()["complete"] is False
    with pytest.raises(r.IncompleteRunError) as e:
        r.measure(rig.port, warmup=0, repeat=5, seed=2, timeouts=FAST, require_complete=True)
    assert e.value.partial is not None and e.value.partial.missing == [3]
    assert "missing repetitions [3]" in e.value.message


def test_reset_mid_run_keeps_the_repetitions_collected(make_rig) -> None:
    rig = make_rig(Faults(reset_after_rep=2))
    with pytest.raises(r.BoardResetError) as e:
        r.measure(rig.port, warmup=0, repeat=6, seed=2, timeouts=FAST)
    part = e.value.partial
    assert part is not None and not part.complete
    check_timings(part, [0, 1, 2])
    assert part.missing == [3, 4, 5]
    assert "reset" in e.value.message and e.value.hint


def test_board_that_hangs_mid_run_times_out_with_partial_results(make_rig) -> None:
    rig = make_rig(Faults(hang_after_rep=1))
    t0 = time.monotonic()
    with pytest.raises(r.RunTimeoutError) as e:
        r.measure(rig.port, warmup=0, repeat=4, seed=2, timeouts=FAST)
    assert time.monotonic() - t0 < 2 * FAST.line_s + 1.0
    assert e.value.partial is not None and sorted(e.value.partial.reps) == [0, 1]
    assert "2/4 repetitions" in e.value.message
    assert "line_s" in (e.value.hint or "")


def test_model_error_on_the_board_is_reported_with_its_code(make_rig) -> None:
    rig = make_rig(Faults(err_at_rep=1))
    with pytest.raises(r.BoardReportedError) as e:
        r.measure(rig.port, warmup=0, repeat=3, seed=2, timeouts=FAST)
    assert e.value.code == "model-invoke"
    assert e.value.partial is not None and sorted(e.value.partial.reps) == [0]
    assert "model" in (e.value.hint or "")


def test_model_hash_mismatch_names_both_hashes_and_the_fix(make_rig) -> None:
    rig = make_rig(Faults(model_hash="deadbeefdeadbeef"))
    expected = dense_model_hash() + "0" * 48
    with pytest.raises(r.ModelMismatchError) as e:
        r.measure(rig.port, repeat=1, expected_model_hash=expected, timeouts=FAST)
    assert "deadbeefdeadbeef" in e.value.message
    assert dense_model_hash() in e.value.message
    assert "rebuild" in (e.value.hint or "") and "flash" in (e.value.hint or "")
    assert rig.board.runs_executed == 0


def test_silent_port_is_reported_as_silent(make_rig) -> None:
    rig = make_rig(Faults(silent=True))
    with pytest.raises(r.BoardSilentError) as e, r.BoardSession(rig.port, timeouts=FAST) as s:
        s.handshake()
    assert "silent" in e.value.message and "powered" in (e.value.hint or "")


def test_wrong_baud_rate_is_recognised_from_garbage(make_rig) -> None:
    rig = make_rig(Faults(wrong_baud=True))
    with pytest.raises(r.WrongBaudError) as e, r.BoardSession(rig.port, timeouts=FAST) as s:
        s.handshake()
    assert "baud" in (e.value.hint or "")
    assert "not one valid protocol line" in e.value.message


def test_missing_port_is_reported(tmp_path) -> None:
    with pytest.raises(r.NoBoardError) as e:
        r.measure(str(tmp_path / "ttyUSB9"), repeat=1, timeouts=FAST)
    assert "does not exist" in e.value.message


def test_find_boards_keeps_only_ports_that_answer(make_rig, tmp_path) -> None:
    good = make_rig()
    silent = make_rig(Faults(silent=True))
    noisy = make_rig(Faults(wrong_baud=True))
    ports = [silent.port, good.port, str(tmp_path / "nope"), noisy.port]
    found = r.find_boards(ports, timeouts=FAST)
    assert [f.port for f in found] == [good.port]
    assert found[0].info.model_hash == dense_model_hash()
