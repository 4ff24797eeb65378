"""Firmware project generators, one per board family and SDK.

``generate_project(board, prepared_model, out_dir)`` writes a complete project for the board's
SDK: the harness core (copied unchanged), a port for the SDK (UART link, cycle-counter time
base, stage-marker GPIO), the model in the form that SDK runs (npubench's generated C, a C array
of the int8 or Vela-compiled ``.tflite`` for TFLM, or the place where the vendor tool's output
goes), build files, a README (build, flash, marker pin, power wiring) and ``npb_project.json``.

Families: MSDK (MAX78000/MAX78002), Himax WE2 SDK (hx-we2), MCUXpresso (mcxn947), GAP SDK
(gap8/gap9), STM32CubeH7 (stm32h7a3), STM32CubeN6 (stm32n6), ESP-IDF (esp32s3), Linux on the
Milk-V Duo (cv1800b).

This is an orchestration module: besides ``npubench.errors``/``targets`` it imports (lazily)
``compilers.cgen``, ``compilers.vela`` and ``analysis.tflite_reader``.
"""

from __future__ import annotations

import math
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from npubench import __version__
from npubench.measure.firmware.common import (
    CGEN_GLUE,
    FirmwareError,
    ProjectManifest,
    VendorFile,
    copy_file,
    copy_harness,
    firmware_model_name,
    write_c_array,
    write_template,
)
from npubench.targets import Board


@dataclass(frozen=True)
class ModelInfo:
    """What a generator needs to know about the prepared int8 model."""

    name: str
    tflite: Path
    sha256: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]

    @classmethod
    def of(cls, prepared: Any) -> ModelInfo:
        return cls(
            name=str(prepared.name),
            tflite=Path(prepared.int8_tflite),
            sha256=str(prepared.sha256),
            input_shape=tuple(int(d) for d in prepared.input_shape),
            output_shape=tuple(int(d) for d in prepared.output_shape),
        )

    @property
    def input_bytes(self) -> int:
        return math.prod(self.input_shape)

    @property
    def output_bytes(self) -> int:
        return math.prod(self.output_shape)

    @property
    def hash16(self) -> str:
        return self.sha256[:16].lower()

    @property
    def fw_name(self) -> str:
        return firmware_model_name(self.name)


@dataclass
class Parts:
    """What one family's generator wrote, for the manifest and the README."""

    build_files: list[str] = field(default_factory=list)
    port_files: list[str] = field(default_factory=list)
    model_files: list[str] = field(default_factory=list)
    vendor_files: list[VendorFile] = field(default_factory=list)
    model_array: dict[str, object] | None = None
    values: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Family:
    """A board family: its SDK, its template folder and how its model is embedded."""

    name: str
    sdk: str
    sdk_short: str
    sdk_requirements: str
    boards: tuple[str, ...]
    model_kind: str
    mcpu: str | None
    timebase: str
    host_link: str
    marker_pin: str
    baud: int
    port_example: str
    supply: str
    build_command: str
    flash_command: str
    write: Callable[[Board, ModelInfo, Path, Path | None, int | None], Parts]


# --------------------------------------------------------------------------- model forms

# TFLite builtin operator -> MicroMutableOpResolver method (TFLM API).
_TFLM_ADD = {
    "ADD": "AddAdd",
    "AVERAGE_POOL_2D": "AddAveragePool2D",
    "CONCATENATION": "AddConcatenation",
    "CONV_2D": "AddConv2D",
    "DEPTHWISE_CONV_2D": "AddDepthwiseConv2D",
    "DEQUANTIZE": "AddDequantize",
    "EXPAND_DIMS": "AddExpandDims",
    "FULLY_CONNECTED": "AddFullyConnected",
    "HARD_SWISH": "AddHardSwish",
    "LOGISTIC": "AddLogistic",
    "MAX_POOL_2D": "AddMaxPool2D",
    "MEAN": "AddMean",
    "MUL": "AddMul",
    "PAD": "AddPad",
    "QUANTIZE": "AddQuantize",
    "RELU": "AddRelu",
    "RELU6": "AddRelu6",
    "RESHAPE": "AddReshape",
    "RESIZE_NEAREST_NEIGHBOR": "AddResizeNearestNeighbor",
    "SOFTMAX": "AddSoftmax",
    "SQUEEZE": "AddSqueeze",
    "STRIDED_SLICE": "AddStridedSlice",
    "SUB": "AddSub",
    "TANH": "AddTanh",
    "TRANSPOSE": "AddTranspose",
    "CUSTOM:ethos-u": "AddEthosU",
}
_TFLM_CUSTOM = {
    "CUSTOM:NeutronGraph": (
        '#include "tensorflow/lite/micro/kernels/neutron/neutron.h"',
        "g_resolver.AddCustom(tflite::GetString_NEUTRON_GRAPH(), "
        "tflite::Register_NEUTRON_GRAPH());",
    )
}


