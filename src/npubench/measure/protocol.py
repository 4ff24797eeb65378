"""Host side of the npubench serial protocol, version 1 (see docs/protocol.md).

Pure codec, no I/O: line encoding and decoding with the per-line CRC-32, a byte-stream line
splitter that survives noise, the input PRNG the board also implements (xorshift32), and the
parsed HELLO announcement. The C side is ``measure/harness/npb_protocol.c``.

A line with a good checksum is still not trusted: every number is parsed strictly (decimal
digits, at most ``MAX_DIGITS``; hex32 as 1-8 hex digits) and checked against the protocol's
limits below (docs/protocol.md, "Limits"). A malformed number is a ``LineError`` with reason
``syntax``; a well-formed one outside its limits raises ``LimitError`` (reason ``range``), which
the runner treats as a board breaking the protocol, not as line noise.

May import: the standard library and ``npubench`` (``STAGES``) only.
"""

from __future__ import annotations

import builtins
import re
import zlib
from dataclasses import dataclass, field

from npubench import STAGES

MAGIC = b"NPB1"
PROTO_VERSION = 1
LINE_MAX = 240
"""Longest valid line in bytes, without its newline (``NPB_LINE_MAX`` in the C harness)."""
IN_CHUNK = 64
"""Input bytes the board asks for per NEED line (``NPB_IN_CHUNK``)."""
OUT_CHUNK = 32
"""Output bytes per OUT line (``NPB_OUT_CHUNK``)."""
PRNG_ZERO_SEED = 0x6E706231
"""xorshift32 has 0 as a fixed point: seed 0 is replaced by this ("npb1")."""

_FORBIDDEN_IN_VALUES = frozenset(" *=\r\n")

# --- limits of protocol 1 (docs/protocol.md, "Limits") --------------------------------------
MAX_DIGITS = 20
"""A decimal field has at most this many digits (a 64-bit number)."""
MAX_TENSOR_BYTES = 1 << 22
"""Largest input or output a board may announce in HELLO (4 MiB: more than any MCU's SRAM)."""
MAX_REPEAT = 65_535
"""Largest ``max_repeat`` a HELLO may announce."""
MAX_WARMUP = 100_000
"""Largest ``warmup`` of a RUN (``NPB_MAX_WARMUP``)."""
TICK_HZ_MIN = 1_000
"""Slowest stage timer (1 kHz, a HAL millisecond tick); 0 would make every time infinite."""
U32_MAX = 2**32 - 1
"""Largest ``tick_hz``, ``clock_hz`` and per-stage tick count (32-bit on the board)."""
RUN_ID_MAX = 2**31 - 1
POST_MIN, POST_MAX = -(2**31), 2**31 - 1
"""Range of a REP's ``post`` (a signed 32-bit postprocess result)."""
IN_RETRIES = 5
"""NEEDs the board sends at most per input chunk (``NPB_IN_RETRIES``)."""

_DECIMAL = re.compile(rf"[+-]?[0-9]{{1,{MAX_DIGITS}}}")
_HEX32 = re.compile(r"[0-9A-Fa-f]{1,8}")


class LineError(ValueError):
    """A received line is not a valid protocol line; ``reason`` is magic, checksum or syntax."""

    def __init__(self, reason: str, line: bytes) -> None:
        super().__init__(f"{reason}: {line[:60]!r}")
        self.reason = reason
        self.line = line


class LimitError(LineError):
    """A well-formed number outside the protocol's limits (reason ``range``): the board lies."""

    def __init__(self, type_: str, key: str, value: int, low: int, high: int) -> None:
        super().__init__("range", f"{type_} {key}={value}".encode())
        self.type = type_
        self.key = key
        self.value = value
        self.low = low
        self.high = high

    def __str__(self) -> str:
        return (
            f"{self.type} {self.key}={self.value} (outside the protocol's limits "
            f"{self.low}..{self.high})"
        )


