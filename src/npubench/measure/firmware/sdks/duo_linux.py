"""Linux on the Milk-V Duo with cviruntime: the model compiled by tpu-mlir to a ``.cvimodel``,
loaded at run time by a harness process that talks over one of the board's UARTs.

The marker is a sysfs GPIO named on the command line (``--marker .../gpioN/value``).
"""

from __future__ import annotations

from npubench.measure.firmware.common import VendorFile, copy_file, write_template
from npubench.measure.firmware.model_forms import copy_vendor, io_values, model_id
from npubench.measure.firmware.sdks import Job, Parts, Sdk


def write(job: Job) -> Parts:
    board, model, out = job.board, job.model, job.out
    cvimodel = f"{model.name}.cvimodel"
    values = {
        "BOARD": board.name,
        "MARKER_PIN": job.firmware.marker_pin,
        "CVIMODEL_FILE": cvimodel,
        **io_values(model),
    }
    p = Parts(values=values)
    p.model_files = [
        copy_file(model.tflite, out, f"model/{model.name}.tflite"),
        write_template("duo-linux", "npb_model_cvi.c", out, "model/npb_model_cvi.c", values),
        model_id("duo-linux", model, out),
    ]
    p.model_files += copy_vendor(job.vendor_artifact, out, [cvimodel])
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
    p.notes.append(
        "The marker GPIO is the sysfs value file given as `--marker /sys/class/gpio/gpioN/value`."
    )
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


SDK = Sdk(
    name="duo-linux",
    title="Milk-V Duo Linux (duo-sdk musl toolchain) + cviruntime",
    short="Linux/cviruntime",
    requirements="the duo-sdk (DUO_SDK: host-tools riscv64 musl gcc) and the cvitek TPU SDK for "
    "cv180x (TPU_SDK: cviruntime headers and libraries)",
    model_kind="vendor",
    build_command="./build.sh",
    flash_command="scp npb_duo model/@@CVIMODEL@@ root@192.168.42.1:/root/ && "
    "ssh root@192.168.42.1 '/root/npb_duo /root/@@CVIMODEL@@ /dev/ttyS1 "
    "--marker /sys/class/gpio/gpio@@GPIO@@/value &'",
    write=write,
)
