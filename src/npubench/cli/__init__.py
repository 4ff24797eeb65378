"""The ``npubench`` command line (typer + rich). May import ``npubench.api`` and every stage.

Human output goes to the terminal through rich; ``--json`` prints machine-readable JSON alone on
stdout (progress goes to stderr), so scripts can pipe it.
"""
