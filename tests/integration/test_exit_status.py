"""The exit-status contract, through the installed ``npubench`` console script.

0 success; 1 a result failed, a regression, an incomplete measurement; 2 usage error;
3 environment problem; 130 interrupted with no child process left behind (README "Exit
statuses"). Every case runs the real executable in a subprocess: what a shell or CI sees.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import psutil
import pytest

from _cli import console_script, run_console_script
from npubench.schema import BenchResult, empty_stages
from npubench.store import ResultStore


def test_version_and_help_exit_zero() -> None:
    for argv in (["--version"], ["-V"], ["-h"], ["bench", "-h"], ["--help"]):
        done = run_console_script(argv)
        assert done.returncode == 0, (argv, done.stderr)
    assert "npubench" in run_console_script(["-V"]).stdout
    helptext = run_console_script(["bench", "--help"]).stdout
    assert "NPUBENCH_DB" in helptext  # environment variables are shown in --help


def test_usage_errors_exit_two() -> None:
    done = run_console_script(["bench", "--no-such-option"])
    assert done.returncode == 2 and "No such option" in done.stderr
    done = run_console_script(["targets", "show", "hx-we"])
    assert done.returncode == 2 and "hx-we2" in done.stderr


def test_names_with_brackets_print_as_text(tmp_path: Path) -> None:
    done = run_console_script(["targets", "show", "x[/]y"])
    assert done.returncode == 2 and "x[/]y" in done.stderr and "Traceback" not in done.stderr
    missing = tmp_path / "net[v2].tflite"
    done = run_console_script(["predict", "-m", str(missing), "-t", "hx-we2", "--no-store"])
    assert done.returncode == 2 and "net[v2].tflite" in done.stderr, done.stderr


def test_a_model_file_that_exits_at_import_is_a_usage_error(tmp_path: Path) -> None:
    model = tmp_path / "net.py"
    model.write_text("import sys\nsys.exit(0)\n")
    done = run_console_script(
        ["predict", "-m", f"{model}:Net", "--input-shape", "1,3,8,8", "-t", "hx-we2", "--no-store"]
    )
    assert done.returncode == 2, done.stderr
    assert "sys.exit(0)" in done.stderr and "__main__" in done.stderr


def test_a_predict_whose_every_result_failed_exits_one(tflite_models: dict[str, Path]) -> None:
    # 5 GHz is above the WE2's maximum: the result is a failure, not a usage error.
    done = run_console_script(
        [
            "predict",
            "-m",
            str(tflite_models["small_convnet"]),
            "-t",
            "hx-we2",
            "--clock-mhz",
            "5000",
            "--no-store",
            "--json",
        ]
    )
    assert done.returncode == 1, done.stderr
    assert '"status": "failed"' in done.stdout and "results failed" in done.stderr


def _store(path: Path, inference_us: float) -> None:
    latency = empty_stages()
    latency["inference"] = inference_us
    with ResultStore(path) as store:
        store.add(
            BenchResult(
                model="mlp",
                target="hx-we2",
                kind="compiled",
                latency_us=latency,
                options={"optimise": "Performance", "clock_mhz": None, "seed": 0},
            )
        )


def test_compare_exits_one_on_a_regression_and_zero_without(tmp_path: Path) -> None:
    a, b, same = tmp_path / "a.sqlite", tmp_path / "b.sqlite", tmp_path / "same.sqlite"
    _store(a, 100.0)
    _store(b, 150.0)
    _store(same, 100.0)
    done = run_console_script(["compare", str(a), str(b), "--threshold", "5%"])
    assert done.returncode == 1 and "REGRESSION" in done.stdout, done.stdout + done.stderr
    assert run_console_script(["compare", str(a), str(same)]).returncode == 0


def _descendants(pid: int, wait_for: str, timeout_s: float) -> list[psutil.Process]:
    """The process tree under ``pid`` once a process whose command line has ``wait_for`` runs."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            kids = psutil.Process(pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return []
        for kid in kids:
            try:
                if wait_for in " ".join(kid.cmdline()):
                    return kids
            except psutil.Error:
                continue
        time.sleep(0.1)
    pytest.fail(f"no child process running {wait_for!r} within {timeout_s} s")


def _alive(procs: list[psutil.Process]) -> list[psutil.Process]:
    out = []
    for p in procs:
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p)
        except psutil.NoSuchProcess:
            continue
    return out


@pytest.mark.integration
@pytest.mark.parametrize(("sig", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_an_interrupt_stops_every_child_and_exits_130(
    tmp_path: Path, sig: signal.Signals, status: int
) -> None:
    import subprocess

    env = {
        "NPUBENCH_CACHE_DIR": str(tmp_path / "cache"),  # cold: the quantizer must start
        "NPUBENCH_DB": str(tmp_path / "r.sqlite"),
        "PATH": f"{console_script().parent}:/usr/bin:/bin",
    }
    proc = subprocess.Popen(
        [str(console_script()), "bench", "-m", "zoo:ic_resnet8", "-t", "hx-we2"],
        env={**__import__("os").environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        children = _descendants(proc.pid, "_quantize_worker", timeout_s=120)
        time.sleep(1.0)  # let the converter start its own work (TensorFlow, onnxsim)
        children = psutil.Process(proc.pid).children(recursive=True) or children
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == status, err
    assert "results stored before this point are kept" in err
    assert "Traceback" not in err
    time.sleep(0.5)
    assert not _alive(children), [p.cmdline() for p in _alive(children)]
