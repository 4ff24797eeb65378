"""Unit tests of the host protocol codec (npubench.measure.protocol)."""

from __future__ import annotations

import pytest

from npubench.measure import protocol as p


def test_crc32_standard_check_value() -> None:
    assert p.crc32(b"123456789") == 0xCBF43926


def test_encode_matches_the_documented_example() -> None:
    # Same line and checksum the C unit test expects from npb_line_finish().
    assert p.encode("ACK", id=1) == b"NPB1 ACK id=1 *f9cca1d3\n"


def test_roundtrip_keeps_fields_in_order() -> None:
    line = p.encode("REP", i=3, init=10, inference=4294967295, data=b"\x00\xff", post=-5)
    msg = p.decode(line)
    assert msg.type == "REP"
    assert list(msg.fields) == ["i", "init", "inference", "data", "post"]
    assert msg.int("inference") == 4294967295
    assert msg.fields["data"] == "00ff"
    assert msg.int("post") == -5


def test_every_single_byte_corruption_is_rejected() -> None:
    line = p.encode("OUT", off=32, data=bytes(range(32))).rstrip(b"\n")
    crc_digits = range(len(line) - 8, len(line))
    for pos in range(len(line)):
        for flip in (0x01, 0x20, 0x80):
            bad = bytearray(line)
            bad[pos] ^= flip
            if pos in crc_digits and bytes(bad[pos : pos + 1]).lower() == line[pos : pos + 1]:
                continue  # the checksum's hex digits are case-insensitive: same value
            with pytest.raises(p.LineError):
                p.decode(bytes(bad))


def test_decode_names_the_reason() -> None:
    with pytest.raises(p.LineError) as e:
        p.decode(b"HELLO board=x *00000000")
    assert e.value.reason == "magic"
    with pytest.raises(p.LineError) as e:
        p.decode(b"NPB1 PING")
    assert e.value.reason == "checksum"
    body = b"NPB1 T novalue"
    with pytest.raises(p.LineError) as e:
        p.decode(body + b" *%08x" % p.crc32(body))
    assert e.value.reason == "syntax"


def test_encode_refuses_values_that_would_break_the_line() -> None:
    for bad in ("a b", "x*y", "k=v", ""):
        with pytest.raises(ValueError):
            p.encode("T", v=bad)
    with pytest.raises(ValueError):
        p.encode("OUT", data=bytes(200))


def test_splitter_cuts_noise_and_overlong_lines() -> None:
    good = p.encode("PING")
    s = p.LineSplitter()
    assert s.feed(b"\x00\xffboot banner " + good[:5]) == []
    lines = s.feed(good[5:] + b"x" * 600 + b"\n" + good)
    assert [p.decode(x).type for x in lines] == ["PING", "PING"]
    assert s.dropped_lines == 1
    assert s.noise_bytes >= 600 + len(b"\x00\xffboot banner")


def test_splitter_resyncs_on_magic_inside_a_line() -> None:
    s = p.LineSplitter()
    (line,) = s.feed(b"#$%" + p.encode("ACK", id=7))
    assert p.decode(line).int("id") == 7
    assert s.noise_bytes == 3


def test_prng_is_xorshift32_top_byte() -> None:
    # Marsaglia's example: state 2463534242 steps to 723471715.
    assert p.prng_bytes(2463534242, 1) == bytes([723471715 >> 24])
    assert p.prng_bytes(0, 16) == p.prng_bytes(p.PRNG_ZERO_SEED, 16)
    assert p.prng_bytes(1, 16) != p.prng_bytes(2, 16)
    x = p.prng_bytes(42, 4096)
    # roughly uniform bytes: every value appears
    assert len(set(x)) == 256


def test_board_info_roundtrip() -> None:
    info = p.BoardInfo(
        board="sim",
        fw="0.1.0",
        proto=1,
        model_hash="0123456789abcdef",
        model_name="m",
        input_bytes=10,
        output_bytes=3,
        clock_hz=25_000_000,
        tick_hz=25_000_000,
        cycle_accurate=False,
        max_repeat=256,
    )
    msg = p.decode(p.encode("HELLO", **info.hello_fields()))
    assert p.BoardInfo.from_hello(msg) == info
