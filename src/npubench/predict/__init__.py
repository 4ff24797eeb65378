"""Prediction: fit checks, per-stage latency, power and energy models.

``fit.check_fit(analysis, board)`` says, before any compiler runs, which layers of an int8 model
run on a target's NPU, which fall back to its CPU, which cannot run (and why), and how full each
memory gets. The documented limits it applies live with their sources in ``predict/limits/``.
May import errors, schema, targets, analysis.
"""
