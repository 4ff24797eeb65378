"""User-facing errors and the exit-status contract: every expected failure names the problem
and the way out, and says which exit status the shell sees.

May import nothing from npubench. The CLI prints these as a message plus a hint and exits with
the error's ``exit_code``; anything else that escapes is a bug.

Exit statuses (README, "Exit statuses"):

- 0 success;
- 1 a result failed, a regression was found, or a measurement is incomplete;
- 2 usage error: an option, a model file, a target or a data file the user gave is wrong;
- 3 environment problem: a toolchain, an instrument or a system package is missing;
- 130 interrupted (Ctrl-C): child processes are terminated, results already stored are kept.
"""

from __future__ import annotations

from enum import IntEnum


class ExitStatus(IntEnum):
    """The exit statuses npubench's console script returns."""

    OK = 0
    FAILED = 1
    USAGE = 2
    ENVIRONMENT = 3
    INTERRUPTED = 130
    TERMINATED = 143


class NpubenchError(Exception):
    """An expected failure with a message for the user and a hint on how to fix it.

    The class gives the default exit status (a failure, 1); a raise site whose cause is of
    another kind passes ``exit_code`` (e.g. a model file that TensorFlow cannot convert is a
    failure, 1, although most ``ModelError``s are usage errors, 2).
    """

    exit_code: int = ExitStatus.FAILED

    def __init__(self, message: str, hint: str | None = None, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint
        if exit_code is not None:
            self.exit_code = int(exit_code)

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class UsageError(NpubenchError):
    """The command line, or an input file the user named, is wrong."""

    exit_code = ExitStatus.USAGE


class EnvironmentProblem(NpubenchError):
    """Something this machine lacks: a toolchain, an instrument, a system package."""

    exit_code = ExitStatus.ENVIRONMENT


class ModelError(UsageError):
    """The model source cannot be found, read, loaded or converted."""


class CalibrationDataError(UsageError):
    """Calibration or evaluation samples have the wrong shape, dtype or content."""


class TargetError(UsageError):
    """An unknown target, or a board file that does not validate."""


class CompilerError(NpubenchError):
    """A vendor compiler rejected the model, crashed, or printed something unparseable."""


class ToolchainMissing(EnvironmentProblem, CompilerError):
    """A toolchain is not installed (or its environment is broken): the hint installs it."""

    exit_code = ExitStatus.ENVIRONMENT


class AnalysisError(NpubenchError):
    """Graph analysis or the TFLM checks failed."""


class StoreError(NpubenchError):
    """The results store cannot be opened, written or queried."""


class MeasurementError(NpubenchError):
    """A board, serial link, instrument or trace failed during measurement."""


class InstrumentMissing(EnvironmentProblem, MeasurementError):
    """A board, serial port or power instrument is not attached or its driver not installed."""

    exit_code = ExitStatus.ENVIRONMENT


def closest_names(name: str, choices: list[str], n: int = 3) -> list[str]:
    """The choices most similar to ``name``, for "did you mean" hints."""
    import difflib

    return difflib.get_close_matches(name, choices, n=n, cutoff=0.4)
