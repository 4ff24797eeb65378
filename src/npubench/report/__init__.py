"""Reports: which board for each model, and where spec sheets and silicon part ways.

Terminal tables (100 columns by default, ``wide`` for all), Markdown, CSV, the self-contained
HTML page and the paper figures. All of them draw from one view layer (``_views``): the
headline (boards ranked per model by end-to-end latency and by energy, each figure badged by
its basis), spec against silicon, and ``figure_plan``, the one list of figures that the HTML
page (plotly), the paper figures (matplotlib) and the Markdown report (a table per figure)
render, so a figure is added once.

May import ``npubench.errors``, ``npubench.schema``, ``npubench.store`` and ``npubench.targets``
(to mark emulated boards and read datasheet peaks). Reports read results only; they never
compute figures of their own beyond formatting, sums, shares, rates (MACs over time),
rankings and predicted-vs-measured errors.
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
