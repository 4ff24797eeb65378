"""Entry point and top-level commands of the ``npubench`` CLI.

``main`` holds the exit-status contract (``npubench.errors``, README "Exit statuses"): what a
command returns or raises becomes the process's status, and an interrupt stops every child
process before exiting 130.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from npubench import __version__
from npubench.cli.common import console, err_console, parse_shape, print_json, progress_display
from npubench.console import styled
from npubench.errors import ExitStatus, NpubenchError

app = typer.Typer(
    name="npubench",
    help="Benchmark int8 inference on microcontroller NPUs and MCU CPUs: one source model, "
    "real vendor compilers, five-stage latency, power and energy.\n\n"
    "Exit statuses: 0 success; 1 a result failed, a regression, or an incomplete measurement; "
    "2 usage error; 3 a toolchain, instrument or system package missing; 130 interrupted.\n\n"
    "Environment: NPUBENCH_DB (results store), NPUBENCH_CACHE_DIR (artifact cache), "
    "NPUBENCH_TOOLCHAINS_DIR (toolchain environments), NPUBENCH_DATA_DIR (fitted parameters).",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)
targets_app = typer.Typer(
    help="The target catalogue (boards described as data).", invoke_without_command=True
)
app.add_typer(targets_app, name="targets")
toolchains_app = typer.Typer(
    help="Vendor toolchains: which are installed, their versions, their environments.",
    no_args_is_help=True,
)
app.add_typer(toolchains_app, name="toolchains")


def _add_subapps() -> None:
    from npubench.cli.trace import trace_app

    app.add_typer(trace_app, name="trace")


_add_subapps()

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (stable schema, see README).")]
DbOpt = Annotated[
    Path | None,
    typer.Option(
        "--db",
        help="Results store (SQLite file). Default: results.sqlite in the user data dir.",
        envvar="NPUBENCH_DB",
        show_envvar=True,
    ),
]
ModelOpt = Annotated[
    list[str],
    typer.Option(
        "--model",
        "-m",
        help="zoo:<name>, a group (study, mlperf-tiny, zoo), a .onnx or .tflite file, or "
        "path/to/file.py:ClassName (with --input-shape). Repeatable.",
    ),
]
TargetOpt = Annotated[
    list[str],
    typer.Option(
        "--target",
        "-t",
        help="Target name, 'ethos-u' (the built-in Ethos-U boards) or 'all'. Repeatable.",
    ),
]
OptimiseOpt = Annotated[
    list[str],
    typer.Option("--optimise", help="Vela optimisation: Performance or Size. Repeatable."),
]
ClockOpt = Annotated[
    float | None,
    typer.Option(
        "--clock-mhz",
        help="Clock of the board's main domain in MHz: the NPU's on NPU boards, else the "
        "CPU's; other clocks keep their ratio to it (default: the board's own, 100 MHz where "
        "the chip allows).",
    ),
]
CalibOpt = Annotated[
    Path | None,
    typer.Option(
        "--calibration",
        help=".npy calibration samples, shape (N, *input shape without batch). "
        "Default: synthetic samples, recorded as such.",
    ),
]
ShapeOpt = Annotated[
    str | None,
    typer.Option(
        "--input-shape", help="Input shape for PyTorch modules or dynamic ONNX, e.g. 1,3,32,32."
    ),
]
CkptOpt = Annotated[
    Path | None,
    typer.Option(
        "--checkpoint", help="PyTorch state_dict, loaded with torch.load(weights_only=True)."
    ),
]
ToolchainOpt = Annotated[
    str | None,
    typer.Option(
        "--toolchain",
        help="Use this toolchain of the target (see `npubench toolchains list`); default: the "
        "board's own, if installed.",
    ),
]
ToolchainOptionOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--toolchain-option",
        help="A toolchain's own option, NAME.KEY=VALUE (e.g. rknn.optimization_level=1). "
        "Repeatable.",
    ),
]
FrontendOpt = Annotated[
    str | None,
    typer.Option(
        "--frontend",
        help="Use the target's toolchain of this front end: tflite (npubench's int8 TFLite), "
        "executorch (PyTorch -> PT2E int8), onnx.",
    ),
]
CpuKernelsOpt = Annotated[
    str,
    typer.Option(
        "--cpu-kernels",
        help="CPU kernel basis for CPU boards and CPU-fallback layers: deployed (CMSIS-NN / "
        "X-CUBE-AI class, calibrated) or npubench-c (npubench's own generated C).",
    ),
]
CpuOnlyOpt = Annotated[
    bool,
    typer.Option(
        "--cpu-only", help="Predict every layer on the board's CPU (the NPU's own CPU baseline)."
    ),
]
TflmOpt = Annotated[
    bool,
    typer.Option(
        "--tflm/--no-tflm", help="Measure the TFLM arena and check TFLM == LiteRT bit-exactness."
    ),
]


def _version(value: bool) -> None:
    if value:
        console.print(f"npubench {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            callback=_version,
            is_eager=True,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """npubench: benchmark neural networks on microcontroller NPUs."""


@app.command()
def zoo(json_out: JsonOpt = False) -> None:
    """List the built-in models with shapes, parameters and MACs."""
    from rich.table import Table

    from npubench.api import zoo as zoo_entries

    entries = zoo_entries()
    if json_out:
        print_json(entries)
        return
    table = Table(title="npubench model zoo")
    for column in ("name", "suite", "task", "input", "output", "params", "MACs"):
        table.add_column(column, justify="right" if column in ("params", "MACs") else "left")
    for e in entries:
        table.add_row(
            e["name"],
            e["suite"],
            e["task"],
            "x".join(map(str, e["input_shape"])),
            "x".join(map(str, e["output_shape"])),
            f"{e['params']:,}",
            f"{e['macs']:,}",
        )
    console.print(table)


@targets_app.callback()
def targets_list(ctx: typer.Context, json_out: JsonOpt = False) -> None:
    """List the targets (run `npubench targets show NAME` for one with its sources)."""
    if ctx.invoked_subcommand is not None:
        return
    from npubench.cli.targets import print_targets

    print_targets(json_out)


@targets_app.command("show")
def targets_show(name: str, json_out: JsonOpt = False) -> None:
    """One target with every figure and its source."""
    from npubench.cli.targets import print_target

    print_target(name, json_out)


def _results_status(results: list[Any]) -> int:
    """1 when any result failed (a model that does not fit is a result, not a failure)."""
    failed = [r for r in results if r.status in ("failed", "incomplete")]
    if failed:
        err_console.print(
            f"{len(failed)} of {len(results)} results failed: "
            + "; ".join(f"{r.model} on {r.target}" for r in failed[:5])
            + (" ..." if len(failed) > 5 else "")
        )
        return ExitStatus.FAILED
    return ExitStatus.OK


@toolchains_app.command("list")
def toolchains_list(json_out: JsonOpt = False) -> None:
    """Every toolchain plug-in: version, whether it is available here, its targets."""
    from npubench.cli.toolchains import list_command

    raise typer.Exit(list_command(json_out))


@toolchains_app.command("install")
def toolchains_install(
    names: Annotated[list[str], typer.Argument(help="Toolchain or environment names, or all.")],
) -> None:
    """Create (or repair) the virtual environment of a toolchain, from PyPI."""
    from npubench.cli.toolchains import install_command

    raise typer.Exit(install_command(names))


@toolchains_app.command("doctor")
def toolchains_doctor(
    names: Annotated[list[str] | None, typer.Argument(help="Environments (default: all).")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Check every managed environment for real; exit 3 with the repair command if broken."""
    from npubench.cli.toolchains import doctor_command

    raise typer.Exit(doctor_command(names or [], json_out))