def crc32(data: bytes) -> int:
    """CRC-32/ISO-HDLC, the checksum of every line and of inputs and outputs."""
    return zlib.crc32(data) & 0xFFFFFFFF


@dataclass(frozen=True)
class Message:
    """One decoded line: its type (``HELLO``, ``REP``...) and its key=value fields in order."""

    type: str
    fields: dict[str, str] = field(default_factory=dict)

    def int(self, key: str) -> int:
        """A decimal field; raises LineError(syntax) if absent or not a decimal number.

        Strict: an optional sign and 1 to ``MAX_DIGITS`` digits, nothing else (Python's
        ``int()`` would also take ``1_000`` or `` 7``).
        """
        text = self.fields.get(key)
        if text is None or not _DECIMAL.fullmatch(text):
            raise LineError("syntax", f"{self.type} {key}".encode())
        return int(text, 10)

    def bounded(self, key: str, low: builtins.int, high: builtins.int) -> builtins.int:
        """A decimal field within ``low..high``; ``LimitError`` outside, ``LineError`` if bad."""
        value = self.int(key)
        if not low <= value <= high:
            raise LimitError(self.type, key, value, low, high)
        return value

    def hex32(self, key: str) -> builtins.int:
        """A hex32 field (1-8 hex digits); raises LineError(syntax) otherwise."""
        text = self.fields.get(key)
        if text is None or not _HEX32.fullmatch(text):
            raise LineError("syntax", f"{self.type} {key}".encode())
        return int(text, 16)

    def get(self, key: str, default: str | None = None) -> str | None:
        return self.fields.get(key, default)


def encode(type_: str, **fields: object) -> bytes:
    """``NPB1 <TYPE> k=v ... *<crc32>\\n``; values are str/int/bytes (bytes become hex)."""
    parts = [MAGIC.decode(), type_]
    for key, value in fields.items():
        text = value.hex() if isinstance(value, bytes | bytearray) else str(value)
        if not text or _FORBIDDEN_IN_VALUES & set(text) or not text.isascii():
            raise ValueError(f"field {key}={text!r} cannot be sent: empty, non-ASCII or separator")
        parts.append(f"{key}={text}")
    body = " ".join(parts).encode("ascii")
    line = body + b" *%08x\n" % crc32(body)
    if len(line) - 1 > LINE_MAX:
        raise ValueError(f"line of {len(line) - 1} bytes exceeds LINE_MAX={LINE_MAX}")
    return line


def decode(line: bytes) -> Message:
    """Checks magic and checksum of one line (without or with its newline) and parses it."""
    line = line.rstrip(b"\r\n")
    if not line.startswith(MAGIC + b" "):
        raise LineError("magic", line)
    if len(line) < len(MAGIC) + 11 or line[-10:-8] != b" *":
        raise LineError("checksum", line)
    body, tail = line[:-10], line[-8:]
    try:
        want = int(tail, 16)
    except ValueError as e:
        raise LineError("checksum", line) from e
    if crc32(body) != want:
        raise LineError("checksum", line)
    try:
        tokens = body.decode("ascii").split(" ")
    except UnicodeDecodeError as e:
        raise LineError("syntax", line) from e
    type_ = tokens[1] if len(tokens) > 1 else ""
    fields: dict[str, str] = {}
    for token in tokens[2:]:
        if not token:
            continue
        key, sep, value = token.partition("=")
        if not sep or not key:
            raise LineError("syntax", line)
        fields[key] = value
    if not type_:
        raise LineError("syntax", line)
    return Message(type_, fields)


