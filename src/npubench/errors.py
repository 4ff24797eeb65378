"""User-facing errors: every failure npubench expects names the problem and the way out.

May import nothing from npubench. The CLI prints these as a message plus a hint and exits
with status 2; anything else that escapes is a bug.
"""

from __future__ import annotations


class NpubenchError(Exception):
    """An expected failure with a message for the user and a hint on how to fix it."""

    exit_code = 2

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message if not self.hint else f"{self.message}\n  hint: {self.hint}"


class ModelError(NpubenchError):
    """The model source cannot be found, read, loaded or converted."""


class CalibrationDataError(NpubenchError):
    """Calibration or evaluation samples have the wrong shape, dtype or content."""


class TargetError(NpubenchError):
    """An unknown target, or a board file that does not validate."""


class CompilerError(NpubenchError):
    """A vendor compiler is missing or rejected the model."""


class AnalysisError(NpubenchError):
    """Graph analysis or the TFLM checks failed."""


class StoreError(NpubenchError):
    """The results store cannot be opened, written or queried."""


class MeasurementError(NpubenchError):
    """A board, serial link, instrument or trace failed during measurement."""


def closest_names(name: str, choices: list[str], n: int = 3) -> list[str]:
    """The choices most similar to ``name``, for "did you mean" hints."""
    import difflib

    return difflib.get_close_matches(name, choices, n=n, cutoff=0.4)
