"""NXP MCUXpresso SDK with eIQ: the model as a C array run by eIQ TFLM, on the Neutron NPU
once it is converted (``neutron-converter``), else on the Cortex-M33.

The marker is ``[firmware].marker_pin`` as ``P<port>_<pin>`` (GPIO<port> pin <pin>).
"""

from __future__ import annotations

from pathlib import Path

from npubench.measure.firmware.common import VendorFile, copy_file, write_template
from npubench.measure.firmware.model_forms import arena_estimate, io_values, tflm_model
from npubench.measure.firmware.sdks import Job, Parts, Sdk, marker_fields


def write(job: Job) -> Parts:
    board, model, out = job.board, job.model, job.out
    pin = marker_fields(job, r"P(\d+)_(\d+)", "P0_10")
    if job.vendor_artifact is not None:
        src, desc, neutron = Path(job.vendor_artifact), "converted by eIQ neutron-converter", True
    else:
        src, desc, neutron = model.tflite, "int8, not Neutron-converted (runs on the CPU)", False
    name = f"model/{model.name}{'_neutron' if neutron else ''}.tflite"
    tflite_copy = copy_file(src, out, name)
    p = tflm_model(
        "mcuxpresso",
        board,
        model,
        out,
        out / tflite_copy,
        f"`{model.name}` ({desc}) as a C array, run by eIQ TFLM",
        job.arena_bytes or arena_estimate(model.tflite),
    )
    p.model_files.insert(0, tflite_copy)
    values = {
        "BOARD": board.name,
        "MARKER_PIN": job.firmware.marker_pin,
        "MARKER_GPIO": f"GPIO{pin.group(1)}",
        "MARKER_GPIO_PIN": pin.group(2),
        "MCUX_NEUTRON_DEFINE": "NPB_NEUTRON" if neutron else "",
        **io_values(model),
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
            f"This project embeds the plain int8 model, which TFLM runs on the {_core(job)}: "
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


def _core(job: Job) -> str:
    """``cortex-m33`` -> ``Cortex-M33``, as the notes name the CPU."""
    return job.board.cpu.core.replace("cortex-m", "Cortex-M")


SDK = Sdk(
    name="mcuxpresso",
    title="NXP MCUXpresso SDK 2.16+ for FRDM-MCXN947 with eIQ",
    short="MCUXpresso",
    requirements="the MCUXpresso SDK for FRDM-MCXN947 with the eIQ middleware (MCUX_SDK_ROOT), "
    "ARMGCC_DIR, CMake 3.22+ and Ninja",
    model_kind="tflite-array",
    build_command="./build.sh",
    flash_command="LinkServer flash MCXN947:FRDM-MCXN947 load build/npb_harness.elf",
    write=write,
    arm_gcc=True,
)
