"""Reports: targets side by side for a model (terminal, Markdown, CSV).

May import ``npubench.errors``, ``npubench.schema``, ``npubench.store`` and ``npubench.targets``
(to mark emulated targets). Reports read results only; they never compute figures of their own
beyond formatting, sums and predicted-vs-measured errors.
"""

from npubench.report.figures import write_figures
from npubench.report.html import render_html, write_html_report
from npubench.report.tables import (
    comparison_csv,
    comparison_markdown,
    comparison_table,
    write_report,
)

__all__ = [
    "comparison_csv",
    "comparison_markdown",
    "comparison_table",
    "render_html",
    "write_figures",
    "write_html_report",
    "write_report",
]
