"""Hostile inputs, generated: model files, stores, power traces and lying boards, and the judge.

Every generator writes its inputs below a work folder and returns ``Case``s: the command line
to run, the exit statuses that are right for it, and the store whose readable rows must not
change. ``run_in_process`` (fast, ``npubench.cli.main.run``) and ``run_console_script`` (the
installed executable, with a timeout that counts as a hang) turn a case into an ``Outcome``:
clean (right status, a message, no traceback), a traceback, a hang, or data loss (a row that
was readable before the command is gone or changed after it).

Used by tests/unit/test_hostile_inputs.py, tests/integration/test_hostile_inputs_real.py and
benchmarks/hostile_inputs.py. Seeds make every run generate the same inputs.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _lying_board import LIES, Lie, LyingRig  # noqa: E402

MLP = HERE / "data" / "cgen" / "mlp_per_tensor.tflite"  # int8, 40 bytes in and out
GIB = 1 << 30
PREDICT_ZOO = ("predict", "-m", "zoo:autoenc", "-t", "hx-we2", "--analytical")


@dataclass
class Case:
    family: str  # model | store | trace | board
    name: str
    argv: list[str]
    expect: tuple[int, ...]  # exit statuses that are right
    store: Path | None = None  # rows readable before must be readable, unchanged, after
    store_bytes_unchanged: bool = False  # a read-only command: the file itself is untouched
    lie: Lie | None = None  # start this lying board; "{port}" in argv is its pty
    board: dict[str, Any] = field(default_factory=dict)
    timeout_s: float = 120.0

    @property
    def id(self) -> str:
        return f"{self.family}:{self.name}"


@dataclass
class Outcome:
    case: Case
    code: int | None  # None: hung (killed at the timeout)
    out: str
    err: str
    seconds: float
    traceback: bool = False
    data_loss: str = ""

    @property
    def hung(self) -> bool:
        return self.code is None

    @property
    def clean(self) -> bool:
        return not self.problems

    @property
    def problems(self) -> list[str]:
        found = []
        if self.hung:
            found.append(f"hung (no exit within {self.case.timeout_s:.0f} s)")
        if self.traceback:
            found.append("a traceback was printed")
        if self.code is not None and self.code not in self.case.expect:
            found.append(f"exit status {self.code}, expected one of {self.case.expect}")
        if self.code not in (None, 0) and not _has_message(self.out, self.err):
            found.append("a non-zero exit without a message saying why")
        if self.data_loss:
            found.append(f"data loss: {self.data_loss}")
        return found

    def describe(self) -> str:
        tail = "\n".join(self.err.strip().splitlines()[-6:])
        return f"{self.case.id}: {'; '.join(self.problems) or 'clean'}\n{tail}"


def _has_message(out: str, err: str) -> bool:
    """An ``error:``/``warning:`` line, or a measurement's fault or status (``measure``
    prints the incomplete result it stored, after the fault that cut the run)."""
    if any(line.startswith(("error:", "warning:")) for line in err.splitlines()):
        return True
    return "fault after" in err or "incomplete" in out or "output differs" in out


# --- store snapshots --------------------------------------------------------------------------


def readable_rows(path: Path) -> dict[int, str]:
    """Every row npubench can read from the store, by id (its result JSON as text)."""
    from npubench.errors import NpubenchError
    from npubench.store import ResultStore

    if not path.exists():
        return {}
    try:
        with ResultStore(path, readonly=True) as store:
            return {s.id: json.dumps(s.result.to_json(), sort_keys=True) for s in store.query()}
    except NpubenchError:
        return {}


def store_loss(case: Case, before: dict[int, str], before_bytes: bytes | None) -> str:
    if case.store is None:
        return ""
    after = readable_rows(case.store)
    lost = [i for i in before if i not in after]
    changed = [i for i in before if i in after and after[i] != before[i]]
    if lost or changed:
        return f"rows lost {lost[:5]}, rows changed {changed[:5]}"
    if case.store_bytes_unchanged and before_bytes is not None:
        now = case.store.read_bytes() if case.store.exists() else b""
        if now != before_bytes:
            return "a read-only command modified the store file"
    return ""


# --- running ------------------------------------------------------------------------------------


@contextlib.contextmanager
def _board(case: Case) -> Iterator[list[str]]:
    if case.lie is None:
        yield case.argv
        return
    with LyingRig(case.lie, **case.board) as rig:
        yield [a.replace("{port}", rig.port) for a in case.argv]


def _snapshot(case: Case) -> tuple[dict[int, str], bytes | None]:
    if case.store is None:
        return {}, None
    data = case.store.read_bytes() if case.store_bytes_unchanged and case.store.exists() else None
    return readable_rows(case.store), data


def run_in_process(case: Case) -> Outcome:
    """The case through ``npubench.cli.main.run`` (what ``main`` would exit with)."""
    from npubench.cli.main import run

    before, before_bytes = _snapshot(case)
    out, err = io.StringIO(), io.StringIO()
    t0 = time.monotonic()
    traceback = False
    code: int | None
    with _board(case) as argv:
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = run(argv)
        except BaseException as e:  # what would reach the user as a traceback
            import traceback as tb

            traceback, code = True, 1
            err.write("".join(tb.format_exception(e)))
    seconds = time.monotonic() - t0
    outcome = Outcome(case, code, out.getvalue(), err.getvalue(), seconds, traceback)
    outcome.data_loss = store_loss(case, before, before_bytes)
    return outcome


def console_script() -> Path:
    return Path(sys.executable).parent / "npubench"


def run_console_script(case: Case, env: dict[str, str] | None = None) -> Outcome:
    """The case through the installed ``npubench`` executable; a timeout is a hang."""
    before, before_bytes = _snapshot(case)
    t0 = time.monotonic()
    with _board(case) as argv:
        proc = subprocess.Popen(
            [str(console_script()), *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
        try:
            out, err = proc.communicate(timeout=case.timeout_s)
            code: int | None = proc.returncode
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            out, err = proc.communicate()
            code = None
    seconds = time.monotonic() - t0
    traceback = "Traceback (most recent call last)" in err + out
    outcome = Outcome(case, code, out, err, seconds, traceback)
    outcome.data_loss = store_loss(case, before, before_bytes)
    return outcome


# --- generators ---------------------------------------------------------------------------------


def _base_store(path: Path, rows: int = 24) -> Path:
    from npubench.schema import BenchResult
    from npubench.store import ResultStore

    with ResultStore(path) as store:
        for i in range(rows):
            r = BenchResult(model=f"model{i:03d}", target="hx-we2", kind="compiled")
            r.latency_us["inference"] = 10.0 + i
            r.message = "padding " * 20
            store.add(r, group_id="g", cell_key=f"c{i}")
    return path


def _sparse(path: Path, size: int, head: bytes = b"") -> Path:
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(size)
    return path


def model_cases(work: Path, tflite: Path | None = None, n: int = 12, seed: int = 0) -> list[Case]:
    """Random, bit-flipped, truncated and huge model and data files."""
    rng = random.Random(seed)
    work.mkdir(parents=True, exist_ok=True)
    db = _base_store(work / "models.sqlite", 6)
    source = (tflite or MLP).read_bytes()
    cases: list[Case] = []

    def predict(path: Path, name: str, extra: tuple[str, ...] = ()) -> None:
        argv = ["predict", "-m", str(path), "-t", "hx-we2", "--analytical", "--db", str(db)]
        cases.append(Case("model", name, [*argv, *extra], (0, 2), store=db))

    for k in range(n):
        data = bytearray(source)
        mode = ("flip", "flip8", "truncate")[k % 3]
        if mode == "truncate":
            data = data[: rng.randrange(8, len(data))]
        else:
            for _ in range(1 if mode == "flip" else 8):
                data[rng.randrange(len(data))] = rng.randrange(256)
        path = work / f"{mode}{k}.tflite"
        path.write_bytes(bytes(data))
        predict(path, f"{mode}-{k}")
    random_tflite = work / "random.tflite"
    random_tflite.write_bytes(b"\x1c\x00\x00\x00TFL3" + rng.randbytes(4000))
    random_onnx = work / "random.onnx"
    random_onnx.write_bytes(rng.randbytes(5000))
    empty = work / "empty.onnx"
    empty.write_bytes(b"")
    name_flip = work / "name-not-utf8.tflite"
    data = bytearray(source)
    at = data.find(b"serving_default")
    if at > 0:
        data[at + 3] = 0xFF  # a tensor name that is not UTF-8
    name_flip.write_bytes(bytes(data))
    for path in (random_tflite, random_onnx, empty, name_flip):
        cases.append(
            Case(
                "model",
                path.name,
                ["predict", "-m", str(path), "-t", "hx-we2", "--analytical", "--db", str(db)],
                (2,),
                store=db,
            )
        )
    huge_onnx = _sparse(work / "huge.onnx", 3 * GIB)
    huge_tflite = _sparse(work / "huge.tflite", 3 * GIB, b"\x1c\x00\x00\x00TFL3")
    huge_py = _sparse(work / "huge.py", 3 * GIB, b"import torch\n")
    for path, spec in ((huge_onnx, None), (huge_tflite, None), (huge_py, f"{huge_py}:Net")):
        argv = ["predict", "-m", spec or str(path), "-t", "hx-we2", "--analytical", "--db", str(db)]
        if spec:
            argv += ["--input-shape", "1,3,8,8"]
        cases.append(
            Case("model", f"sparse-3GiB-{path.suffix}", argv, (2,), store=db, timeout_s=60)
        )
    huge_npy = _sparse(work / "huge.npy", 3 * GIB, b"\x93NUMPY")
    lying_npy = work / "lying-header.npy"
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (400000000000, 3), }"
    header += " " * (118 - len(header)) + "\n"
    lying_npy.write_bytes(
        b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode()
    )
    junk_npy = work / "junk.npy"
    junk_npy.write_bytes(b"\x93NUMPY" + rng.randbytes(300))
    for path in (huge_npy, lying_npy, junk_npy):
        cases.append(
            Case(
                "model",
                f"calibration-{path.name}",
                [*PREDICT_ZOO, "--calibration", str(path), "--db", str(db)],
                (2,),
                store=db,
                timeout_s=120,
            )
        )
    return cases


def _row_span(path: Path, needle: bytes) -> tuple[int, int]:
    data = path.read_bytes()
    start = data.find(needle)
    end = data.find(b"}", start + 200)
    return start, max(end, start + 100)


def store_cases(work: Path, n: int = 12, seed: int = 0) -> list[Case]:
    """Stores with overwritten row bytes, damaged pages, truncation, a garbled header."""
    rng = random.Random(seed)
    work.mkdir(parents=True, exist_ok=True)
    base = _base_store(work / "base.sqlite")
    cases: list[Case] = []
    damaged: list[tuple[str, Path]] = []
    for k in range(n):
        path = work / f"store{k}.sqlite"
        shutil.copy(base, path)
        data = bytearray(path.read_bytes())
        mode = ("utf8", "json", "bytes", "truncate", "page")[k % 5]
        row = rng.randrange(24)
        start, end = _row_span(path, f'"model": "model{row:03d}"'.encode())
        if mode == "utf8":
            data[rng.randrange(start, end)] = 0xFF
        elif mode == "json":
            structural = [i for i in range(start, end) if data[i] in b'":,{}[]']
            data[rng.choice(structural)] = ord("#")
        elif mode == "bytes":
            at = rng.randrange(start, end)
            data[at : at + 8] = rng.randbytes(8)
        elif mode == "truncate":
            data = data[: rng.randrange(4096, len(data))]
        else:
            page = rng.randrange(2, len(data) // 4096)
            data[page * 4096 : page * 4096 + 64] = rng.randbytes(64)
        path.write_bytes(bytes(data))
        damaged.append((f"{mode}-{k}", path))
    header = work / "header.sqlite"
    shutil.copy(base, header)
    data = bytearray(header.read_bytes())
    data[16:100] = rng.randbytes(84)
    header.write_bytes(bytes(data))
    empty = work / "empty.sqlite"
    empty.write_bytes(b"")
    text = work / "text.sqlite"
    text.write_text("not a database\n" * 50)
    # The right statuses: a damaged row is skipped with a warning (1); damaged pages may hold
    # only an index (reads complete: 0) but make the file refuse writes (1); value damage
    # leaves the file sound, so writing is allowed (0).
    reads = {"utf8": (1,), "json": (1,), "bytes": (1,), "truncate": (1,), "page": (0, 1)}
    writes = {"utf8": (0,), "json": (0,), "bytes": (0,), "truncate": (1,), "page": (0, 1)}
    for name, path in damaged:
        mode = name.split("-")[0]
        for command, argv in (
            ("results", ["results", "--db", str(path), "--json"]),
            ("report", ["report", "--db", str(path)]),
        ):
            cases.append(
                Case(
                    "store",
                    f"{command}-{name}",
                    argv,
                    reads[mode],
                    store=path,
                    store_bytes_unchanged=True,
                )
            )
        cases.append(
            Case(
                "store",
                f"write-{name}",
                ["predict", "-m", str(MLP), "-t", "hx-we2", "--analytical", "--db", str(path)],
                writes[mode],
                store=path,
            )
        )
    for path in (header, empty, text):
        cases.append(
            Case(
                "store",
                f"results-{path.stem}",
                ["results", "--db", str(path)],
                (2,),
                store=path,
                store_bytes_unchanged=True,
            )
        )
    return cases


def trace_cases(work: Path, seed: int = 0, big_rows: int = 10**7) -> list[Case]:
    """Traces with NaN, inf, time going backwards, 10^7 rows, binary junk and worse."""
    rng = random.Random(seed)
    work.mkdir(parents=True, exist_ok=True)
    good = ["time_ms,power_mw"] + [
        f"{i * 0.2:.1f},{1.0 + (5 if 50 < i < 60 else 0)}" for i in range(200)
    ]

    def write(name: str, lines: list[str] | bytes) -> Path:
        path = work / name
        path.write_bytes(lines if isinstance(lines, bytes) else ("\n".join(lines) + "\n").encode())
        return path

    files = {
        "nan": write("nan.csv", [*good[:50], "10.0,nan", *good[51:]]),
        "inf": write("inf.csv", [*good[:50], "10.0,inf", *good[51:]]),
        "overflow": write("overflow.csv", [*good[:50], "10.0,1e400", *good[51:]]),
        "backwards": write("backwards.csv", [*good[:50], "1.0,1.0", *good[51:]]),
        "duplicate": write("duplicate.csv", [*good[:50], good[49], *good[51:]]),
        "tiny-steps": write(
            "tiny.csv", ["time_ms,power_mw"] + [f"{i}e-300,1.0" for i in range(1, 200)]
        ),
        "binary-junk": write("junk.csv", rng.randbytes(20000)),
        "junk-no-nul": write("junk2.csv", bytes(b or 1 for b in rng.randbytes(20000))),
        "nul-late": write("nul.csv", ("\n".join(good) + "\n").encode() * 20 + b"1,\x002\n"),
        "huge-field": write("field.csv", ["time_ms,power_mw", "1," + "9" * 200_000, *good[2:]]),
        "empty": write("empty.csv", b""),
        "header-only": write("header.csv", ["time_ms,power_mw"]),
        "no-columns": write("cols.csv", ["a,b,c", "1,2,3", "4,5,6"]),
        "short-rows": write("short.csv", [*good[:20], "5.0", *good[21:]]),
        "words": write("words.csv", [*good[:20], "five,one", *good[21:]]),
        "10^7-rows": write("big.csv", b"time_ms,power_mw\n" + b"1,1\n" * big_rows),
    }
    cases = [
        Case("trace", name, ["trace", "analyze", str(path), "--json"], (2,), timeout_s=60)
        for name, path in files.items()
    ]
    cases.append(
        Case(
            "trace",
            "plot-into-a-file",
            ["trace", "analyze", str(files["nan"]), "--plot", str(files["empty"] / "p.png")],
            (2,),
        )
    )
    return cases


def board_cases(work: Path, model: Path = MLP) -> list[Case]:
    """``npubench measure`` against each lying board of tests/_lying_board.py."""
    import numpy as np
    from ai_edge_litert.interpreter import Interpreter

    work.mkdir(parents=True, exist_ok=True)
    db = _base_store(work / "boards.sqlite", 4)
    interpreter = Interpreter(model_path=str(model))
    n_in = int(np.prod(interpreter.get_input_details()[0]["shape"]))
    n_out = int(np.prod(interpreter.get_output_details()[0]["shape"]))
    sha = hashlib.sha256(model.read_bytes()).hexdigest()
    board = {"model_hash": sha[:16], "input_bytes": n_in, "output_bytes": n_out}
    argv = ["measure", "-m", str(model), "-t", "hx-we2", "--port", "{port}"]
    argv += ["--repeat", "4", "--warmup", "0", "--db", str(db)]
    return [
        Case("board", name, list(argv), (1,), store=db, lie=lie, board=board, timeout_s=90)
        for name, (lie, _) in sorted(LIES.items())
    ]


GENERATORS: dict[str, Callable[[Path], list[Case]]] = {
    "model": lambda w: model_cases(w / "models"),
    "store": lambda w: store_cases(w / "stores"),
    "trace": lambda w: trace_cases(w / "traces"),
    "board": lambda w: board_cases(w / "boards"),
}


def new_rows_are_never_ok(case: Case, before: dict[int, str]) -> list[str]:
    """Rows a lying board left in the store: only incomplete or failed, never ok."""
    if case.store is None:
        return []
    conn = sqlite3.connect(case.store)
    rows = conn.execute("SELECT id, status FROM runs").fetchall()
    conn.close()
    return [f"row {i} stored as {s}" for i, s in rows if i not in before and s == "ok"]
