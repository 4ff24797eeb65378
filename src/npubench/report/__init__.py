"""Reports: targets side by side for a model (terminal, Markdown, CSV).

May import ``npubench.errors``, ``npubench.schema`` and ``npubench.store``. Reports read
results only; they never compute figures of their own beyond formatting and sums.
"""

from npubench.report.tables import (
    comparison_csv,
    comparison_markdown,
    comparison_table,
    write_report,
)

__all__ = ["comparison_csv", "comparison_markdown", "comparison_table", "write_report"]