def tflm_operators(tflite: Path) -> list[str]:
    """The distinct operators of a .tflite, in first-use order (``CUSTOM:<name>`` for custom)."""
    from npubench.analysis.tflite_reader import read_tflite

    seen: list[str] = []
    for op in read_tflite(Path(tflite)).operators:
        if op.op not in seen:
            seen.append(op.op)
    return seen


def _tflm_model(
    family: str,
    board: Board,
    model: ModelInfo,
    out: Path,
    tflite: Path,
    desc: str,
    arena: int,
    *,
    accel_init: str = "",
    arena_attr: str = "",
    declarations: tuple[str, ...] = (),
) -> Parts:
    """The embedded .tflite and the TFLM model port for it."""
    files, array = write_c_array(tflite, out, "npb_model_data", "npb_model_tflite")
    ops = tflm_operators(tflite)
    includes, lines = list(declarations), []
    for op in ops:
        if op in _TFLM_ADD:
            lines.append(f"    g_resolver.{_TFLM_ADD[op]}();")
        elif op in _TFLM_CUSTOM:
            include, line = _TFLM_CUSTOM[op]
            includes.append(include)
            lines.append(f"    {line}")
        else:
            raise FirmwareError(
                f"{tflite.name} uses operator {op}, which the TFLM model port does not register",
                hint="add it to _TFLM_ADD in measure/firmware/projects.py",
            )
    values = {
        "BOARD": board.name,
        "MODEL_DESC": desc,
        "ARENA_BYTES": str(arena),
        "ARENA_ATTR": arena_attr,
        "OP_COUNT": str(max(len(lines), 1)),
        "TFLM_OPS": "\n".join(lines),
        "TFLM_EXTRA_INCLUDES": "\n".join(includes),
        "TFLM_ACCEL_INIT": accel_init,
    }
    files.append(
        write_template(family, "npb_model_tflm.cc", out, "model/npb_model_tflm.cc", values)
    )
    files.append(_model_id(family, model, out))
    parts = Parts(model_files=files, model_array=array, values={"MODEL_DESC": desc})
    parts.notes.append(f"TFLM operators registered: {', '.join(ops)}; tensor arena {arena} bytes.")
    return parts


def _model_id(family: str, model: ModelInfo, out: Path) -> str:
    return write_template(
        family,
        "npb_model_id.h",
        out,
        "model/npb_model_id.h",
        {
            "MODEL_NAME": model.fw_name,
            "MODEL_HASH16": model.hash16,
            "MODEL_SHA256": model.sha256,
            "INPUT_BYTES": str(model.input_bytes),
            "OUTPUT_BYTES": str(model.output_bytes),
        },
    )


def _cgen_model(model: ModelInfo, out: Path) -> Parts:
    """npubench's generated C (bit-exact with TFLM's reference kernels) plus the cgen glue."""
    from npubench.compilers.cgen import generate_c

    result = generate_c(model.tflite, out / "model", prefix="npb_model")
    files = sorted(f"model/{p.name}" for p in (out / "model").iterdir() if p.suffix in (".c", ".h"))
    files.append(copy_file(CGEN_GLUE, out, "model/npb_model_glue.c"))
    parts = Parts(model_files=sorted(set(files)))
    parts.notes.append(
        f"Model code: npubench cgen, static arena {result.arena_bytes} bytes, constants "
        f"{result.constant_bytes} bytes, operators {result.operators}."
    )
    return parts


