"""``python -m npubench.sweep FILE [--db ...]``: run a sweep file (see ``commands.main``)."""

import sys

from npubench.sweep.commands import main

sys.exit(main())