def _options(
    optimise: str,
    clock_mhz: float | None,
    calibration: Path | None,
    input_shape: str | None,
    checkpoint: Path | None,
    tflm: bool,
    toolchain: str | None = None,
    frontend: str | None = None,
    toolchain_option: list[str] | None = None,
    cpu_kernels: str = "deployed",
    cpu_only: bool = False,
) -> dict[str, Any]:
    from npubench.cli.common import parse_toolchain_options

    return {
        "cpu_kernels": cpu_kernels,
        "cpu_only": cpu_only,
        "toolchain_options_given": parse_toolchain_options(toolchain_option),
        "optimise": optimise,
        "clock_mhz": clock_mhz,
        "calibration": calibration,
        "input_shape": parse_shape(input_shape),
        "checkpoint": checkpoint,
        "tflm_checks": tflm,
        "toolchain": toolchain,
        "frontend": frontend,
    }


@app.command("compile")
def compile_cmd(
    model: Annotated[str, typer.Option("--model", "-m", help="The model (see `bench --help`).")],
    target: Annotated[
        list[str],
        typer.Option(
            "--target",
            "-t",
            help="Target name, 'ethos-u' or 'all' (every installed toolchain of every target, "
            "side by side with the analytical prediction). Repeatable.",
        ),
    ],
    optimise: Annotated[str, typer.Option("--optimise")] = "Performance",
    clock_mhz: ClockOpt = None,
    calibration: CalibOpt = None,
    input_shape: ShapeOpt = None,
    checkpoint: CkptOpt = None,
    toolchain: ToolchainOpt = None,
    frontend: FrontendOpt = None,
    toolchain_option: ToolchainOptionOpt = None,
    tflm: TflmOpt = False,
    json_out: JsonOpt = False,
) -> None:
    """Quantize a model and compile it with the targets' real toolchains (not stored).

    One target: its toolchain (or --toolchain/--frontend). Several, or `all`: every installed
    toolchain of each, beside the predictor's analytical figure for the same target, and a list
    of the toolchains not installed here with the command that installs each.
    """
    from npubench.api import compile as api_compile
    from npubench.api import compile_matrix
    from npubench.report import comparison_table

    opts = _options(
        optimise,
        clock_mhz,
        calibration,
        input_shape,
        checkpoint,
        tflm,
        toolchain,
        frontend,
        toolchain_option,
    )
    single = len(target) == 1 and target[0] not in ("all", "ethos-u")
    with progress_display(not json_out) as progress:
        if single:
            results = [api_compile(model, target[0], progress=progress, **opts)]
            missing: list[dict[str, str]] = []
        else:
            results, missing = compile_matrix(model, target, progress=progress, **opts)
    if json_out:
        payload: Any = (
            results[0].to_json()
            if single
            else {
                "results": [r.to_json() for r in results],
                "not_installed": missing,
            }
        )
        print_json(payload)
    else:
        title = f"{results[0].model} compiled" if results else "compile"
        console.print(comparison_table(results, title=title))
        for row in missing:
            console.print(
                f"{row['target']}: {row['toolchain']} not installed here: {row['install']}"
            )
        if single:
            artifacts = results[0].provenance.get("artifacts", {})
            if artifacts.get("dir"):
                console.print(styled(("artifacts:", "dim"), f" {artifacts['dir']}"))
    raise typer.Exit(_results_status(results))