class LineSplitter:
    """Cuts a byte stream into candidate lines and drops what cannot be one.

    Bytes before the last ``NPB1 `` of a line are noise (e.g. a board's boot banner or a
    corrupted start) and are cut off; overlong lines are dropped whole. Both are counted so
    the runner can tell a wrong baud rate (only noise) from a few bad lines.
    """

    def __init__(self) -> None:
        self._buf = bytearray()
        self._discarding = False
        self.noise_bytes = 0
        self.dropped_lines = 0

    def feed(self, data: bytes) -> list[bytes]:
        lines: list[bytes] = []
        for byte in data:
            if byte == 0x0A:
                if self._discarding:
                    self._discarding = False
                    self.dropped_lines += 1
                else:
                    lines.append(self._take())
                self._buf.clear()
                continue
            if self._discarding:
                self.noise_bytes += 1
                continue
            self._buf.append(byte)
            if len(self._buf) > LINE_MAX + 1:  # +1 for a possible '\r'
                self.noise_bytes += len(self._buf)
                self._buf.clear()
                self._discarding = True
        return lines

    def _take(self) -> bytes:
        raw = bytes(self._buf).rstrip(b"\r")
        start = raw.rfind(MAGIC + b" ")
        if start > 0:
            self.noise_bytes += start
            raw = raw[start:]
        elif start < 0:
            self.noise_bytes += len(raw)
        return raw


def prng_bytes(seed: int, n: int) -> bytes:
    """The board's ``input=seed:<seed>`` input: xorshift32 (13, 17, 5), top byte per step."""
    x = (seed & 0xFFFFFFFF) or PRNG_ZERO_SEED
    out = bytearray(n)
    for i in range(n):
        x ^= (x << 13) & 0xFFFFFFFF
        x ^= x >> 17
        x ^= (x << 5) & 0xFFFFFFFF
        out[i] = x >> 24
    return bytes(out)


@dataclass(frozen=True)
class BoardInfo:
    """What a board announces in its HELLO line."""

    board: str
    fw: str
    proto: int
    model_hash: str
    model_name: str
    input_bytes: int
    output_bytes: int
    clock_hz: int
    tick_hz: int
    cycle_accurate: bool
    max_repeat: int

    @classmethod
    def from_hello(cls, msg: Message) -> BoardInfo:
        """The announcement, every number checked against the limits (``LimitError``)."""
        if msg.type != "HELLO":
            raise LineError("syntax", msg.type.encode())
        return cls(
            board=printable(msg.get("board", "?") or "?"),
            fw=printable(msg.get("fw", "?") or "?"),
            proto=msg.bounded("proto", 0, U32_MAX),
            model_hash=printable(msg.get("model", "") or "").lower(),
            model_name=printable(msg.get("name", "?") or "?"),
            input_bytes=msg.bounded("in", 1, MAX_TENSOR_BYTES),
            output_bytes=msg.bounded("out", 1, MAX_TENSOR_BYTES),
            clock_hz=msg.bounded("clock_hz", 0, U32_MAX),
            tick_hz=msg.bounded("tick_hz", TICK_HZ_MIN, U32_MAX),
            cycle_accurate=msg.bounded("cycle_accurate", 0, 1) == 1,
            max_repeat=msg.bounded("max_repeat", 1, MAX_REPEAT),
        )

    def hello_fields(self) -> dict[str, object]:
        """The HELLO fields in wire order (used by simulated boards)."""
        return {
            "board": self.board,
            "fw": self.fw,
            "proto": self.proto,
            "model": self.model_hash,
            "name": self.model_name,
            "in": self.input_bytes,
            "out": self.output_bytes,
            "clock_hz": self.clock_hz,
            "tick_hz": self.tick_hz,
            "cycle_accurate": int(self.cycle_accurate),
            "max_repeat": self.max_repeat,
        }


def printable(text: str, limit: int = 64) -> str:
    """A board-sent name made safe to print: control characters become ``?``, at most
    ``limit`` characters (a terminal escape sequence in a board name must not reach a tty)."""
    return "".join(c if c.isprintable() else "?" for c in text[:limit])


def rep_ticks(msg: Message) -> dict[str, int]:
    """The per-stage tick counts of a REP line, keyed by stage name in execution order.

    Each is a 32-bit wrapping difference: 0..2^32-1 (``LimitError`` outside).
    """
    return {stage: msg.bounded(stage, 0, U32_MAX) for stage in STAGES}
