"""ESP-IDF with npubench's generated C: the int8 model as C bit-exact with TFLM's reference
kernels, in the main component of an IDF project.

The marker is ``[firmware].marker_pin`` as ``GPIO<n>``.
"""

from __future__ import annotations

from npubench.measure.firmware.common import write_template
from npubench.measure.firmware.model_forms import cgen_model, io_values
from npubench.measure.firmware.sdks import Job, Parts, Sdk, marker_fields


def write(job: Job) -> Parts:
    board, model, out = job.board, job.model, job.out
    pin = marker_fields(job, r"GPIO\s*(\d+)", "GPIO4")
    values = {
        "BOARD": board.name,
        "MARKER_PIN": job.firmware.marker_pin,
        "MARKER_GPIO_NUM": pin.group(1),
        "MODEL_HASH16": model.hash16,
        "MODEL_NAME": model.fw_name,
        **io_values(model),
    }
    p = cgen_model(model, out)
    p.values.update(values)
    p.build_files = [
        write_template("esp-idf", "build.sh", out, "build.sh", values),
        write_template("esp-idf", "CMakeLists.txt", out, "CMakeLists.txt", values),
        write_template("esp-idf", "main_CMakeLists.txt", out, "main/CMakeLists.txt", values),
        write_template("esp-idf", "sdkconfig.defaults", out, "sdkconfig.defaults", values),
    ]
    p.port_files = [write_template("esp-idf", "npb_port_esp.c", out, "main/npb_port_esp.c", values)]
    p.values["MODEL_FILES_DESC"] = (
        "npubench's generated C for the int8 model and `npb_model_glue.c` (the port lives in "
        "`main/`, the ESP-IDF main component)."
    )
    p.values["VENDOR_STEPS"] = """## esp-dl instead of npubench's C

To measure Espressif's esp-dl on the same board, quantize with esp-ppq
(`espdl_quantize_torch(..., target="esp32s3")`, a separate environment: it pins onnx<1.20), add
the esp-dl component (`idf.py add-dependency espressif/esp-dl`) and replace `model/` by a model
port calling `dl::Model::run()`.

"""
    return p


SDK = Sdk(
    name="esp-idf",
    title="ESP-IDF 5.1+ with npubench's generated C",
    short="ESP-IDF",
    requirements="ESP-IDF v5.1 or later (`. $IDF_PATH/export.sh`)",
    model_kind="cgen",
    build_command="./build.sh",
    flash_command="idf.py -p @@PORT@@ flash",
    write=write,
)
