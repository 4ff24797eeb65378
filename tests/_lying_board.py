"""A board that lies, on a real pseudo-terminal: protocol 1 with chosen fields replaced.

``LyingBoard`` answers PING, RUN (ACK, NEED/IN for host input, INPUT, REP, OUT, DONE) and GET
like the C harness, with a checksum that is always right, and ``Lie`` says what it lies
about: HELLO fields (``tick_hz=0``, ``out=10**9``...), one repetition's fields (a negative
tick count), DONE's fields, a REP replayed forever, NEEDs sent forever. Used by the runner's
unit tests and the hostile-input suites (in-process and through the console script).
"""

from __future__ import annotations

import os
import select
import threading
import time
import tty
from dataclasses import dataclass, field

from npubench import STAGES
from npubench.measure import protocol as p

TICK_HZ = 25_000_000


@dataclass
class Lie:
    hello: dict[str, object] = field(default_factory=dict)  # HELLO fields replaced
    rep: dict[int, dict[str, object]] = field(default_factory=dict)  # REP i fields replaced
    done: dict[str, object] = field(default_factory=dict)  # DONE fields replaced
    out: dict[str, object] = field(default_factory=dict)  # every OUT's fields replaced
    replay_rep_forever: int | None = None  # after REP i, send it again and again
    need_forever: bool = False  # ask for the first input chunk again and again
    need_in_seed_run: bool = False  # ask for input the host does not send (input=seed:)
    stop_after_rep: int | None = None  # send nothing after this REP (with replay: replay it)


class LyingBoard(threading.Thread):
    """The board side of protocol 1 over the master end of a pty, lying as told."""

    def __init__(
        self,
        fd: int,
        lie: Lie,
        model_hash: str = "0123456789abcdef",
        input_bytes: int = 64,
        output_bytes: int = 40,
    ) -> None:
        super().__init__(daemon=True)
        self.fd = fd
        self.lie = lie
        self.stop = threading.Event()
        self.splitter = p.LineSplitter()
        self.pending: list[bytes] = []
        self.lines_sent = 0
        self.last: dict[str, object] | None = None
        self.info = p.BoardInfo(
            board="liar",
            fw="0.1.0",
            proto=1,
            model_hash=model_hash,
            model_name="liar",
            input_bytes=input_bytes,
            output_bytes=output_bytes,
            clock_hz=TICK_HZ,
            tick_hz=TICK_HZ,
            cycle_accurate=False,
            max_repeat=64,
        )

    def write(self, data: bytes) -> None:
        while data and not self.stop.is_set():
            try:
                n = os.write(self.fd, data)
            except BlockingIOError:
                time.sleep(0.001)
                continue
            except OSError:
                return
            data = data[n:]

    def send(self, type_: str, **fields: object) -> None:
        self.lines_sent += 1
        body = " ".join(["NPB1", type_, *(f"{k}={v}" for k, v in fields.items())]).encode()
        self.write(body + b" *%08x\n" % p.crc32(body))

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
                    time.sleep(0.01)
                    continue
                self.pending.extend(self.splitter.feed(data))
        return self.pending.pop(0)

    def hello(self) -> None:
        self.send("HELLO", **{**self.info.hello_fields(), **self.lie.hello})

    def run(self) -> None:
        self.hello()
        while not self.stop.is_set():
            raw = self.read_line(0.1)
            if not raw:
                continue
            try:
                msg = p.decode(raw)
            except p.LineError:
                self.send("ERR", code="bad-line")
                continue
            if msg.type == "PING":
                self.hello()
            elif msg.type == "RUN":
                self.do_run(msg)
            elif msg.type == "GET":
                self.do_get(msg)

    def output(self) -> bytes:
        return bytes((7 * i) & 0xFF for i in range(self.info.output_bytes))

    def rep_fields(self, i: int) -> dict[str, object]:
        ticks = {s: 1000 * (k + 1) + i for k, s in enumerate(STAGES)}
        fields = {"i": i, **ticks, "ocrc": f"{p.crc32(self.output()):08x}", "post": 1}
        return {**fields, **self.lie.rep.get(i, {})}

    def do_run(self, msg: p.Message) -> None:
        run_id = msg.int("id")
        self.send("ACK", id=run_id)
        spec = msg.get("input") or ""
        if spec == "host" or self.lie.need_in_seed_run:
            data = bytearray(self.info.input_bytes)
            for off in range(0, self.info.input_bytes, p.IN_CHUNK):
                n = min(p.IN_CHUNK, self.info.input_bytes - off)
                while True:
                    self.send("NEED", off=off, len=n)
                    raw = self.read_line(0.5)
                    if self.stop.is_set():
                        return
                    if self.lie.need_forever:
                        continue
                    try:
                        m = p.decode(raw) if raw else None
                    except p.LineError:
                        m = None
                    if m and m.type == "IN" and m.int("off") == off:
                        data[off : off + n] = bytes.fromhex(m.get("data") or "")
                        break
        else:
            data = bytearray(p.prng_bytes(int(spec.split(":")[1]), self.info.input_bytes))
        self.send("INPUT", len=len(data), crc=f"{p.crc32(bytes(data)):08x}")
        repeat = msg.int("repeat")
        for i in range(repeat):
            self.send("REP", **self.rep_fields(i))
            if self.lie.replay_rep_forever == i:
                while not self.stop.is_set():
                    self.send("REP", **self.rep_fields(i))
                    time.sleep(0.01)
                return
            if self.lie.stop_after_rep == i:
                return
        out = self.output()
        for off in range(0, len(out), p.OUT_CHUNK):
            self.send(
                "OUT", **{"off": off, "data": out[off : off + p.OUT_CHUNK].hex(), **self.lie.out}
            )
        self.last = {"id": run_id, "n": repeat}
        self.send_done()

    def send_done(self) -> None:
        assert self.last is not None
        out = self.output()
        fields = {
            "id": self.last["id"],
            "n": self.last["n"],
            "olen": len(out),
            "ocrc": f"{p.crc32(out):08x}",
        }
        self.send("DONE", **{**fields, **self.lie.done})

    def do_get(self, msg: p.Message) -> None:
        if self.last is None:
            self.send("ERR", code="no-run")
        elif "rep" in msg.fields:
            self.send("REP", **self.rep_fields(msg.int("rep")))
        elif "out" in msg.fields:
            off = msg.int("out")
            out = self.output()
            self.send("OUT", off=off, data=out[off : off + p.OUT_CHUNK].hex())
        else:
            self.send_done()


