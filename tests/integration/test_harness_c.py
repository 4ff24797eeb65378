"""The C harness itself: its unit tests, warning-free cross builds, and the real C code
talking to the Python runner over a pty (host port: no emulator needed).

Needs gcc and make (and arm-none-eabi-gcc for the cross builds).
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import serial

from npubench.measure import protocol as p
from npubench.measure import qemu, runner
from npubench.measure.model_stub import dense_model_hash, dense_postprocess, dense_reference

pytestmark = pytest.mark.integration

HARNESS = qemu.HARNESS_DIR

needs_gcc = pytest.mark.skipif(
    bool(qemu.missing_tools("host")), reason="gcc/make not installed: apt-get install gcc make"
)
needs_cross = pytest.mark.skipif(
    shutil.which("arm-none-eabi-gcc") is None,
    reason="arm-none-eabi-gcc not installed: apt-get install gcc-arm-none-eabi "
    "libnewlib-arm-none-eabi",
)


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("NPUBENCH_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


@needs_gcc
def test_c_unit_tests_pass(tmp_path) -> None:
    proc = subprocess.run(
        ["make", "-s", "-C", str(HARNESS), f"BUILD={tmp_path}", "test"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    m = re.search(r"(\d+) checks, (\d+) failures", proc.stdout)
    assert m and int(m.group(1)) > 400 and m.group(2) == "0"


@needs_cross
@pytest.mark.parametrize(
    ("target", "arch"),
    [
        ("qemu-cortex-m4", 13),
        ("qemu-cortex-m33", 17),
        ("qemu-cortex-m55", 21),
    ],
)
def test_cross_build_is_warning_free(tmp_path, target, arch) -> None:
    from elftools.elf.elffile import ELFFile

    # The Makefile compiles with -Wall -Wextra -Werror: any warning fails the build.
    proc = subprocess.run(
        ["make", "-C", str(HARNESS), f"BUILD={tmp_path}", target],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "warning" not in proc.stderr.lower()
    elf = tmp_path / target / "npb_fw.elf"
    with open(elf, "rb") as f:
        e = ELFFile(f)
        assert e["e_machine"] == "EM_ARM"
        attrs = e.get_section_by_name(".ARM.attributes")
        assert attrs is not None
        # Tag_CPU_arch (6) then Tag_CPU_arch_profile (7) = 'M': v7E-M is 13, v8-M.main 17,
        # v8.1-M.main 21 (Arm EABI addenda): the build really targeted this core.
        assert bytes([6, arch, 7]) + b"M" in attrs.data()


def test_c_model_hash_matches_the_host_descriptor() -> None:
    src = (HARNESS / "models" / "dense" / "npb_model_dense.c").read_text()
    m = re.search(r'#define DENSE_HASH "([0-9a-f]{16})"', src)
    assert m and m.group(1) == dense_model_hash()


@needs_gcc
def test_real_c_harness_with_the_python_runner(cache) -> None:
    fw = qemu.build_firmware("host")
    with qemu.HostHarness(fw) as board:
        with runner.BoardSession(board.port) as s:
            info = s.handshake(dense_model_hash())
            seeded = s.run(2, 6, seed=123)
            data = bytes(random.Random(5).randrange(256) for _ in range(info.input_bytes))
            sent = s.run(0, 3, input_data=data)
        assert info.board == "host-posix" and info.cycle_accurate is False
        # Python's xorshift32 and CRC agree with C's, or the runner would have raised.
        assert seeded.complete and sent.complete
        x = p.prng_bytes(123, 1024)
        assert seeded.output == dense_reference(x)
        assert all(rep.post == dense_postprocess(seeded.output) for rep in seeded.reps.values())
        assert sent.output == dense_reference(data)
        assert all(rep.ticks["inference"] > 0 for rep in seeded.reps.values())

        # Corrupted and unknown host lines get ERR answers; GET after the run works.
        with serial.serial_for_url(board.port, baudrate=115200, timeout=0.05) as raw:
            raw.write(b"NPB1 PING *00000000\n" + p.encode("GET", rep=1) + p.encode("FOO"))
            msgs = _read_messages(raw, 3)
        assert [m.type for m in msgs] == ["ERR", "REP", "ERR"]
        assert msgs[0].fields["code"] == "bad-line" and msgs[0].fields["detail"] == "checksum"
        assert msgs[1].int("i") == 1 and msgs[1].int("inference") == sent.reps[1].ticks["inference"]
        assert msgs[2].fields["code"] == "unknown-type"


def _read_messages(port: serial.Serial, n: int, timeout: float = 3.0) -> list[p.Message]:
    splitter = p.LineSplitter()
    out: list[p.Message] = []
    deadline = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < deadline:
        for line in splitter.feed(port.read(256)):
            out.append(p.decode(line))
    return out


HAND_WRITTEN_MODEL = r"""
/* A hand-written model port: negates its 16-byte int8 input, custom postprocess. */
#include <stdint.h>
#include "npb_model.h"
const char *npb_model_name(void) { return "negate16"; }
const char *npb_model_hash(void) { return "00112233445566778899aabbccddeeff"; }
uint32_t npb_model_input_bytes(void) { return 16u; }
uint32_t npb_model_output_bytes(void) { return 16u; }
int npb_model_invoke(const int8_t *in, int8_t *out) {
    uint32_t i; for (i = 0; i < 16u; i++) { out[i] = (int8_t)(in[i] == -128 ? 127 : -in[i]); }
    return 0; }
