"""Host runner: drives a board (or an emulated one) running the npubench C harness.

Opens a serial port with pyserial, handshakes (HELLO: board, firmware, protocol, model
hash), sends a RUN, feeds the input when the board asks for it, collects one REP line of
per-stage ticks per repetition and the output, and re-requests what got lost. Link faults
are named: no port, a silent board, a wrong baud rate (only noise), a model hash mismatch,
a board that resets mid-run, a board that stops talking. Every fault raises a
``MeasurementError`` subclass carrying the repetitions collected so far in ``partial``,
marked ``complete=False``. See docs/protocol.md for the wire format and retry rules.

The board is not trusted: every number it sends is checked against the protocol's limits
(``npubench.measure.protocol``; a ``tick_hz`` of 0, an output of 10^9 bytes, a negative tick
count, a repetition index beyond the run are refused with ``ProtocolViolationError``, carrying
the repetitions received so far). Only lines that make progress (a new repetition, a new output
chunk, the first ACK/INPUT, DONE) extend the silence deadline, and one overall deadline per run
(``Timeouts.run_s``, by default computed from the run's size) bounds everything, so a board
repeating lines forever cannot keep the host waiting.

May import: ``npubench``, ``npubench.errors``, ``npubench.measure.protocol``, pyserial.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from npubench import STAGES
from npubench.errors import MeasurementError
from npubench.measure import protocol as proto
from npubench.measure.protocol import BoardInfo, LineError, Message

DEFAULT_BAUD = 115200


# --------------------------------------------------------------------------- errors


class BoardLinkError(MeasurementError):
    """A fault on the host-board link; ``partial`` holds what was collected before it."""

    def __init__(
        self, message: str, hint: str | None = None, partial: RunResult | None = None
    ) -> None:
        super().__init__(message, hint)
        self.partial = partial


class NoBoardError(BoardLinkError):
    """The serial port does not exist or cannot be opened."""


class BoardSilentError(BoardLinkError):
    """The port opened but nothing at all came back."""


class WrongBaudError(BoardLinkError):
    """Bytes arrived but not one valid protocol line: almost always a baud-rate mismatch."""


class ProtocolMismatchError(BoardLinkError):
    """The board speaks another protocol version or breaks the protocol."""


class ProtocolViolationError(ProtocolMismatchError):
    """The board sent a value outside the protocol's limits, or broke its rules (it lies)."""


class ModelMismatchError(BoardLinkError):
    """The firmware on the board was built for another model."""


class BoardResetError(BoardLinkError):
    """The board announced itself again (HELLO) in the middle of a run: it reset."""


class RunTimeoutError(BoardLinkError):
    """The board stopped answering during a run."""


class BoardReportedError(BoardLinkError):
    """The board answered with an ERR line (bad argument, model failure...)."""

    def __init__(
        self, code: str, message: str, hint: str | None = None, partial: RunResult | None = None
    ) -> None:
        super().__init__(message, hint, partial)
        self.code = code


class IncompleteRunError(BoardLinkError):
    """Some repetitions or output bytes could not be recovered (only with require_complete)."""


# --------------------------------------------------------------------------- results


@dataclass
class LinkStats:
    """What the link cost: bad lines skipped, noise, and how often the host had to ask again."""

    bytes_received: int = 0
    valid_lines: int = 0
    bad_lines: int = 0
    noise_bytes: int = 0
    resend_requests: int = 0
    command_retries: int = 0
    board_line_errors: int = 0
    """ERR code=bad-line answers: the board received a corrupted host line."""


@dataclass
class Repetition:
    """One timed repetition: ticks per stage as counted by the board, and its output digest."""

    index: int
    ticks: dict[str, int]
    out_crc: int
    post: int

    def us(self, tick_hz: int) -> dict[str, float]:
        return {s: self.ticks[s] * 1e6 / tick_hz for s in STAGES}


