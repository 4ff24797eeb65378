"""Analog Devices MSDK (MAX7800x): the CNN driver from ai8x-synthesis, timed as the stages.

The MAX7800x CNN does not run TFLite files: ADI's ai8x-synthesis turns a QAT model into
``cnn.c``/``cnn.h``/``weights.h``, which the project expects in ``model/`` (or embeds when given
as the vendor artifact). The marker is ``[firmware].marker_pin`` as ``P<port>.<pin>``.
"""

from __future__ import annotations

from dataclasses import dataclass

from npubench.measure.firmware.common import FirmwareError, VendorFile, write_template
from npubench.measure.firmware.model_forms import copy_vendor, io_values, model_id
from npubench.measure.firmware.sdks import Job, Parts, Sdk, board_file, marker_fields


@dataclass(frozen=True)
class MsdkPart:
    """What the MSDK needs per part (its ``TARGET``): the evaluation board it builds for and
    the CNN clock the part's examples use."""

    msdk_board: str
    cnn_clksel: str
    cnn_clkdiv: str


# The MSDK's parts this generator knows (``TARGET=`` of its Makefiles). The board file has no
# field for them yet: the part is the board's name in capitals.
PARTS: dict[str, MsdkPart] = {
    "MAX78000": MsdkPart(
        "FTHR_RevA", "MXC_S_GCR_PCLKDIV_CNNCLKSEL_PCLK", "MXC_S_GCR_PCLKDIV_CNNCLKDIV_DIV1"
    ),
    "MAX78002": MsdkPart(
        "EvKit_V1", "MXC_S_GCR_PCLKDIV_CNNCLKSEL_IPLL", "MXC_S_GCR_PCLKDIV_CNNCLKDIV_DIV4"
    ),
}


def _part(job: Job) -> tuple[str, MsdkPart]:
    target = job.board.name.upper()
    if target not in PARTS:
        raise FirmwareError(
            f"{board_file(job.board)}: [firmware].sdk = 'msdk', but the MSDK generator knows "
            f"no part {target} (its parts: {', '.join(PARTS)})",
            hint="add the part's evaluation board and CNN clock to PARTS in "
            "measure/firmware/sdks/msdk.py",
        )
    return target, PARTS[target]


def write(job: Job) -> Parts:
    board, model, out = job.board, job.model, job.out
    target, part = _part(job)
    pin = marker_fields(job, r"P(\d+)\.(\d+)", "P1.6")
    values = {
        "BOARD": board.name,
        "MARKER_PORT": pin.group(1),
        "MARKER_PIN": pin.group(2),
        "CHANNELS": str(model.input_shape[-1] if len(model.input_shape) >= 3 else 1),
        "MSDK_TARGET": target,
        "MSDK_BOARD": part.msdk_board,
        "MSDK_ELF": f"{board.name}.elf",
        "CNN_CLKSEL": part.cnn_clksel,
        "CNN_CLKDIV": part.cnn_clkdiv,
        **io_values(model),
    }
    p = Parts(values=values)
    p.build_files = [
        write_template("msdk", "build.sh", out, "build.sh", values),
        write_template("msdk", "project.mk", out, "project.mk", values),
    ]
    p.port_files = [
        write_template("msdk", "npb_port_msdk.c", out, "port/npb_port_msdk.c", values),
        write_template("common", "npb_dwt.h", out, "port/npb_dwt.h", {}),
    ]
    p.model_files = [
        write_template("msdk", "npb_model_cnn.c", out, "model/npb_model_cnn.c", values),
        model_id("msdk", model, out),
    ]
    names = ["cnn.c", "cnn.h", "weights.h"]
    p.model_files += copy_vendor(job.vendor_artifact, out, names)
    synth = (
        "ai8xize.py --test-dir synthed --prefix npb --checkpoint-file <qat_checkpoint.pth.tar> "
        f"--config-file <network.yaml> --device {target} --compact-data --mexpress --softmax "
        "--timer 0 --display-checkpoint --verbose"
    )
    p.vendor_files = [
        VendorFile(f"model/{n}", synth) for n in names if f"model/{n}" not in p.model_files
    ]
    p.values["MODEL_FILES_DESC"] = (
        "`npb_model_cnn.c` (the CNN driver calls timed as stages), `npb_model_id.h`, and "
        "`cnn.c`, `cnn.h`, `weights.h` from ai8x-synthesis."
    )
    p.values["VENDOR_STEPS"] = f"""## Produce the CNN files (ai8x-synthesis)

The MAX78000/MAX78002 CNN does not run TFLite files: ADI's `ai8x-synthesis` turns a model trained
(quantization-aware) with `ai8x-training`, plus a YAML network description, into C. It is not
installable from a package registry, so npubench cannot run it: the project expects its output at
`model/cnn.c`, `model/cnn.h` and `model/weights.h` (`build.sh` stops with a message until they
are there). With ai8x-synthesis checked out (github.com/analogdevicesinc/ai8x-synthesis):

```sh
{synth}
cp synthed/npb/cnn.c synthed/npb/cnn.h synthed/npb/weights.h model/
```

The network must be the same architecture as `{model.name}`; re-express it with `ai8x` layers
and train/QAT it in ai8x-training. Inputs of up to 4 channels are packed one pixel per 32-bit
word at `NPB_CNN_INPUT_ADDR` (default 0x50400000: compare with `load_input()` in the synthesized
`main.c`). Do not copy the synthesized `main.c`: the harness has its own.

"""
    return p


SDK = Sdk(
    name="msdk",
    title="Analog Devices MSDK (Maxim Micros SDK) 2024_02+",
    short="MSDK",
    requirements="the MSDK (MAXIM_PATH set; its arm-none-eabi-gcc and OpenOCD)",
    model_kind="vendor",
    build_command="./build.sh",
    flash_command="openocd -s $MAXIM_PATH/Tools/OpenOCD/scripts -f interface/cmsis-dap.cfg "
    '-f target/@@BOARDNAME@@.cfg -c "program build/@@BOARDNAME@@.elf verify reset exit"',
    write=write,
    arm_gcc=True,
)