int npb_model_postprocess(const uint8_t *o, uint32_t n, int32_t *r) {
    (void)o; *r = (int32_t)n; return 0; }
"""


@needs_gcc
def test_a_hand_written_model_port_drops_in(cache, tmp_path) -> None:
    model_c = tmp_path / "model.c"
    model_c.write_text(HAND_WRITTEN_MODEL)
    fw = qemu.build_firmware("host", qemu.ModelPort(sources=(model_c,)))
    data = bytes([0, 1, 2, 127, 128, 255, 200, 5, 6, 7, 8, 9, 10, 11, 12, 13])
    with qemu.HostHarness(fw) as board:
        with pytest.raises(runner.ModelMismatchError):
            runner.measure(board.port, repeat=1, expected_model_hash=dense_model_hash())
        res = runner.measure(
            board.port,
            warmup=1,
            repeat=2,
            input_data=data,
            expected_model_hash="00112233445566778899aabbccddeeff" + "0" * 32,
        )
    want = bytes((-(v - 256 if v > 127 else v)) & 0xFF if v != 128 else 127 for v in data)
    assert res.complete and res.output == want
    # its own postprocess replaced the harness's default argmax
    assert res.board.model_name == "negate16" and res.reps[0].post == 16


@needs_gcc
def test_broken_model_file_gives_a_build_error(cache, tmp_path) -> None:
    bad = tmp_path / "model.c"
    bad.write_text("int npb_model_init(void) { return 0 }\n")
    with pytest.raises(qemu.EmulatorError) as e:
        qemu.build_firmware("host", qemu.ModelPort(sources=(bad,)))
    assert "failed" in e.value.message and "npb_model.h" in (e.value.hint or "")


CGEN_MODEL = Path(__file__).parents[1] / "data" / "cgen" / "mlp_per_tensor.tflite"


@needs_cross
@pytest.mark.skipif(not CGEN_MODEL.exists(), reason="tests/data/cgen/mlp_per_tensor.tflite absent")
def test_cgen_generated_model_runs_bit_exact_on_qemu(cache, tmp_path) -> None:
    """A model generated by compilers/cgen links into the harness unchanged and its output
    on the emulated Cortex-M4 equals LiteRT's reference kernels."""
    generator = pytest.importorskip("npubench.compilers.cgen.generator")
    litert = pytest.importorskip("ai_edge_litert.interpreter")
    import numpy as np

    from npubench.cache import file_sha256

    generator.generate_c(CGEN_MODEL, tmp_path / "gen")
    sha = file_sha256(CGEN_MODEL)
    elf = qemu.build_firmware(
        "qemu-cortex-m4", qemu.ModelPort.from_cgen(tmp_path / "gen", sha, "mlp")
    )
    with qemu.QemuBoard("qemu-cortex-m4", elf) as emu:
        res = runner.measure(emu.port, warmup=1, repeat=4, seed=77, expected_model_hash=sha)
    assert res.complete and res.board.model_name == "mlp"

    it = litert.Interpreter(
        model_path=str(CGEN_MODEL), experimental_op_resolver_type=litert.OpResolverType.BUILTIN_REF
    )
    it.allocate_tensors()
    ind, outd = it.get_input_details()[0], it.get_output_details()[0]
    x = np.frombuffer(p.prng_bytes(77, res.board.input_bytes), dtype=np.int8)
    it.set_tensor(ind["index"], x.reshape(ind["shape"]))
    it.invoke()
    ref = it.get_tensor(outd["index"]).tobytes()
    assert res.output == ref
    assert res.reps[0].post == int(np.argmax(np.frombuffer(ref, dtype=np.int8)))