@dataclass
class RunResult:
    """Everything one RUN produced. ``complete`` is True only if nothing is missing."""

    port: str
    board: BoardInfo
    run_id: int
    warmup: int
    repeat: int
    input_spec: str
    input: bytes
    reps: dict[int, Repetition] = field(default_factory=dict)
    output: bytes | None = None
    output_crc: int | None = None
    done: bool = False
    complete: bool = False
    stats: LinkStats = field(default_factory=LinkStats)
    wall_s: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def missing(self) -> list[int]:
        return [i for i in range(self.repeat) if i not in self.reps]

    @property
    def cycle_accurate(self) -> bool:
        return self.board.cycle_accurate

    def stage_us(self, stage: str) -> list[float]:
        """The stage's time in microseconds for every received repetition, in order."""
        hz = self.board.tick_hz
        return [self.reps[i].ticks[stage] * 1e6 / hz for i in sorted(self.reps)]

    def median_us(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for stage in STAGES:
            values = sorted(self.stage_us(stage))
            if values:
                mid = len(values) // 2
                even = len(values) % 2 == 0
                out[stage] = (values[mid - 1] + values[mid]) / 2 if even else values[mid]
        return out

    def metadata(self) -> dict[str, Any]:
        """JSON-ready provenance of the run; emulator timings say cycle_accurate=False."""
        return {
            "port": self.port,
            "board": asdict(self.board),
            "cycle_accurate": self.board.cycle_accurate,
            "tick_hz": self.board.tick_hz,
            "run_id": self.run_id,
            "warmup": self.warmup,
            "repeat": self.repeat,
            "input": self.input_spec,
            "input_crc32": f"{proto.crc32(self.input):08x}",
            "output_crc32": None if self.output_crc is None else f"{self.output_crc:08x}",
            "complete": self.complete,
            "missing": self.missing,
            "problems": list(self.problems),
            "link": asdict(self.stats),
            "wall_s": round(self.wall_s, 3),
        }


# --------------------------------------------------------------------------- transport


class SerialLike(Protocol):
    """The part of ``serial.Serial`` the runner uses (tests may pass another transport)."""

    @property
    def in_waiting(self) -> int: ...
    def read(self, size: int = 1) -> bytes: ...
    def write(self, data: bytes) -> int | None: ...
    def close(self) -> None: ...
    def reset_input_buffer(self) -> None: ...


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait and times to try; defaults suit a 115200-baud UART."""

    hello_s: float = 1.0
    hello_tries: int = 3
    ack_s: float = 1.0
    ack_tries: int = 3
    line_s: float = 5.0
    """Longest silence tolerated during a run (raise it for repetitions slower than this)."""
    get_s: float = 0.5
    get_tries: int = 3
    run_s: float | None = None
    """Overall deadline of one run, which no stream of lines extends; None: ``run_budget_s``."""

    def run_budget_s(self, info: BoardInfo, repeat: int, host_input: bool) -> float:
        """The longest a valid run may take: every line it may send arriving just within
        ``line_s`` of the previous one, plus every retry and re-request."""
        if self.run_s is not None:
            return self.run_s
        in_chunks = -(-info.input_bytes // proto.IN_CHUNK) if host_input else 0
        out_chunks = -(-info.output_bytes // proto.OUT_CHUNK)
        lines = 1 + in_chunks * proto.IN_RETRIES + 1 + repeat + out_chunks + 1
        gets = (repeat + out_chunks + 1) * self.get_tries * self.get_s
        return self.ack_s * self.ack_tries + self.line_s * (lines + 2) + gets


def open_serial(port: str, baud: int = DEFAULT_BAUD) -> SerialLike:
    """Opens ``port`` with pyserial (raw 8N1, short read timeout)."""
    import serial  # pyserial: imported here so that the codec stays importable without it

    if not port.startswith(("socket://", "rfc2217://", "loop://")) and not os.path.exists(port):
        raise NoBoardError(
            f"serial port {port} does not exist",
            hint="connect the board, check the port name, or list boards with find_boards()",
        )
    try:
        return serial.serial_for_url(port, baudrate=baud, timeout=0.05, exclusive=True)
    except (serial.SerialException, OSError, ValueError) as e:
        raise NoBoardError(
            f"cannot open serial port {port}: {e}",
            hint="check that no other program (a terminal, another npubench) holds the port "
            "and that you may access it (on Linux: the 'dialout' group)",
        ) from e


class _Link:
    """Line-level access to a transport: sends encoded lines, yields valid messages."""

    def __init__(self, transport: SerialLike, stats: LinkStats) -> None:
        self.transport = transport
        self.stats = stats
        self.splitter = proto.LineSplitter()
        self.pending: list[bytes] = []

    def send(self, type_: str, **fields: object) -> None:
        self.transport.write(proto.encode(type_, **fields))

    def next_message(self, deadline: float) -> Message | None:
        """The next valid message before ``deadline`` (monotonic), else None; bad ones counted."""
        while True:
            while self.pending:
                raw = self.pending.pop(0)
                if not raw:
                    continue
                try:
                    msg = proto.decode(raw)
                except LineError:
                    self.stats.bad_lines += 1
                    continue
                self.stats.valid_lines += 1
                return msg
            if time.monotonic() >= deadline:
                return None
            # read(1) returns as soon as a byte arrives (or after the 50 ms port timeout);
            # a bigger read would wait for the whole size and slow every exchange down.
            data = self.transport.read(1)
            if data:
                waiting = self.transport.in_waiting
                if waiting:
                    data += self.transport.read(waiting)
                self.stats.bytes_received += len(data)
                self.pending.extend(self.splitter.feed(data))
                self.stats.noise_bytes = self.splitter.noise_bytes


# --------------------------------------------------------------------------- session


@dataclass
class _RunState:
    """Bookkeeping of one run that is not part of its result."""

    olen: int
    deadline: float = float("inf")  # monotonic: the run's overall deadline
    budget_s: float = 0.0
    out_chunks: dict[int, bytes] = field(default_factory=dict)
    needs: int = 0
    max_needs: int = 0
    input_staged: bool = False

    def until(self, t: float) -> float:
        """``t`` capped by the overall deadline."""
        return min(t, self.deadline)


_run_ids = itertools.count(int(time.time()) % 1_000_000 * 100 + os.getpid() % 100)


class BoardSession:
    """One open connection to one board running the harness.

    Use as a context manager: ``with BoardSession(port) as s: s.handshake(); s.run(...)``.
    """

    def __init__(
        self,
        port: str,
        baud: int = DEFAULT_BAUD,
        *,
        timeouts: Timeouts | None = None,
        transport_factory: Callable[[str, int], SerialLike] = open_serial,
    ) -> None:
        self.port = port
        self.baud = baud
        self.timeouts = timeouts or Timeouts()
        self._factory = transport_factory
        self._transport: SerialLike | None = None
        self.stats = LinkStats()
        self._link: _Link | None = None
        self.info: BoardInfo | None = None

    def __enter__(self) -> BoardSession:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def open(self) -> None:
        self._transport = self._factory(self.port, self.baud)
        self._link = _Link(self._transport, self.stats)

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
            self._link = None

    @property
    def link(self) -> _Link:
        if self._link is None:
            raise RuntimeError("BoardSession is not open: use it as a context manager")
        return self._link

    # ----------------------------------------------------------------- handshake

    def handshake(self, expected_model_hash: str | None = None) -> BoardInfo:
        """PINGs until a HELLO arrives; checks protocol version and (if given) the model hash."""
        t = self.timeouts
        hello: Message | None = None
        for attempt in range(t.hello_tries):
            if attempt:
                self.stats.command_retries += 1
            self.link.send("PING")
            deadline = time.monotonic() + t.hello_s
            while (msg := self.link.next_message(deadline)) is not None:
                if msg.type == "HELLO":
                    hello = msg
                    break
            if hello is not None:
                break
        if hello is None:
            self._raise_no_hello()
        assert hello is not None  # _raise_no_hello always raises
        try:
            info = BoardInfo.from_hello(hello)
        except proto.LimitError as e:
            raise ProtocolViolationError(
                f"the board on {self.port} announced {e}",
                hint="the firmware is not a working npubench harness (or the link garbles "
                "it): rebuild and flash the harness from this npubench version",
            ) from e
        except LineError as e:
            raise ProtocolMismatchError(
                f"the board on {self.port} sent a HELLO without the fields of protocol "
                f"{proto.PROTO_VERSION}: {e}",
                hint="flash a firmware built from this npubench version's harness",
            ) from e
        if info.proto != proto.PROTO_VERSION:
            raise ProtocolMismatchError(
                f"the board on {self.port} speaks protocol {info.proto}, this host speaks "
                f"{proto.PROTO_VERSION}",
                hint="rebuild and flash the harness firmware from this npubench version",
            )
        if expected_model_hash:
            check_model_hash(info, expected_model_hash, self.port)
        self.info = info
        return info

    def _raise_no_hello(self) -> None:
        s, t = self.stats, self.timeouts
        tried = f"{t.hello_tries} PINGs over {t.hello_tries * t.hello_s:.1f} s"
        if s.bytes_received == 0:
            raise BoardSilentError(
                f"no answer from {self.port} ({tried}): the port is silent",
                hint="check that the board is powered, flashed with the npubench harness, and "
                "that this is its UART (not the debugger's port); press reset and retry",
            )
        if s.valid_lines == 0:
            raise WrongBaudError(
                f"{self.port} sent {s.bytes_received} bytes but not one valid protocol line "
                f"({s.bad_lines} bad lines, {s.noise_bytes} noise bytes) at {self.baud} baud",
                hint=f"check the baud rate: the runner used {self.baud}, the harness default is "
                f"{DEFAULT_BAUD}; also check the UART wiring (TX/RX, ground)",
            )
        raise ProtocolMismatchError(
            f"{self.port} sends valid lines but never a HELLO ({tried})",
            hint="the firmware may be stuck in a run: reset the board and retry",
        )

    # ----------------------------------------------------------------- run

    def run(
        self,
        warmup: int,
        repeat: int,
        *,
        seed: int | None = None,
        input_data: bytes | None = None,
        require_complete: bool = False,
    ) -> RunResult:
        """Runs ``warmup`` untimed and ``repeat`` timed repetitions; returns every timing.

        The input is either ``input_data`` (sent over the link) or the board's PRNG with
        ``seed`` (default 0). Lost REP/OUT/DONE lines are asked for again after DONE; what
        stays missing leaves the result with ``complete=False`` (or raises
        IncompleteRunError with ``require_complete``).
        """
        info = self.info or self.handshake()
        if not 0 <= warmup <= proto.MAX_WARMUP:
            raise BoardLinkError(
                f"warmup={warmup} is outside 0..{proto.MAX_WARMUP}",
                hint=f"use at most {proto.MAX_WARMUP} warm-up runs",
            )
        if repeat < 1 or repeat > info.max_repeat:
            raise BoardLinkError(
                f"repeat={repeat} is outside 1..{info.max_repeat} for {info.board}",
                hint=f"use at most {info.max_repeat} repetitions, or rebuild the firmware with a "
                "larger NPB_MAX_REPEAT",
            )
        if input_data is not None:
            if len(input_data) != info.input_bytes:
                raise BoardLinkError(
                    f"the input has {len(input_data)} bytes but model {info.model_name} on "
                    f"{info.board} takes {info.input_bytes}",
                    hint="pass one input tensor of the model's size, as raw int8 bytes",
                )
            spec, data = "host", bytes(input_data)
        else:
            seed = 0 if seed is None else seed
            if not 0 <= seed < 2**32:
                raise BoardLinkError(f"seed {seed} is not a 32-bit unsigned integer", hint=None)
            spec, data = f"seed:{seed}", proto.prng_bytes(seed, info.input_bytes)

        result = RunResult(
            port=self.port,
            board=info,
            run_id=next(_run_ids) % 2**31,
            warmup=warmup,
            repeat=repeat,
            input_spec=spec,
            input=data,
        )
        # Link statistics per run, not per session.
        self.stats = result.stats
        self.link.stats = result.stats
        self.link.splitter.noise_bytes = 0
        state = _RunState(olen=info.output_bytes)
        in_chunks = -(-info.input_bytes // proto.IN_CHUNK)
        state.max_needs = in_chunks * proto.IN_RETRIES if spec == "host" else 0
        t0 = time.monotonic()
        state.budget_s = self.timeouts.run_budget_s(info, repeat, spec == "host")
        state.deadline = t0 + state.budget_s
        try:
            self._run_stream(result, state)
            self._fill_gaps(result, state)
        finally:
            result.wall_s = time.monotonic() - t0
        result.complete = (
            result.done and not result.missing and result.output is not None and not result.problems
        )
        if require_complete and not result.complete:
            raise IncompleteRunError(
                f"run on {self.port} incomplete: missing repetitions {result.missing}"
                + ("" if result.output is not None else ", output lost")
                + (f"; {'; '.join(result.problems)}" if result.problems else ""),
                hint="check the cable and baud rate; lower the baud rate if lines keep "
                "arriving corrupted",
                partial=result,
            )
        return result

    def _command(self, result: RunResult) -> None:
        self.link.send(
            "RUN",
            id=result.run_id,
            warmup=result.warmup,
            repeat=result.repeat,
            input=result.input_spec,
        )

    def _overall_timeout(self, result: RunResult, state: _RunState) -> RunTimeoutError:
        return RunTimeoutError(
            f"the run on {self.port} passed its overall deadline of {state.budget_s:.1f} s "
            f"({len(result.reps)}/{result.repeat} repetitions received)",
            hint="the board kept sending lines without finishing the run (or repetitions are "
            "slower than Timeouts allow): reset it and retry, or raise Timeouts.run_s",
            partial=result,
        )

    def _run_stream(self, result: RunResult, state: _RunState) -> None:
        """Sends RUN and consumes the board's lines until DONE (or a fault).

        Only progress (the first ACK/INPUT, a NEED, a new REP or OUT chunk, DONE) extends the
        silence deadline; nothing extends ``state.deadline``.
        """
        t = self.timeouts
        accepted = False
        asked_done = False
        self._command(result)
        sends = 1
        deadline = time.monotonic() + t.ack_s
        while not result.done:
            msg = self.link.next_message(state.until(deadline))
            if msg is None:
                if time.monotonic() >= state.deadline:
                    raise self._overall_timeout(result, state)
                if not accepted:
                    if sends >= t.ack_tries:
                        raise RunTimeoutError(
                            f"the board on {self.port} did not acknowledge RUN after {sends} tries",
                            hint="reset the board and retry; check the link with find_boards()",
                            partial=result,
                        )
                    # Safe to repeat: the board runs a given RUN id only once.
                    self.stats.command_retries += 1
                    self._command(result)
                    sends += 1
                    deadline = time.monotonic() + t.ack_s
                    continue
                if not asked_done:
                    # Maybe only DONE was lost: an idle board answers GET done at once.
                    asked_done = True
                    self.stats.resend_requests += 1
                    self.link.send("GET", done=1)
                    deadline = time.monotonic() + t.line_s
                    continue
                raise RunTimeoutError(
                    f"the board on {self.port} sent nothing new for {t.line_s:.1f} s during the "
                    f"run ({len(result.reps)}/{result.repeat} repetitions received)",
                    hint="if one repetition takes longer than that, raise Timeouts.line_s; "
                    "otherwise the board hung or lost power (or repeats old lines): reset it "
                    "and retry",
                    partial=result,
                )
            if msg.type == "HELLO" and not accepted:
                continue  # a late answer to the handshake's PING (or the boot banner)
            if msg.type == "HELLO":
                raise BoardResetError(
                    f"the board on {self.port} reset during the run (a new HELLO after "
                    f"{len(result.reps)}/{result.repeat} repetitions)",
                    hint="check the power supply and the watchdog; a brown-out or a fault "
                    "handler that resets is likely. Collected repetitions are kept in .partial",
                    partial=result,
                )
            if msg.type == "ERR":
                self._handle_err(msg, result)
                if not accepted:
                    deadline = time.monotonic()  # our RUN arrived corrupted: send it again now
                continue
            if msg.type == "ACK" and msg.get("id") != str(result.run_id):
                continue  # the late answer to an earlier run's re-sent RUN
            if msg.type not in ("ACK", "NEED", "INPUT", "REP", "OUT", "DONE"):
                continue
            progressed = self._handle_data(msg, result, state)
            if msg.type == "ACK":
                progressed = not accepted
            if progressed or not accepted:
                accepted = True
                deadline = time.monotonic() + t.line_s
        self._assemble_output(result, state)

    def _handle_err(self, msg: Message, result: RunResult) -> None:
        code = msg.get("code", "?") or "?"
        if code == "bad-line":
            # The board received one of our lines corrupted; the retry logic re-sends it.
            self.stats.board_line_errors += 1
            return
        detail = msg.get("detail", "") or ""
        value = msg.get("value")
        text = f"the board on {self.port} reported {code}" + (f" ({detail})" if detail else "")
        if value is not None:
            text += f" [value={value}]"
        hints = {
            "input-timeout": "the board did not receive valid IN lines: check the host->board "
            "wire (RX) and the baud rate",
            "too-many-reps": "ask for fewer repetitions or rebuild with a larger NPB_MAX_REPEAT",
            "buffer-too-small": "rebuild the firmware with larger NPB_MAX_INPUT_BYTES / "
            "NPB_MAX_OUTPUT_BYTES",
        }
        hint = hints.get(
            code,
            "a model-* code means the model port's callback failed on the board: check its "
            "build and memory (arena size)"
            if code.startswith("model-")
            else "see docs/protocol.md for the error codes",
        )
        raise BoardReportedError(code, text, hint=hint, partial=result)

    def _violation(self, result: RunResult, what: str) -> ProtocolViolationError:
        return ProtocolViolationError(
            f"the board on {self.port} broke the protocol: {what} "
            f"({len(result.reps)}/{result.repeat} repetitions received, kept)",
            hint="the firmware and the host disagree on the protocol, or the firmware is "
            "broken: rebuild and flash the harness from this npubench version",
            partial=result,
        )

    def _handle_data(self, msg: Message, result: RunResult, state: _RunState) -> bool:
        """Acts on one data line; True if it was progress (something new)."""
        try:
            if msg.type == "NEED":
                if result.input_spec != "host":
                    raise self._violation(
                        result,
                        f"it asked for input bytes, but this run's input is {result.input_spec}",
                    )
                off = msg.bounded("off", 0, len(result.input) - 1)
                n = msg.bounded("len", 1, min(proto.IN_CHUNK, len(result.input) - off))
                state.needs += 1
                if state.needs > state.max_needs:
                    raise self._violation(
                        result,
                        f"{state.needs} NEED lines for an input of {len(result.input)} bytes "
                        f"(at most {state.max_needs}: {proto.IN_RETRIES} per chunk)",
                    )
                self.link.send("IN", off=off, data=result.input[off : off + n])
                return True
            if msg.type == "INPUT":
                got = msg.hex32("crc")
                want = proto.crc32(result.input)
                size = msg.bounded("len", 0, proto.MAX_TENSOR_BYTES)
                if got != want or size != len(result.input):
                    raise ProtocolMismatchError(
                        f"the board staged a different input (crc {got:08x}, host expects "
                        f"{want:08x}, {size} of {len(result.input)} bytes, {result.input_spec})",
                        hint="the board's PRNG or input transfer disagrees with the host: "
                        "rebuild the firmware from this npubench version",
                        partial=result,
                    )
                first = not state.input_staged
                state.input_staged = True
                return first
            if msg.type == "REP":
                return self._store_rep(msg, result)
            if msg.type == "OUT":
                return self._store_out(msg, result, state)
            if msg.type == "DONE":
                if msg.bounded("id", 0, proto.RUN_ID_MAX) != result.run_id:
                    # A DONE of an earlier run (e.g. answer to a stale GET): not ours.
                    return False
                n = msg.bounded("n", 0, result.repeat)
                olen = msg.bounded("olen", 0, proto.MAX_TENSOR_BYTES)
                if olen != result.board.output_bytes:
                    raise self._violation(
                        result,
                        f"DONE olen={olen}, but its HELLO announced "
                        f"out={result.board.output_bytes}",
                    )
                result.output_crc = msg.hex32("ocrc")
                state.olen = olen
                result.done = True
                if n < result.repeat:
                    result.problems.append(f"the board reports {n} of {result.repeat} repetitions")
                return True
        except proto.LimitError as e:
            raise self._violation(result, str(e)) from e
        except (LineError, ValueError):
            # A line with a good checksum but bad content: count it as a bad line.
            self.stats.bad_lines += 1
        return False

    def _store_rep(self, msg: Message, result: RunResult) -> bool:
        """Keeps a new repetition; True if it was new. Raises for values beyond the limits."""
        try:
            # Any index below the board's max_repeat is possible (a late line of an earlier,
            # longer run); one beyond it is not.
            i = msg.bounded("i", 0, result.board.max_repeat - 1)
            ticks = proto.rep_ticks(msg)
            out_crc = msg.hex32("ocrc")
            post = (
                msg.bounded("post", proto.POST_MIN, proto.POST_MAX) if "post" in msg.fields else 0
            )
        except proto.LimitError as e:
            raise self._violation(result, str(e)) from e
        if i >= result.repeat or i in result.reps:
            return False  # a line of an earlier run, or a repeat of one received: no progress
        result.reps[i] = Repetition(index=i, ticks=ticks, out_crc=out_crc, post=post)
        return True

    def _store_out(self, msg: Message, result: RunResult, state: _RunState) -> bool:
        olen = result.board.output_bytes
        try:
            off = msg.bounded("off", 0, olen - 1)
        except proto.LimitError as e:
            raise self._violation(result, str(e)) from e
        if off % proto.OUT_CHUNK:
            raise self._violation(result, f"OUT off={off} is not a multiple of {proto.OUT_CHUNK}")
        text = msg.get("data", "") or ""
        want = min(proto.OUT_CHUNK, olen - off)
        if len(text) != 2 * want:
            raise self._violation(
                result, f"OUT off={off} carries {len(text) // 2} bytes, expected {want}"
            )
        data = bytes.fromhex(text)  # ValueError: not hex, a bad line
        if state.out_chunks.get(off) == data:
            return False
        state.out_chunks[off] = data
        return True

    def _assemble_output(self, result: RunResult, state: _RunState) -> None:
        olen = state.olen
        buf = bytearray(olen)
        for off in range(0, olen, proto.OUT_CHUNK):
            chunk = state.out_chunks.get(off)
            if chunk is None or len(chunk) != min(proto.OUT_CHUNK, olen - off):
                return
            buf[off : off + len(chunk)] = chunk
        if result.output_crc is not None and proto.crc32(bytes(buf)) == result.output_crc:
            result.output = bytes(buf)

    def _get(
        self,
        result: RunResult,
        state: _RunState,
        want: Callable[[Message], bool],
        **fields: object,
    ) -> bool:
        """Sends GET with retries until a message satisfying ``want`` arrives."""
        t = self.timeouts
        for _ in range(t.get_tries):
            if time.monotonic() >= state.deadline:
                return False
            self.stats.resend_requests += 1
            self.link.send("GET", **fields)
            deadline = state.until(time.monotonic() + t.get_s)
            while (msg := self.link.next_message(deadline)) is not None:
                if msg.type == "HELLO":
                    raise BoardResetError(
                        f"the board on {self.port} reset while lost lines were re-requested",
                        hint="check the power supply; the collected repetitions are in .partial",
                        partial=result,
                    )
                if want(msg):
                    return True
        return False

    def _fill_gaps(self, result: RunResult, state: _RunState) -> None:
        """After DONE: GET every missing repetition and output chunk, a few times each, until
        the run's overall deadline (what is still missing then is reported lost)."""
        if not result.done:
            return
        gave_up = False
        for i in result.missing:
            if time.monotonic() >= state.deadline:
                gave_up = True
                result.problems.append(f"repetition {i} lost")
                continue

            def is_rep(m: Message, i: int = i) -> bool:
                if m.type == "REP" and m.get("i") == str(i):
                    self._store_rep(m, result)
                    return True
                return False

            if not self._get(result, state, is_rep, rep=i):
                result.problems.append(f"repetition {i} lost")
        if result.output is None:
            chunks = state.out_chunks
            for off in range(0, state.olen, proto.OUT_CHUNK):
                if len(chunks.get(off, b"")) == min(proto.OUT_CHUNK, state.olen - off):
                    continue
                if time.monotonic() >= state.deadline:
                    gave_up = True
                    break

                def is_out(m: Message, off: int = off) -> bool:
                    if m.type == "OUT" and m.get("off") == str(off):
                        try:
                            self._store_out(m, result, state)
                        except ValueError:
                            return False
                        return True
                    return False

                self._get(result, state, is_out, out=off)
            self._assemble_output(result, state)
            if result.output is None:
                result.problems.append("output lost or its CRC does not match DONE")
        if gave_up:
            result.problems.append(
                f"stopped re-requesting lost lines at the run's overall deadline "
                f"({state.budget_s:.1f} s)"
            )
        # A repetition's output digest differing from the final output means the model is
        # not deterministic or memory got corrupted: worth flagging, not hiding.
        if result.output_crc is not None:
            odd = [r.index for r in result.reps.values() if r.out_crc != result.output_crc]
            if odd:
                result.problems.append(f"repetitions {odd} produced a different output")


# --------------------------------------------------------------------------- helpers


def check_model_hash(info: BoardInfo, expected: str, port: str) -> None:
    """Raises ModelMismatchError unless the board's model hash is a prefix of ``expected``."""
    exp = expected.lower()
    got = info.model_hash.lower()
    n = min(len(got), len(exp))
    if n == 0 or got[:n] != exp[:n]:
        raise ModelMismatchError(
            f"the firmware on {port} ({info.board}) runs model {got or '?'} "
            f"({info.model_name}), but this benchmark's model is {exp[: max(n, 16)]}",
            hint="rebuild the harness firmware for this model and flash it to the board, or "
            "benchmark the model the firmware was built for",
        )


def list_serial_ports() -> list[str]:
    """Serial ports the OS knows about (USB CDC, FTDI, on-board UARTs)."""
    from serial.tools import list_ports

    return sorted(p.device for p in list_ports.comports())


@dataclass(frozen=True)
class FoundBoard:
    port: str
    info: BoardInfo


def find_boards(
    ports: Iterable[str] | None = None,
    baud: int = DEFAULT_BAUD,
    *,
    timeouts: Timeouts | None = None,
    transport_factory: Callable[[str, int], SerialLike] = open_serial,
) -> list[FoundBoard]:
    """Probes each port with PING and returns those answering with a valid HELLO."""
    t = timeouts or Timeouts(hello_s=0.5, hello_tries=2)
    found: list[FoundBoard] = []
    for port in list_serial_ports() if ports is None else ports:
        try:
            with BoardSession(port, baud, timeouts=t, transport_factory=transport_factory) as s:
                found.append(FoundBoard(port, s.handshake()))
        except MeasurementError:
            continue
    return found


def measure(
    port: str,
    *,
    warmup: int = 3,
    repeat: int = 10,
    seed: int | None = None,
    input_data: bytes | None = None,
    expected_model_hash: str | None = None,
    baud: int = DEFAULT_BAUD,
    timeouts: Timeouts | None = None,
    require_complete: bool = False,
) -> RunResult:
    """Opens ``port``, handshakes, runs, closes: the one-call form of BoardSession."""
    with BoardSession(port, baud, timeouts=timeouts) as session:
        session.handshake(expected_model_hash)
        return session.run(
            warmup, repeat, seed=seed, input_data=input_data, require_complete=require_complete
        )
