"""C code generator for int8 TFLite models, bit-exact with TFLite Micro's reference kernels.

``generate_c(tflite, out_dir, prefix)`` writes ``model.c``/``model.h`` and the kernel sources
for a single ``<prefix>_invoke(input, output)`` with a static memory plan and const weights;
``SUPPORTED_OPS`` lists the TFLite operators it lowers. May import: npubench.errors, numpy and
``npubench.analysis.tflite_reader``, npubench's one TFLite flatbuffer reader.
"""

from npubench.compilers.cgen.generator import CgenResult, generate_c
from npubench.compilers.cgen.ops import SUPPORTED_OPS

__all__ = ["SUPPORTED_OPS", "CgenResult", "generate_c"]