class LyingRig:
    """A lying board on a pty: ``port`` is the slave's path; ``close()`` stops it."""

    def __init__(self, lie: Lie, **board: object) -> None:
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.set_blocking(self.master, False)
        self.board = LyingBoard(self.master, lie, **board)  # type: ignore[arg-type]
        self.board.start()
        self.port = os.ttyname(self.slave)

    def close(self) -> None:
        self.board.stop.set()
        self.board.join(timeout=2)
        os.close(self.master)
        os.close(self.slave)

    def __enter__(self) -> LyingRig:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# The lies of docs/protocol.md, "Limits": name -> (Lie, what the error must say).
LIES: dict[str, tuple[Lie, str]] = {
    "tick_hz=0": (Lie(hello={"tick_hz": 0}), "tick_hz=0"),
    "out=10^9": (Lie(hello={"out": 10**9}), "out=1000000000"),
    "in=10^9": (Lie(hello={"in": 10**9}), "in=1000000000"),
    "negative ticks": (Lie(rep={2: {"inference": -5}}), "inference=-5"),
    "ticks beyond 32 bits": (Lie(rep={1: {"init": 2**40}}), "init=1099511627776"),
    "rep index beyond max_repeat": (Lie(rep={1: {"i": 10**6}}), "i=1000000"),
    "DONE olen=10^9": (Lie(done={"olen": 10**9}), "olen=1000000000"),
    "DONE n > repeat": (Lie(done={"n": 99}), "n=99"),
    "OUT off beyond output": (Lie(out={"off": 10**6}), "off=1000000"),
    "REP replayed forever": (Lie(replay_rep_forever=1), "repetitions received"),
    "NEED in a seed run": (Lie(need_in_seed_run=True), "this run's input is seed:1"),
}
