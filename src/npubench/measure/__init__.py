"""Measurement is hardware-in-the-loop: the harness and serial protocol that time the five stages
on a board, the power instruments that record its supply, and the analysis of those traces.

Modules: ``trace`` (the ``PowerTrace`` model and CSV import), ``windows`` (active-window detection
and per-window energy), ``stage_power`` (per-stage power and energy from markers or timestamps),
``stats`` (statistics over repetitions), ``plot`` (trace plots), ``instruments`` (PPK2,
Joulescope, CSV replay), plus the serial protocol and harness modules.

May import ``npubench.errors``, ``npubench.schema`` and ``npubench.targets`` (and ``npubench`` for
``STAGES``); nothing from the other stages of the data flow.
"""

from __future__ import annotations
