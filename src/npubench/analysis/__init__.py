"""Graph analysis of int8 TFLite models: per-layer table, memory, TFLM arena and bit-exactness.

May import ``npubench.errors``, ``npubench.schema`` and ``npubench.cache``. Everything here reads
the int8 ``.tflite`` file that the ``models`` stage produced; nothing here converts models.
"""
