"""GreenWaves GAP SDK (PMSIS, NNTool, AutoTiler): the int8 model imported by NNTool at build
time, its AutoTiler kernels run on the cluster.

The marker is ``[firmware].marker_pin`` as ``GPIO A<n>``; PMSIS names that GPIO per chip
(on GAP8 by the pad it is routed to, on GAP9 by its number).
"""

from __future__ import annotations

from npubench.measure.firmware.common import FirmwareError, VendorFile, copy_file, write_template
from npubench.measure.firmware.model_forms import io_values, model_id
from npubench.measure.firmware.sdks import Job, Parts, Sdk, board_file, marker_fields

# GAP8 routes GPIO A0-A3 to the PACTRL pads (the GAPuino's header): PMSIS names them by pad.
_GAP8_PADS = {0: "PAD_12_A3", 1: "PAD_13_B2", 2: "PAD_14_A2", 3: "PAD_15_B1"}


def pmsis_gpio(chip: str, n: int) -> str:
    """The PMSIS ``pi_gpio_e`` of GPIO A``n`` on ``chip`` (``gap8`` or ``gap9``)."""
    if chip == "gap9":
        return f"PI_GPIO_A{n}"
    if chip == "gap8" and n in _GAP8_PADS:
        return f"PI_GPIO_A{n}_{_GAP8_PADS[n]}"
    raise FirmwareError(
        f"no PMSIS name for GPIO A{n} on {chip}",
        hint="GAP8 ports drive GPIO A0-A3 (pads 12-15); GAP9 ports any GPIO A<n>",
    )


def _chip(job: Job) -> str:
    # The GAP SDK builds per chip (TARGET_CHIP); the board file has no field for it yet, and a
    # GAP board is named by its chip.
    chip = job.board.name.split("-")[0]
    if chip not in ("gap8", "gap9"):
        raise FirmwareError(
            f"{board_file(job.board)}: [firmware].sdk = 'gap_sdk', but {chip!r} is not a GAP "
            "chip this generator knows (gap8, gap9)",
            hint="name the board after its chip, or add the chip's PMSIS GPIO names to "
            "measure/firmware/sdks/gap_sdk.py",
        )
    return chip


def write(job: Job) -> Parts:
    board, model, out = job.board, job.model, job.out
    pin = marker_fields(job, r"GPIO\s*A(\d+)", "GPIO A0")
    tflite_name = f"{model.name}.tflite"
    values = {
        "BOARD": board.name,
        "MARKER_PIN": job.firmware.marker_pin,
        "GAP_MARKER_GPIO": pmsis_gpio(_chip(job), int(pin.group(1))),
        "TFLITE_FILE": tflite_name,
        **io_values(model),
    }
    p = Parts(values=values)
    p.model_files = [
        copy_file(model.tflite, out, f"model/{tflite_name}"),
        write_template("gap-sdk", "npb_model_nntool.c", out, "model/npb_model_nntool.c", values),
        model_id("gap-sdk", model, out),
    ]
    p.build_files = [
        write_template("gap-sdk", "Makefile", out, "Makefile", values),
        write_template("gap-sdk", "nntool_script", out, "model/nntool_script", values),
    ]
    p.port_files = [write_template("gap-sdk", "npb_port_gap.c", out, "port/npb_port_gap.c", values)]
    p.vendor_files = [
        VendorFile("BUILD_MODEL/npbModel.c", "nntool (GAP SDK), run by `make model`"),
        VendorFile("BUILD_MODEL/npbInfo.h", "nntool (GAP SDK), run by `make model`"),
        VendorFile("BUILD_MODEL/npbKernels.c", "make model (NNTool + AutoTiler, GAP SDK)"),
    ]
    p.values["MODEL_FILES_DESC"] = (
        f"`{tflite_name}` (the int8 model NNTool imports), `nntool_script`, "
        "`npb_model_nntool.c` (cluster launch of the generated graph), `npb_model_id.h`."
    )
    p.values["VENDOR_STEPS"] = f"""## Model code (NNTool and the AutoTiler, at build time)

`make model` (part of `make all`) runs the GAP SDK's tools on `model/{tflite_name}`: `nntool`
imports the int8 graph and keeps its quantization (SQ8), writes the AutoTiler model
`BUILD_MODEL/npbModel.c` (and `npbInfo.h`), and the AutoTiler generator built from it writes
`BUILD_MODEL/npbKernels.c` / `npbKernels.h` (`npbCNN_Construct`, `npbCNN`, `npbCNN_Destruct`),
which `npb_model_nntool.c` calls. The rules follow the SDK's `common/model_rules.mk`; adapt the
NNTool flags in `model/nntool_script` for larger models (L3 memory, HyperRAM).

"""
    return p


SDK = Sdk(
    name="gap-sdk",
    title="GreenWaves GAP SDK 4.x/5.x (PMSIS, NNTool, AutoTiler)",
    short="the GAP SDK",
    requirements="the GAP SDK sourced (sourceme.sh: GAP_SDK_HOME, NNTool, AutoTiler)",
    model_kind="vendor",
    build_command="make all platform=board",
    flash_command="make run platform=board",
    write=write,
)
