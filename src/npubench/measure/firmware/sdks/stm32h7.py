"""STM32CubeH7 (HAL) with npubench's generated C: the int8 model as C bit-exact with TFLM's
reference kernels, on the Cortex-M7.

The marker is ``[firmware].marker_pin`` as ``P<port letter><pin>`` (``PB0``: GPIOB pin 0).
"""

from __future__ import annotations

from npubench.measure.firmware.common import write_template
from npubench.measure.firmware.model_forms import cgen_model, io_values
from npubench.measure.firmware.sdks import Job, Parts, Sdk, marker_fields


def stm32_marker(job: Job) -> dict[str, str]:
    """The HAL names of the marker pin: ``PB0`` -> ``GPIOB`` and ``GPIO_PIN_0``."""
    pin = marker_fields(job, r"P([A-Z])(\d{1,2})", "PB0")
    return {
        "MARKER_PIN": job.firmware.marker_pin,
        "STM32_MARKER_PORT": f"GPIO{pin.group(1)}",
        "STM32_MARKER_PIN": f"GPIO_PIN_{pin.group(2)}",
    }


def write(job: Job) -> Parts:
    board, model, out = job.board, job.model, job.out
    marker = stm32_marker(job)
    values = {
        "BOARD": board.name,
        "STM32_HAL_H": "stm32h7xx_hal.h",
        "STM32_UART": "USART3",
        "STM32_UART_PINS": "PD8 TX / PD9 RX",
        "STM32_UART_GPIO_PORT": "GPIOD",
        "STM32_UART_GPIO_PINS": "GPIO_PIN_8 | GPIO_PIN_9",
        "STM32_UART_AF": "GPIO_AF7_USART3",
        "STM32_CLOCK_ENABLES": f"__HAL_RCC_{marker['STM32_MARKER_PORT']}_CLK_ENABLE();\n"
        "    __HAL_RCC_GPIOD_CLK_ENABLE();\n    __HAL_RCC_USART3_CLK_ENABLE();",
        "STM32_CLOCK_NOTE": "the reset clock (64 MHz HSI); add a SystemClock_Config for 280 MHz.",
        **marker,
        "MODEL_HASH16": model.hash16,
        "MODEL_NAME": model.fw_name,
        **io_values(model),
    }
    p = cgen_model(model, out)
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


SDK = Sdk(
    name="stm32h7",
    title="STM32CubeH7 1.11+ (HAL) with npubench's generated C",
    short="STM32CubeH7",
    requirements="the STM32CubeH7 package (STM32CUBE_H7), arm-none-eabi-gcc, CMake 3.22+ and Ninja",
    model_kind="cgen",
    build_command="./build.sh",
    flash_command="STM32_Programmer_CLI -c port=SWD -w build/npb_harness.elf -v -rst",
    write=write,
    arm_gcc=True,
)
