"""Terminal output every command shares: consoles that print text as text.

May import nothing from npubench. Names of models, targets, paths and fields sent by a board
can contain ``[`` and ``]``; with rich markup on, ``net[v2].tflite`` prints as ``net.tflite``
and a ``[/]`` crashes the printer. So every console here has markup and highlighting off, and
styled words are built as ``rich.text.Text`` (``styled``), never as markup strings.

When the stream is not a terminal (CI logs, pipes) nothing is wrapped: a long line stays one
line, so that ``grep`` finds it.
"""

from __future__ import annotations

import sys
from typing import IO

from rich.console import Console
from rich.text import Text

# Wide enough for every table npubench prints; rich needs a width when not on a terminal.
_PIPE_WIDTH = 400


def make_console(stderr: bool = False, file: IO[str] | None = None) -> Console:
    """A console with markup off; unwrapped when its stream is not a terminal."""
    stream = file or (sys.stderr if stderr else sys.stdout)
    is_tty = hasattr(stream, "isatty") and stream.isatty()
    return Console(
        file=file,
        stderr=stderr,
        markup=False,
        highlight=False,
        emoji=False,
        soft_wrap=not is_tty,
        width=None if is_tty else _PIPE_WIDTH,
    )


def styled(*parts: str | tuple[str, str]) -> Text:
    """Text from plain strings and (text, style) pairs: styling without markup parsing."""
    out = Text()
    for part in parts:
        if isinstance(part, tuple):
            out.append(part[0], style=part[1])
        else:
            out.append(part)
    return out