def _arena_estimate(tflite: Path) -> int:
    """TFLM arena for a model: twice the peak activation plus 16 KiB of interpreter state."""
    from npubench.analysis.graph import analyze_tflite

    peak = analyze_tflite(Path(tflite)).peak_activation_bytes or 0
    return int(-(-(2 * peak + 16384) // 1024) * 1024)


def _io_values(model: ModelInfo) -> dict[str, str]:
    def room(n: int) -> str:
        return str(max(64, -(-n // 8) * 8))

    return {"MAX_IN": room(model.input_bytes), "MAX_OUT": room(model.output_bytes)}


def _copy_vendor(artifact: Path | None, out: Path, names: list[str]) -> list[str]:
    """Copies vendor outputs (a folder holding ``names``, or one file) into model/."""
    copied: list[str] = []
    if artifact is None:
        return copied
    artifact = Path(artifact)
    sources = [artifact / n for n in names] if artifact.is_dir() else [artifact]
    for src in sources:
        if not src.is_file():
            raise FirmwareError(
                f"vendor artifact {src} not found",
                hint=f"pass the folder holding {', '.join(names)} (or the file itself)",
            )
        dest = names[0] if not artifact.is_dir() else src.name
        copied.append(copy_file(src, out, f"model/{dest}"))
    return copied


# --------------------------------------------------------------------------- families


def _msdk(board: Board, model: ModelInfo, out: Path, artifact: Path | None, arena: int | None):
    target = board.name.upper()
    values = {
        "BOARD": board.name,
        "MARKER_PORT": "1",
        "MARKER_PIN": "6",
        "CHANNELS": str(model.input_shape[-1] if len(model.input_shape) >= 3 else 1),
        "MSDK_TARGET": target,
        "MSDK_BOARD": "FTHR_RevA" if board.name == "max78000" else "EvKit_V1",
        "MSDK_ELF": f"{board.name}.elf",
        "CNN_CLKSEL": "MXC_S_GCR_PCLKDIV_CNNCLKSEL_PCLK"
        if board.name == "max78000"
        else "MXC_S_GCR_PCLKDIV_CNNCLKSEL_IPLL",
        "CNN_CLKDIV": "MXC_S_GCR_PCLKDIV_CNNCLKDIV_DIV1"
        if board.name == "max78000"
        else "MXC_S_GCR_PCLKDIV_CNNCLKDIV_DIV4",
        **_io_values(model),
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
        _model_id("msdk", model, out),
    ]
    names = ["cnn.c", "cnn.h", "weights.h"]
    p.model_files += _copy_vendor(artifact, out, names)
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


def _we2(board: Board, model: ModelInfo, out: Path, artifact: Path | None, arena: int | None):
    from npubench.toolchains.vela import compile_tflite
    from npubench.toolchains.vela import vela_tflite as vela_model

    if artifact is not None:
        vela_tflite, note = Path(artifact), f"given Vela-compiled model {Path(artifact).name}"
        sram = None
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
    arena = arena or int(-(-((sram or _arena_estimate(model.tflite)) + 16384) // 1024) * 1024)
    accel = """    {
        /* Ethos-U55 driver bound to the NPU's registers, its IRQ routed to the driver. */
        static int npu_ready = 0;
        if (!npu_ready) {
            if (npb_we2_npu_init() != 0) {
                return 4;
            }
            npu_ready = 1;
        }
    }"""
    p = _tflm_model(
        "himax-we2",
        board,
        model,
        out,
        out / tflite_copy,
        f"`{model.name}` compiled by Vela for the Ethos-U55 ({note}), as a C array, run by TFLM",
        arena,
        accel_init=accel,
        arena_attr='__attribute__((section(".tensor_arena")))',
        declarations=('extern "C" int npb_we2_npu_init(void);',),
    )
    p.model_files.insert(0, tflite_copy)
    p.model_files.append(
        write_template("himax-we2", "npb_we2_npu.c", out, "model/npb_we2_npu.c", {})
    )
    values = {"BOARD": board.name, "MARKER_PIN": "PB5 (GPIO16)", **_io_values(model)}
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


def _mcux(board: Board, model: ModelInfo, out: Path, artifact: Path | None, arena: int | None):
    if artifact is not None:
        src, desc, neutron = Path(artifact), "converted by eIQ neutron-converter", True
    else:
        src, desc, neutron = model.tflite, "int8, not Neutron-converted (runs on the CPU)", False
    name = f"model/{model.name}{'_neutron' if neutron else ''}.tflite"
    tflite_copy = copy_file(src, out, name)
    p = _tflm_model(
        "mcuxpresso",
        board,
        model,
        out,
        out / tflite_copy,
        f"`{model.name}` ({desc}) as a C array, run by eIQ TFLM",
        arena or _arena_estimate(model.tflite),
    )
    p.model_files.insert(0, tflite_copy)
    values = {
        "BOARD": board.name,
        "MARKER_PIN": "P0_10 (GPIO0 pin 10)",
        "MARKER_GPIO": "GPIO0",
        "MARKER_GPIO_PIN": "10",
        "MCUX_NEUTRON_DEFINE": "NPB_NEUTRON" if neutron else "",
        **_io_values(model),
    }
    p.values.update(values)
    p.build_files = [
        write_template("mcuxpresso", "build.sh", out, "build.sh", values),
        write_template("mcuxpresso", "CMakeLists.txt", out, "CMakeLists.txt", values),
    ]
    p.port_files = [
        write_template("mcuxpresso", "npb_port_mcux.c", out, "port/npb_port_mcux.c", values),
        write_template("common", "npb_dwt.h", out, "port/npb_dwt.h", {}),
    ]
    convert = (
        f"neutron-converter --input {Path(model.tflite).name} --output {model.name}_neutron.tflite "
        "--target mcxn94x"
    )
    if not neutron:
        p.vendor_files = [VendorFile(f"model/{model.name}_neutron.tflite", convert)]
        p.notes.append(
            "This project embeds the plain int8 model, which TFLM runs on the Cortex-M33: "
            "convert it for the Neutron NPU and regenerate (vendor_artifact=) to measure the NPU."
        )
    p.values["MODEL_FILES_DESC"] = (
        "the model `.tflite`, `npb_model_data.c/.h` (it as a C array), `npb_model_tflm.cc` "
        "(eIQ TFLM, with the NeutronGraph kernel when the model is converted), `npb_model_id.h`."
    )
    p.values["VENDOR_STEPS"] = f"""## Convert the model for the Neutron NPU (eIQ)

NXP's `neutron-converter` (eIQ Toolkit / MCUXpresso SDK `middleware/eiq/tensorflow-lite/tools`)
is not on a package registry. Convert the int8 model, then regenerate this project with the
converted file (`generate_project(..., vendor_artifact=Path("{model.name}_neutron.tflite"))`):

```sh
{convert}
```

"""
    return p


def _gap(board: Board, model: ModelInfo, out: Path, artifact: Path | None, arena: int | None):
    tflite_name = f"{model.name}.tflite"
    values = {
        "BOARD": board.name,
        "MARKER_PIN": "GPIO A0 (pad 12)" if board.name == "gap8" else "GPIO 42",
        "GAP_MARKER_GPIO": "PI_GPIO_A0_PAD_12_A3" if board.name == "gap8" else "PI_GPIO_A42",
        "TFLITE_FILE": tflite_name,
        **_io_values(model),
    }
    p = Parts(values=values)
    p.model_files = [
        copy_file(model.tflite, out, f"model/{tflite_name}"),
        write_template("gap-sdk", "npb_model_nntool.c", out, "model/npb_model_nntool.c", values),
        _model_id("gap-sdk", model, out),
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


def _stm32h7(board: Board, model: ModelInfo, out: Path, artifact: Path | None, arena: int | None):
    values = {
        "BOARD": board.name,
        "MARKER_PIN": "PB0 (LD1, CN11/CN12 header on NUCLEO-H7A3ZI-Q)",
        "STM32_HAL_H": "stm32h7xx_hal.h",
        "STM32_UART": "USART3",
        "STM32_UART_PINS": "PD8 TX / PD9 RX",
        "STM32_UART_GPIO_PORT": "GPIOD",
        "STM32_UART_GPIO_PINS": "GPIO_PIN_8 | GPIO_PIN_9",
        "STM32_UART_AF": "GPIO_AF7_USART3",
        "STM32_CLOCK_ENABLES": "__HAL_RCC_GPIOB_CLK_ENABLE();\n    __HAL_RCC_GPIOD_CLK_ENABLE();\n"
        "    __HAL_RCC_USART3_CLK_ENABLE();",
        "STM32_CLOCK_NOTE": "the reset clock (64 MHz HSI); add a SystemClock_Config for 280 MHz.",
        "STM32_MARKER_PORT": "GPIOB",
        "STM32_MARKER_PIN": "GPIO_PIN_0",
        "MODEL_HASH16": model.hash16,
        "MODEL_NAME": model.fw_name,
        **_io_values(model),
    }
    p = _cgen_model(model, out)
    p.values.update(values)
    p.build_files = [
        write_template("stm32h7", "build.sh", out, "build.sh", values),
        write_template("stm32h7", "CMakeLists.txt", out, "CMakeLists.txt", values),
    ]
    p.port_files = [
        write_template("stm32h7", "npb_port_stm32.c", out, "port/npb_port_stm32.c", values),
        write_template("stm32h7", "stm32h7xx_hal_conf.h", out, "port/stm32h7xx_hal_conf.h", {}),
        write_template("common", "npb_dwt.h", out, "port/npb_dwt.h", {}),
    ]
    p.values["MODEL_FILES_DESC"] = (
        "npubench's generated C for the int8 model (`model.c/.h`, `npb_kernels.c/.h`, bit-exact "
        "with TFLM's reference kernels) and `npb_model_glue.c`."
    )
    p.values["VENDOR_STEPS"] = """## X-CUBE-AI instead of npubench's C

To measure ST's code generator on the same board, generate `network.c` with
`stedgeai generate --model <int8 .tflite> --target stm32h7` and replace `model/` by a model port
calling `ai_network_run()` (npb_model.h: `npb_model_invoke` runs one inference).

"""
    return p


def _stm32n6(board: Board, model: ModelInfo, out: Path, artifact: Path | None, arena: int | None):
    tflite_name = f"{model.name}.tflite"
    values = {
        "BOARD": board.name,
        "MARKER_PIN": "PD0 (configurable: NPB_MARKER_PORT/NPB_MARKER_PIN)",
        "STM32_HAL_H": "stm32n6xx_hal.h",
        "STM32_UART": "USART1",
        "STM32_UART_PINS": "PE5 TX / PE6 RX",
        "STM32_UART_GPIO_PORT": "GPIOE",
        "STM32_UART_GPIO_PINS": "GPIO_PIN_5 | GPIO_PIN_6",
        "STM32_UART_AF": "GPIO_AF7_USART1",
        "STM32_CLOCK_ENABLES": "__HAL_RCC_GPIOD_CLK_ENABLE();\n    __HAL_RCC_GPIOE_CLK_ENABLE();\n"
        "    __HAL_RCC_USART1_CLK_ENABLE();",
        "STM32_CLOCK_NOTE": "as left by the boot ROM/FSBL; set the CPU and NPU clocks (800 MHz / "
        "1 GHz overdrive) in a SystemClock_Config for the study's figures.",
        "STM32_MARKER_PORT": "GPIOD",
        "STM32_MARKER_PIN": "GPIO_PIN_0",
        "TFLITE_FILE": tflite_name,
        **_io_values(model),
    }
    p = Parts(values=values)
    p.model_files = [
        copy_file(model.tflite, out, f"model/{tflite_name}"),
        write_template("stm32n6", "npb_model_aton.c", out, "model/npb_model_aton.c", values),
        _model_id("stm32n6", model, out),
    ]
    names = ["network.c", "network_atonbuf.xSPI2.raw"]
    p.model_files += _copy_vendor(artifact, out, names)
    generate = (
        f"stedgeai generate --model model/{tflite_name} --target stm32n6 --st-neural-art "
        "--output model/st_ai_output"
    )
    p.vendor_files = [
        VendorFile(f"model/{n}", generate) for n in names if f"model/{n}" not in p.model_files
    ]
    p.build_files = [
        write_template("stm32n6", "build.sh", out, "build.sh", values),
        write_template("stm32n6", "CMakeLists.txt", out, "CMakeLists.txt", values),
    ]
    p.port_files = [
        write_template("stm32n6", "npb_port_stm32.c", out, "port/npb_port_stm32.c", values),
        write_template("stm32n6", "stm32n6xx_hal_conf.h", out, "port/stm32n6xx_hal_conf.h", {}),
        write_template("common", "npb_dwt.h", out, "port/npb_dwt.h", {}),
    ]
    p.values["MODEL_FILES_DESC"] = (
        f"`{tflite_name}` (input of stedgeai), `npb_model_aton.c` (LL_ATON runtime calls timed "
        "as stages), `npb_model_id.h`, and `network.c` + `network_atonbuf.xSPI2.raw` from stedgeai."
    )
    p.values["VENDOR_STEPS"] = f"""## Generate the Neural-ART network (ST Edge AI Core)

`stedgeai` (ST Edge AI Core 2.x) is not on a package registry. `build.sh` runs it when
`model/network.c` is missing and `stedgeai` is on PATH:

```sh
{generate}
cp model/st_ai_output/network.c model/st_ai_output/network_atonbuf.xSPI2.raw model/
```

"""
    return p


def _esp(board: Board, model: ModelInfo, out: Path, artifact: Path | None, arena: int | None):
    values = {
        "BOARD": board.name,
        "MARKER_PIN": "GPIO4",
        "MARKER_GPIO_NUM": "4",
        "MODEL_HASH16": model.hash16,
        "MODEL_NAME": model.fw_name,
        **_io_values(model),
    }
    p = _cgen_model(model, out)
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


def _duo(board: Board, model: ModelInfo, out: Path, artifact: Path | None, arena: int | None):
    cvimodel = f"{model.name}.cvimodel"
    values = {
        "BOARD": board.name,
        "MARKER_PIN": "a sysfs GPIO (--marker /sys/class/gpio/gpioN/value)",
        "CVIMODEL_FILE": cvimodel,
        **_io_values(model),
    }
    p = Parts(values=values)
    p.model_files = [
        copy_file(model.tflite, out, f"model/{model.name}.tflite"),
        write_template("duo-linux", "npb_model_cvi.c", out, "model/npb_model_cvi.c", values),
        _model_id("duo-linux", model, out),
    ]
    p.model_files += _copy_vendor(artifact, out, [cvimodel])
    deploy = (
        f"model_transform --model_name {model.name} --model_def model/{model.name}.tflite "
        f"--mlir {model.name}.mlir && model_deploy --mlir {model.name}.mlir --quantize INT8 "
        f"--processor cv180x --quant_input --quant_output --model model/{cvimodel}"
    )
    if f"model/{cvimodel}" not in p.model_files:
        p.vendor_files = [VendorFile(f"model/{cvimodel}", deploy)]
    p.build_files = [
        write_template("duo-linux", "build.sh", out, "build.sh", values),
        write_template("duo-linux", "Makefile", out, "Makefile", values),
    ]
    p.port_files = [
        write_template("duo-linux", "npb_port_duo.c", out, "port/npb_port_duo.c", values)
    ]
    p.values["MODEL_FILES_DESC"] = (
        f"`{model.name}.tflite` (input of tpu-mlir), `npb_model_cvi.c` (cviruntime calls timed "
        f"as stages), `npb_model_id.h`, and `{cvimodel}` from tpu-mlir (loaded at run time)."
    )
    p.values["VENDOR_STEPS"] = f"""## Compile the model for the CV1800B TPU (tpu-mlir)

tpu-mlir 1.x needs Python 3.10 (see TOOLCHAINS.md). Deploy with int8 input and output so that
the tensors are the bytes npubench sends and checks:

```sh
{deploy}
```

TFLite models are imported directly by tpu-mlir 1.x; for an ONNX source use
`--model_def model.onnx` plus `--input_shapes`.

"""
    return p


_CM_SUPPLY = "3.3 V"
FAMILIES: dict[str, Family] = {
    f.name: f
    for f in (
        Family(
            "msdk",
            "Analog Devices MSDK (Maxim Micros SDK) 2024_02+",
            "MSDK",
            "the MSDK (MAXIM_PATH set; its arm-none-eabi-gcc and OpenOCD)",
            ("max78000", "max78002"),
            "vendor",
            "cortex-m4",
            "DWT cycle counter of the Cortex-M4F (cycles at SystemCoreClock, cycle_accurate=1)",
            "console UART (CONSOLE_UART) via the board's USB serial, 115200 8N1",
            "P1.6",
            115200,
            "/dev/ttyACM0",
            _CM_SUPPLY,
            "./build.sh",
            "openocd -s $MAXIM_PATH/Tools/OpenOCD/scripts -f interface/cmsis-dap.cfg "
            '-f target/@@BOARDNAME@@.cfg -c "program build/@@BOARDNAME@@.elf verify reset exit"',
            _msdk,
        ),
        Family(
            "himax-we2",
            "Himax WE2 SDK (Seeed_Grove_Vision_AI_Module_V2)",
            "the WE2 SDK",
            "a checkout of HimaxWiseEyePlus/Seeed_Grove_Vision_AI_Module_V2 (WE2_SDK set) and "
            "Arm GNU Toolchain 13.2.rel1 on PATH",
            ("hx-we2",),
            "tflite-array",
            "cortex-m55",
            "DWT cycle counter of the Cortex-M55 (cycle_accurate=1)",
            "DW UART0 over the board's USB-C serial, 921600 8N1 (as board_init opens it)",
            "PB5 (GPIO16)",
            921600,
            "/dev/ttyACM0",
            "5 V (USB-C) or 3.3 V (header 3V3)",
            "./build.sh",
            "cd $WE2_SDK && python3 xmodem/xmodem_send.py --port=/dev/ttyACM0 --baudrate=921600 "
            "--protocol=xmodem --file=we2_image_gen_local/output_case1_sec_wlcsp/output.img",
            _we2,
        ),
        Family(
            "mcuxpresso",
            "NXP MCUXpresso SDK 2.16+ for FRDM-MCXN947 with eIQ",
            "MCUXpresso",
            "the MCUXpresso SDK for FRDM-MCXN947 with the eIQ middleware (MCUX_SDK_ROOT), "
            "ARMGCC_DIR, CMake 3.22+ and Ninja",
            ("mcxn947",),
            "tflite-array",
            "cortex-m33",
            "DWT cycle counter of the Cortex-M33 core 0 (cycle_accurate=1)",
            "LPUART4 (FLEXCOMM4) over the MCU-Link USB serial, 115200 8N1",
            "P0_10",
            115200,
            "/dev/ttyACM0",
            _CM_SUPPLY,
            "./build.sh",
            "LinkServer flash MCXN947:FRDM-MCXN947 load build/npb_harness.elf",
            _mcux,
        ),
        Family(
            "gap-sdk",
            "GreenWaves GAP SDK 4.x/5.x (PMSIS, NNTool, AutoTiler)",
            "the GAP SDK",
            "the GAP SDK sourced (sourceme.sh: GAP_SDK_HOME, NNTool, AutoTiler)",
            ("gap8", "gap9"),
            "vendor",
            None,
            "fabric-controller cycle counter (pi_perf PI_PERF_CYCLES, cycle_accurate=1)",
            "chip UART over the board's FTDI USB serial, 115200 8N1",
            "GPIO A0",
            115200,
            "/dev/ttyUSB1",
            "1.8 V (GAP9 EVK) / 3.3 V (GAPuino)",
            "make all platform=board",
            "make run platform=board",
            _gap,
        ),
        Family(
            "stm32h7",
            "STM32CubeH7 1.11+ (HAL) with npubench's generated C",
            "STM32CubeH7",
            "the STM32CubeH7 package (STM32CUBE_H7), arm-none-eabi-gcc, CMake 3.22+ and Ninja",
            ("stm32h7a3",),
            "cgen",
            "cortex-m7",
            "DWT cycle counter of the Cortex-M7 (cycle_accurate=1)",
            "USART3 (PD8/PD9) via the ST-LINK virtual COM port, 115200 8N1",
            "PB0",
            115200,
            "/dev/ttyACM0",
            _CM_SUPPLY,
            "./build.sh",
            "STM32_Programmer_CLI -c port=SWD -w build/npb_harness.elf -v -rst",
            _stm32h7,
        ),
        Family(
            "stm32n6",
            "STM32CubeN6 1.x + ST Edge AI Core 2.x (Neural-ART)",
            "STM32CubeN6",
            "STM32CubeN6 (STM32CUBE_N6), ST Edge AI Core (STEDGEAI_CORE_DIR, stedgeai on PATH), "
            "arm-none-eabi-gcc, CMake 3.22+ and Ninja",
            ("stm32n6",),
            "vendor",
            "cortex-m55",
            "DWT cycle counter of the Cortex-M55 (cycle_accurate=1)",
            "USART1 via the ST-LINK virtual COM port, 115200 8N1",
            "PD0",
            115200,
            "/dev/ttyACM0",
            _CM_SUPPLY,
            "./build.sh",
            "STM32_Programmer_CLI -c port=SWD mode=HOTPLUG "
            "-el <your board's external loader>.stldr "
            "-w model/network_atonbuf.xSPI2.raw 0x70380000 && "
            "STM32_Programmer_CLI -c port=SWD mode=HOTPLUG -w build/npb_harness.elf -rst",
            _stm32n6,
        ),
        Family(
            "esp-idf",
            "ESP-IDF 5.1+ with npubench's generated C",
            "ESP-IDF",
            "ESP-IDF v5.1 or later (`. $IDF_PATH/export.sh`)",
            ("esp32s3",),
            "cgen",
            None,
            "Xtensa CCOUNT cycle counter at the CPU clock (cycle_accurate=1)",
            "UART0 via the DevKitC's USB-UART bridge, 115200 8N1 (IDF console disabled)",
            "GPIO4",
            115200,
            "/dev/ttyUSB0",
            _CM_SUPPLY,
            "./build.sh",
            "idf.py -p /dev/ttyUSB0 flash",
            _esp,
        ),
        Family(
            "duo-linux",
            "Milk-V Duo Linux (duo-sdk musl toolchain) + cviruntime",
            "Linux/cviruntime",
            "the duo-sdk (DUO_SDK: host-tools riscv64 musl gcc) and the cvitek TPU SDK for cv180x "
            "(TPU_SDK: cviruntime headers and libraries)",
            ("cv1800b",),
            "vendor",
            None,
            "clock_gettime(CLOCK_MONOTONIC_RAW) in microseconds (cycle_accurate=0)",
            "a UART of the Duo's header (e.g. /dev/ttyS1 after duo-pinmux), 115200 8N1",
            "a sysfs GPIO",
            115200,
            "/dev/ttyUSB0",
            "5 V (USB-C)",
            "./build.sh",
            "scp npb_duo model/@@CVIMODEL@@ root@192.168.42.1:/root/ && ssh root@192.168.42.1 "
            "'/root/npb_duo /root/@@CVIMODEL@@ /dev/ttyS1 "
            "--marker /sys/class/gpio/gpio@@GPIO@@/value &'",
            _duo,
        ),
    )
}
BOARD_FAMILY: dict[str, str] = {b: f.name for f in FAMILIES.values() for b in f.boards}


def family_for(board: Board | str) -> Family:
    name = board if isinstance(board, str) else board.name
    try:
        return FAMILIES[BOARD_FAMILY[name]]
    except KeyError:
        raise FirmwareError(
            f"no firmware project generator for {name}",
            hint=f"boards with one: {', '.join(sorted(BOARD_FAMILY))}; emulated boards "
            "(qemu-*) are built and run directly by `npubench measure`",
        ) from None


def generate_project(
    board: Board | str,
    prepared_model: Any,
    out_dir: Path | str,
    *,
    vendor_artifact: Path | None = None,
    arena_bytes: int | None = None,
) -> Path:
    """Writes the firmware project for ``board`` running ``prepared_model`` into ``out_dir``.

    ``prepared_model`` is a ``PreparedModel`` (int8_tflite, sha256, name, input/output shape).
    ``vendor_artifact`` is a vendor tool's output to embed instead of asking for it (a
    Vela/Neutron-converted .tflite, a .cvimodel, or a folder with cnn.c/cnn.h/weights.h or
    network.c). Returns ``out_dir``.
    """
    if isinstance(board, str):
        from npubench.targets import get_target

        board = get_target(board)
    family = family_for(board)
    model = ModelInfo.of(prepared_model)
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        if not (out / "npb_project.json").is_file():
            raise FirmwareError(
                f"{out} exists and is not an npubench firmware project",
                hint="give an empty or new folder",
            )
        shutil.rmtree(out)  # regenerate a previous project from scratch
    out.mkdir(parents=True, exist_ok=True)
    harness = copy_harness(out)
    parts = family.write(board, model, out, vendor_artifact, arena_bytes)
    flash = (
        family.flash_command.replace("@@BOARDNAME@@", board.name)
        .replace("@@CVIMODEL@@", f"{model.name}.cvimodel")
        .replace("@@GPIO@@", "N")
    )
    manifest = ProjectManifest(
        board=board.name,
        family=family.name,
        sdk=family.sdk,
        model=model.name,
        model_sha256=model.sha256,
        model_hash16=model.hash16,
        model_kind=family.model_kind,
        cpu=board.cpu.core,
        build_command=family.build_command,
        flash_command=flash,
        marker_pin=parts.values.get("MARKER_PIN", family.marker_pin),
        baud=family.baud,
        build_files=parts.build_files,
        harness_files=harness,
        port_files=parts.port_files,
        model_files=parts.model_files,
        vendor_files=parts.vendor_files,
        model_array=parts.model_array,
        mcpu=family.mcpu,
        notes=parts.notes,
    )
    readme = {
        "MODEL": model.name,
        "BOARD": board.name,
        "BOARD_DISPLAY": board.display_name,
        "NPUBENCH_VERSION": __version__,
        "MODEL_SPEC_HINT": f"<the spec that prepared {model.name}>",
        "SDK": family.sdk,
        "SDK_SHORT": family.sdk_short,
        "SDK_REQUIREMENTS": family.sdk_requirements,
        "MODEL_DESC": parts.values.get("MODEL_DESC", f"`{model.name}` ({family.model_kind})"),
        "MODEL_HASH16": model.hash16,
        "TIMEBASE": family.timebase,
        "HOST_LINK": family.host_link,
        "MARKER_PIN": manifest.marker_pin,
        "MODEL_FILES_DESC": parts.values["MODEL_FILES_DESC"],
        "VENDOR_STEPS": parts.values.get("VENDOR_STEPS", ""),
        "BUILD_COMMAND": family.build_command,
        "FLASH_COMMAND": flash,
        "PORT_EXAMPLE": family.port_example,
        "BAUD_FLAG": "" if family.baud == 115200 else f" --baud {family.baud}",
        "SUPPLY": family.supply,
        "NOTES": "\n".join(f"- {n}" for n in parts.notes),
    }
    write_template("common", "README.md", out, "README.md", readme)
    manifest.write(out)
    return out
