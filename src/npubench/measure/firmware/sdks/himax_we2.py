"""Himax WE2 SDK (Seeed Grove Vision AI V2): the model compiled by Vela, run by TFLM on the
Ethos-U55 with the NPU driver bound to its registers.

Without a vendor artifact the int8 model is compiled here with Vela for the board's Ethos-U
configuration; a given Vela-compiled ``.tflite`` is embedded as it is.
"""

from __future__ import annotations

from pathlib import Path

from npubench.measure.firmware.common import copy_file, write_template
from npubench.measure.firmware.model_forms import arena_estimate, io_values, tflm_model
from npubench.measure.firmware.sdks import Job, Parts, Sdk, marker_fields

_NPU_INIT = """    {
        /* Ethos-U55 driver bound to the NPU's registers, its IRQ routed to the driver. */
        static int npu_ready = 0;
        if (!npu_ready) {
            if (npb_we2_npu_init() != 0) {
                return 4;
            }
            npu_ready = 1;
        }
    }"""


def write(job: Job) -> Parts:
    from npubench.toolchains.vela import compile_tflite
    from npubench.toolchains.vela import vela_tflite as vela_model

    board, model, out = job.board, job.model, job.out
    marker_fields(  # the port's pin mux is fixed: the board file must name that pin
        job,
        r"PB5(\s*\(GPIO16\))?",
        "PB5 (GPIO16)",
        hint="the WE2 port drives PB5 (GPIO16); for another pin set NPB_MARKER_GPIO and "
        "NPB_MARKER_PINMUX when building, and name that pin in [firmware].marker_pin",
    )
    if job.vendor_artifact is not None:
        artifact = Path(job.vendor_artifact)
        vela_tflite, note, sram = artifact, f"given Vela-compiled model {artifact.name}", None
    else:
        report = compile_tflite(model.tflite, board)
        vela_tflite, sram = vela_model(report), int(report.extra["sram_used_bytes"])
        time_us = report.cost.time_us if report.cost else None
        note = (
            f"Vela {report.tool_version} for {board.npu.name if board.npu else 'ethos-u'}: "
            f"{time_us or 0:.0f} us predicted, SRAM {sram} B"
            + ("" if report.fits else " (does NOT fit the board's memories)")
        )
    tflite_copy = copy_file(vela_tflite, out, f"model/{model.name}_vela.tflite")
    arena = job.arena_bytes or int(
        -(-((sram or arena_estimate(model.tflite)) + 16384) // 1024) * 1024
    )
    p = tflm_model(
        "himax-we2",
        board,
        model,
        out,
        out / tflite_copy,
        f"`{model.name}` compiled by Vela for the Ethos-U55 ({note}), as a C array, run by TFLM",
        arena,
        accel_init=_NPU_INIT,
        arena_attr='__attribute__((section(".tensor_arena")))',
        declarations=('extern "C" int npb_we2_npu_init(void);',),
    )
    p.model_files.insert(0, tflite_copy)
    p.model_files.append(
        write_template("himax-we2", "npb_we2_npu.c", out, "model/npb_we2_npu.c", {})
    )
    values = {"BOARD": board.name, "MARKER_PIN": job.firmware.marker_pin, **io_values(model)}
    p.values.update(values)
    p.build_files = [
        write_template("himax-we2", "build.sh", out, "build.sh", values),
        write_template("himax-we2", "npb_harness.mk", out, "npb_harness.mk", values),
        write_template("himax-we2", "main_entry.c.inc", out, "main_entry.c.inc", values),
    ]
    p.port_files = [
        write_template("himax-we2", "npb_port_we2.c", out, "port/npb_port_we2.c", values),
        write_template("himax-we2", "npb_we2_app.h", out, "port/npb_we2_app.h", values),
        write_template("common", "npb_dwt.h", out, "port/npb_dwt.h", {}),
    ]
    p.values["MODEL_FILES_DESC"] = (
        f"`{model.name}_vela.tflite` (Vela output), `npb_model_data.c/.h` (it as a 16-byte "
        "aligned C array), `npb_model_tflm.cc` (TFLM interpreter with the Ethos-U operator), "
        "`npb_we2_npu.c` (Ethos-U55 driver init), `npb_model_id.h`."
    )
    p.values["VENDOR_STEPS"] = ""
    return p


SDK = Sdk(
    name="himax-we2",
    title="Himax WE2 SDK (Seeed_Grove_Vision_AI_Module_V2)",
    short="the WE2 SDK",
    requirements="a checkout of HimaxWiseEyePlus/Seeed_Grove_Vision_AI_Module_V2 (WE2_SDK set) "
    "and Arm GNU Toolchain 13.2.rel1 on PATH",
    model_kind="tflite-array",
    build_command="./build.sh",
    flash_command="cd $WE2_SDK && python3 xmodem/xmodem_send.py --port=@@PORT@@ "
    "--baudrate=@@BAUD@@ --protocol=xmodem "
    "--file=we2_image_gen_local/output_case1_sec_wlcsp/output.img",
    write=write,
    arm_gcc=True,
)
