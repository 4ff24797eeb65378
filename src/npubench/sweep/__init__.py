"""Sweeps: models x targets x options matrices, run on a laptop's cores or a Ray cluster.

A sweep file (TOML, ``spec``) names models, targets, kinds of figures (compile, predict,
measure) and option lists; ``cells`` expands it into cells with stable keys; ``run`` executes
the cells missing from the store on a backend (``local``: a process pool with a watchdog;
``ray_backend``: Ray tasks, boards as custom resources) and stores each result as it arrives,
so an interrupted sweep resumes where it stopped. ``compare`` diffs two runs for regressions;
``export`` writes Parquet. May import everything.
"""

from npubench.sweep.spec import SweepSpec, SweepSpecError, load_spec, spec_from_flags

__all__ = ["SweepSpec", "SweepSpecError", "load_spec", "spec_from_flags"]
