"""``python -m npubench.sweep FILE [--db ...]`` is ``npubench sweep FILE [--db ...]``."""

import sys

from npubench.cli.main import main

main(["sweep", *sys.argv[1:]])
