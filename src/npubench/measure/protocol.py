"""Host side of the npubench serial protocol, version 1 (see docs/protocol.md).

Pure codec, no I/O: line encoding and decoding with the per-line CRC-32, a byte-stream line
splitter that survives noise, the input PRNG the board also implements (xorshift32), and the
parsed HELLO announcement. The C side is ``measure/harness/npb_protocol.c``.

May import: the standard library and ``npubench`` (``STAGES``) only.
"""

from __future__ import annotations

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


class LineError(ValueError):
    """A received line is not a valid protocol line; ``reason`` is magic, checksum or syntax."""

    def __init__(self, reason: str, line: bytes) -> None:
        super().__init__(f"{reason}: {line[:60]!r}")
        self.reason = reason
        self.line = line


def crc32(data: bytes) -> int:
    """CRC-32/ISO-HDLC, the checksum of every line and of inputs and outputs."""
    return zlib.crc32(data) & 0xFFFFFFFF


@dataclass(frozen=True)
class Message:
    """One decoded line: its type (``HELLO``, ``REP``...) and its key=value fields in order."""

    type: str
    fields: dict[str, str] = field(default_factory=dict)

    def int(self, key: str) -> int:
        """A decimal field; raises LineError(syntax) if absent or not a number."""
        try:
            return int(self.fields[key], 10)
        except (KeyError, ValueError) as e:
            raise LineError("syntax", f"{self.type} {key}".encode()) from e

    def hex32(self, key: str) -> int:
        try:
            return int(self.fields[key], 16)
        except (KeyError, ValueError) as e:
            raise LineError("syntax", f"{self.type} {key}".encode()) from e

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
        if msg.type != "HELLO":
            raise LineError("syntax", msg.type.encode())
        return cls(
            board=msg.get("board", "?") or "?",
            fw=msg.get("fw", "?") or "?",
            proto=msg.int("proto"),
            model_hash=(msg.get("model", "") or "").lower(),
            model_name=msg.get("name", "?") or "?",
            input_bytes=msg.int("in"),
            output_bytes=msg.int("out"),
            clock_hz=msg.int("clock_hz"),
            tick_hz=msg.int("tick_hz"),
            cycle_accurate=msg.int("cycle_accurate") == 1,
            max_repeat=msg.int("max_repeat"),
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


def rep_ticks(msg: Message) -> dict[str, int]:
    """The per-stage tick counts of a REP line, keyed by stage name in execution order."""
    return {stage: msg.int(stage) for stage in STAGES}