@app.command()
def bench(
    model: ModelOpt = ["study"],  # noqa: B006 - typer needs a list default
    target: TargetOpt = ["ethos-u"],  # noqa: B006
    optimise: OptimiseOpt = ["Performance"],  # noqa: B006
    clock_mhz: ClockOpt = None,
    calibration: CalibOpt = None,
    input_shape: ShapeOpt = None,
    checkpoint: CkptOpt = None,
    toolchain: ToolchainOpt = None,
    frontend: FrontendOpt = None,
    toolchain_option: ToolchainOptionOpt = None,
    cpu_kernels: CpuKernelsOpt = "deployed",
    cpu_only: CpuOnlyOpt = False,
    tflm: TflmOpt = True,
    db: DbOpt = None,
    report: Annotated[
        Path | None,
        typer.Option(
            "--report", help="Also write report.html, report.md and report.csv into this folder."
        ),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Benchmark models on targets and store the results (default: study models, Ethos-U boards)."""
    from npubench.api import bench as api_bench
    from npubench.cli.results import check_report_folder
    from npubench.report import comparison_table, write_report

    check_report_folder(report)  # a bad --report path fails before any benchmark runs
    with progress_display() as progress:
        results = api_bench(
            model,
            target,
            db=db,
            progress=progress,
            optimise_modes=optimise,
            **_options(
                optimise[0],
                clock_mhz,
                calibration,
                input_shape,
                checkpoint,
                tflm,
                toolchain,
                frontend,
                toolchain_option,
                cpu_kernels,
                cpu_only,
            ),
        )
    if json_out:
        print_json([r.to_json() for r in results])
    else:
        console.print(comparison_table(results, title="npubench bench"))
    if report is not None:
        for path in write_report(results, report):
            err_console.print(f"wrote {path}")
    raise typer.Exit(_results_status(results))


@app.command()
def predict(
    model: ModelOpt = ["study"],  # noqa: B006
    target: TargetOpt = ["all"],  # noqa: B006
    optimise: Annotated[
        str, typer.Option("--optimise", help="Vela mode on Ethos-U boards.")
    ] = "Performance",
    clock_mhz: ClockOpt = None,
    calibration: CalibOpt = None,
    input_shape: ShapeOpt = None,
    checkpoint: CkptOpt = None,
    analytical: Annotated[
        bool,
        typer.Option(help="Run no compiler at all (Ethos-U inference from the analytical model)."),
    ] = False,
    toolchain: ToolchainOpt = None,
    frontend: FrontendOpt = None,
    toolchain_option: ToolchainOptionOpt = None,
    cpu_kernels: CpuKernelsOpt = "deployed",
    cpu_only: CpuOnlyOpt = False,
    tflm: TflmOpt = False,
    db: DbOpt = None,
    no_store: Annotated[bool, typer.Option("--no-store", help="Do not store the results.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Predict fit, five-stage latency, power and energy on targets, with intervals."""
    from npubench.api import predict as api_predict
    from npubench.report import comparison_table

    with progress_display() as progress:
        results = api_predict(
            model,
            target,
            db=db,
            analytical=analytical,
            store=not no_store,
            progress=progress,
            **_options(
                optimise,
                clock_mhz,
                calibration,
                input_shape,
                checkpoint,
                tflm,
                toolchain,
                frontend,
                toolchain_option,
                cpu_kernels,
                cpu_only,
            ),
        )
    if json_out:
        print_json([r.to_json() for r in results])
    else:
        console.print(comparison_table(results, title="npubench predict"))
    raise typer.Exit(_results_status(results))


@app.command()
def calibrate(
    out: Annotated[
        Path | None,
        typer.Option(
            help="Write the fitted parameter files here (default: params/ in the user data "
            "folder, or $NPUBENCH_DATA_DIR; never the installed package)."
        ),
    ] = None,
    board: Annotated[
        list[str] | None, typer.Option("--board", help="Only this board's data. Repeatable.")
    ] = None,
    dry_run: Annotated[bool, typer.Option(help="Fit and print; write nothing.")] = False,
) -> None:
    """Fit the prediction models to the reference measurements, with cross-validated errors."""
    from npubench.cli.calibrate import calibrate_command

    raise typer.Exit(calibrate_command(out, dry_run, board))


@app.command()
def validate(
    board: Annotated[
        list[str] | None, typer.Option("--board", help="Only this board's data. Repeatable.")
    ] = None,
    max_median: Annotated[
        float | None,
        typer.Option(help="Exit 1 if a board's cross-validated median ratio error exceeds this."),
    ] = None,
    max_worst: Annotated[
        float | None,
        typer.Option(help="Exit 1 if a board's cross-validated worst ratio error exceeds this."),
    ] = None,
    json_out: JsonOpt = False,
) -> None:
    """Predict every reference measurement: predicted vs measured, in and out of sample."""
    from npubench.cli.calibrate import validate_command

    raise typer.Exit(validate_command(json_out, board, max_median, max_worst))


@app.command()
def results(
    model: Annotated[str | None, typer.Option("--model", "-m")] = None,
    target: Annotated[str | None, typer.Option("--target", "-t")] = None,
    kind: Annotated[str | None, typer.Option(help="compiled, predicted or measured")] = None,
    status: Annotated[str | None, typer.Option(help="ok, does_not_fit, failed, incomplete")] = None,
    latest: Annotated[
        bool, typer.Option(help="Only the newest result per model/target/options.")
    ] = False,
    limit: Annotated[int | None, typer.Option(help="At most this many results.")] = None,
    export: Annotated[
        Path | None,
        typer.Option(help="Write the results to this file: .csv, .json or .parquet."),
    ] = None,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Move the rows that cannot be read into the store's quarantine table "
            "(nothing is deleted; a file with damaged pages is rebuilt, the original kept).",
        ),
    ] = False,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """List, filter and export stored results (exit 1 if unreadable rows were skipped)."""
    from npubench.cli.results import results_command

    results_command(model, target, kind, status, latest, limit, export, db, json_out, repair)


@app.command()
def report(
    model: Annotated[str | None, typer.Option("--model", "-m")] = None,
    target: Annotated[list[str] | None, typer.Option("--target", "-t")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, md or csv")] = "table",
    out: Annotated[
        Path | None, typer.Option(help="Write report.md, report.csv and report.html here.")
    ] = None,
    html: Annotated[
        Path | None,
        typer.Option(help="Write one self-contained HTML report (no server, no network)."),
    ] = None,
    figures: Annotated[
        Path | None, typer.Option(help="Write the figures as PNG and SVG for papers here.")
    ] = None,
    wide: Annotated[
        bool, typer.Option("--wide", help="Print every column (default: fit 100 columns).")
    ] = False,
    validation: Annotated[
        Path | None,
        typer.Option(
            help="Add a prediction-fidelity section from `npubench validate --json > FILE.json`."
        ),
    ] = None,
    db: DbOpt = None,
) -> None:
    """Compare targets side by side from the store (newest result per model/target/options)."""
    from npubench.cli.results import report_command

    report_command(
        model, target, fmt, out, db, html=html, figures=figures, wide=wide, validation=validation
    )


@app.command()
def measure(
    model: Annotated[str, typer.Option("--model", "-m", help="The model (see `bench --help`).")],
    target: Annotated[
        str,
        typer.Option(
            "--target", "-t", help="A board, or an emulated one: qemu-cortex-m4/m7/m33/m55."
        ),
    ],
    port: Annotated[
        str | None,
        typer.Option(help="Serial port of the board (default: probe for it; emulators need none)."),
    ] = None,
    power: Annotated[
        str | None,
        typer.Option(
            help="Power instrument: ppk2, joulescope, or csv:FILE (a capture exported by another "
            "analyser)."
        ),
    ] = None,
    repeat: Annotated[int, typer.Option(min=1, help="Timed repetitions.")] = 20,
    warmup: Annotated[int, typer.Option(min=0, help="Warm-up runs, not timed.")] = 3,
    baud: Annotated[
        int, typer.Option(help="Serial baud rate (the WE2 console uses 921600).")
    ] = 115200,
    db: DbOpt = None,
    no_store: Annotated[bool, typer.Option("--no-store", help="Do not store the result.")] = False,
    json_out: JsonOpt = False,
) -> None:
    """Measure five-stage latency (and power) on a board or an emulated one; stored as measured."""
    from npubench.cli.measure import measure_command

    measure_command(model, target, port, power, repeat, warmup, baud, db, not no_store, json_out)


@app.command()
def sweep(
    file: Annotated[Path | None, typer.Argument(help="Sweep file (TOML); see examples/.")] = None,
    model: Annotated[list[str], typer.Option("--model", "-m", help="Instead of a file.")] = [],  # noqa: B006
    target: Annotated[list[str], typer.Option("--target", "-t", help="Instead of a file.")] = [],  # noqa: B006
    kind: Annotated[
        list[str], typer.Option("--kind", help="compile, predict or measure (instead of a file).")
    ] = [],  # noqa: B006
    optimise: Annotated[list[str], typer.Option("--optimise")] = [],  # noqa: B006
    clock_mhz: Annotated[list[float], typer.Option("--clock-mhz")] = [],  # noqa: B006
    calibration: Annotated[list[str], typer.Option("--calibration")] = [],  # noqa: B006
    name: Annotated[str | None, typer.Option(help="Sweep name (with flags).")] = None,
    backend: Annotated[str, typer.Option(help="local (process pool) or ray.")] = "local",
    address: Annotated[
        str | None, typer.Option(help="Ray cluster address (default: start a local Ray instance).")
    ] = None,
    workers: Annotated[int | None, typer.Option(help="Local pool size (default: CPUs).")] = None,
    retry_failed: Annotated[bool, typer.Option(help="Run failed cells again.")] = False,
    cell_timeout: Annotated[
        float | None,
        typer.Option("--cell-timeout", help="Fail a cell that runs longer than this (s)."),
    ] = None,
    progress: Annotated[
        bool, typer.Option("--progress/--no-progress", help="Show cells done, failed, left.")
    ] = True,
    yes: Annotated[
        bool, typer.Option("--yes", help="Run a sweep of more cells than --max-cells.")
    ] = False,
    max_cells: Annotated[
        int | None,
        typer.Option(
            "--max-cells",
            help="Without --yes, refuse a sweep that would run more cells than this "
            "(default 5000, or $NPUBENCH_SWEEP_MAX_CELLS).",
        ),
    ] = None,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Run models x targets x options in parallel; resumable, failures isolated."""
    from npubench.sweep.commands import sweep_command

    raise typer.Exit(
        sweep_command(
            file,
            db=db,
            backend=backend,
            address=address,
            workers=workers,
            retry_failed=retry_failed,
            cell_timeout_s=cell_timeout,
            json_out=json_out,
            models=model,
            targets=target,
            kinds=kind,
            optimise=optimise,
            clock_mhz=clock_mhz,
            calibration=calibration,
            name=name,
            show_progress=progress,
            yes=yes,
            max_cells=max_cells,
        )
    )


@app.command()
def compare(
    a: Annotated[str, typer.Argument(help="A store file, a sweep name, a group id, or vela:VER.")],
    b: Annotated[str, typer.Argument(help="The same kinds of reference as A.")],
    threshold: Annotated[str, typer.Option(help="Regression threshold, e.g. 5%.")] = "5%",
    show_all: Annotated[bool, typer.Option("--all", help="Show unchanged cells too.")] = False,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Compare measured runs made with another firmware image, clock or tick source.",
        ),
    ] = False,
    db: DbOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """Compare two runs, sweeps or toolchain versions; exit 1 on a regression (for CI)."""
    from npubench.sweep.commands import compare_command

    raise typer.Exit(
        compare_command(
            a, b, threshold=threshold, json_out=json_out, db=db, show_all=show_all, force=force
        )
    )


class _Terminated(BaseException):
    """SIGTERM arrived: unwind like Ctrl-C, so children are stopped and stores closed."""


def _on_sigterm(signum: int, frame: Any) -> None:
    raise _Terminated()


def _print_error(e: NpubenchError) -> None:
    err_console.print(styled(("error:", "bold red"), f" {e.message}"))
    if e.hint:
        err_console.print(styled(("hint:", "yellow"), f" {e.hint}"))


def _is_usage_error(e: Exception) -> bool:
    # typer vendors its own click: recognise click's usage errors by their interface.
    return hasattr(e, "show") and isinstance(getattr(e, "exit_code", None), int)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI and return its exit status (``main`` exits with it)."""
    import threading

    from npubench import processes

    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _on_sigterm) if in_main_thread else None
    code: int
    try:
        returned = app(args=argv, standalone_mode=False, prog_name="npubench")
        code = returned if isinstance(returned, int) else ExitStatus.OK
    except NpubenchError as e:
        _print_error(e)
        code = e.exit_code
    except KeyboardInterrupt:
        code = ExitStatus.INTERRUPTED
    except _Terminated:
        code = ExitStatus.TERMINATED
    except Exception as e:  # usage errors arrive here in non-standalone mode
        if _is_usage_error(e):
            e.show()  # type: ignore[attr-defined]
            code = int(e.exit_code)  # type: ignore[attr-defined]
        elif type(e).__name__ == "Abort":
            interrupted = isinstance(e.__cause__ or e.__context__, KeyboardInterrupt)
            code = ExitStatus.INTERRUPTED if interrupted else ExitStatus.FAILED
        else:
            raise
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
    if code in (ExitStatus.INTERRUPTED, ExitStatus.TERMINATED):
        stopped = processes.terminate_all()
        what = "interrupted" if code == ExitStatus.INTERRUPTED else "terminated"
        more = f"; stopped {stopped} child process group(s)" if stopped else ""
        err_console.print(f"{what}: results stored before this point are kept{more}")
    return int(code)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: exits with the status of ``run``."""
    sys.exit(run(argv))


if __name__ == "__main__":
    main()
