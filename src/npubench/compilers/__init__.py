"""Vendor NPU compilers driven by npubench (Arm Vela for Ethos-U boards).

May import ``npubench.errors``, ``npubench.schema``, ``npubench.cache``, ``npubench.targets`` and
``npubench.analysis`` (its TFLite reader).
Each compiler runs the real vendor tool in a subprocess and turns its report into npubench's
records; importing this package starts no tool.
"""
