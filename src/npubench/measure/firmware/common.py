"""Shared pieces of the firmware project generators: the harness copy, C arrays, templates and
the project manifest.

A generated project is a folder with ``harness/`` (the measurement harness core copied byte for
byte from ``measure/harness/``, the tested one), ``port/`` (the board port for the SDK),
``model/`` (the model: generated C, a C array of a .tflite, or the path where a vendor tool's
output goes), the SDK's build files, a ``README.md`` and ``npb_project.json`` (the manifest the
tests and tools read: every file, the build and flash commands, the marker pin, the files a
vendor tool still has to produce).

May import ``npubench.errors`` and the standard library.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

from npubench.errors import NpubenchError

HARNESS_DIR = Path(__file__).resolve().parent.parent / "harness"
TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
HARNESS_CORE: tuple[str, ...] = (
    "npb_harness.c",
    "npb_harness.h",
    "npb_protocol.c",
    "npb_protocol.h",
    "npb_port.h",
    "npb_port_weak.c",
    "npb_model.h",
    "npb_model_weak.c",
)
"""The portable harness files every project carries unchanged."""
CGEN_GLUE = HARNESS_DIR / "models" / "cgen" / "npb_model_glue.c"
MANIFEST = "npb_project.json"
_PLACEHOLDER = re.compile(r"@@([A-Z0-9_]+)@@")


class FirmwareError(NpubenchError):
    """A firmware project cannot be generated for this board or model."""


@dataclass
class VendorFile:
    """A file the project needs that only the vendor's tool can produce here."""

    path: str  # project-relative
    produced_by: str  # the command that makes it


@dataclass
class ProjectManifest:
    """What a generated project contains and how to build and flash it."""

    board: str
    family: str
    sdk: str
    model: str
    model_sha256: str
    model_hash16: str
    model_kind: str  # "cgen" | "tflite-array" | "vendor"
    cpu: str
    build_command: str
    flash_command: str
    marker_pin: str
    baud: int
    build_files: list[str]
    harness_files: list[str]
    port_files: list[str]
    model_files: list[str]
    vendor_files: list[VendorFile] = field(default_factory=list)
    model_array: dict[str, object] | None = None  # {"c_file", "symbol", "source", "bytes"}
    mcpu: str | None = None  # arm-none-eabi-gcc -mcpu for Cortex-M families
    notes: list[str] = field(default_factory=list)

    def write(self, out_dir: Path) -> Path:
        path = out_dir / MANIFEST
        path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        return path

    @classmethod
    def read(cls, out_dir: Path) -> ProjectManifest:
        data = json.loads((Path(out_dir) / MANIFEST).read_text())
        data["vendor_files"] = [VendorFile(**v) for v in data.get("vendor_files", [])]
        return cls(**data)


def render(template: str, values: dict[str, str]) -> str:
    """``@@NAME@@`` placeholders replaced; an unknown or unused name is a generator bug."""
    missing = sorted(set(_PLACEHOLDER.findall(template)) - set(values))
    if missing:
        raise FirmwareError(
            f"template placeholders without a value: {', '.join(missing)}",
            hint="this is a bug in the firmware generator; please report it",
        )
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


def write_template(family: str, name: str, out_dir: Path, dest: str, values: dict[str, str]) -> str:
    """Renders ``templates/<family>/<name>`` (or ``templates/common/<name>``) to ``dest``."""
    src = TEMPLATES_DIR / family / name
    if not src.is_file():
        src = TEMPLATES_DIR / "common" / name
    target = out_dir / dest
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(src.read_text(), values))
    if dest.endswith(".sh"):
        target.chmod(0o755)
    return dest


def copy_harness(out_dir: Path, sub: str = "harness") -> list[str]:
    """Copies the harness core into ``out_dir/sub`` unchanged; returns the relative paths."""
    dest = out_dir / sub
    dest.mkdir(parents=True, exist_ok=True)
    files = []
    for name in HARNESS_CORE:
        shutil.copyfile(HARNESS_DIR / name, dest / name)
        files.append(f"{sub}/{name}")
    return files


def c_identifier(name: str) -> str:
    ident = re.sub(r"[^A-Za-z0-9_]", "_", name)
    return ident if ident and not ident[0].isdigit() else f"m_{ident}"


def firmware_model_name(name: str) -> str:
    """The HELLO ``name``: at most 24 letters, digits, '_' or '-'."""
    return re.sub(r"[^A-Za-z0-9_-]", "-", name)[:24] or "model"


def write_c_array(
    data_file: Path, out_dir: Path, stem: str, symbol: str, section: str | None = None
) -> tuple[list[str], dict[str, object]]:
    """``<stem>.c``/``.h`` holding the bytes of ``data_file`` as ``const unsigned char``.

    16-byte aligned (TFLM and the Ethos-U driver need it); ``section`` places it where the
    SDK's linker script expects constant model data.
    """
    data = Path(data_file).read_bytes()
    attrs = "aligned(16)" + (f', section("{section}")' if section else "")
    lines = [
        f"/* {Path(data_file).name}: {len(data)} bytes, sha256 "
        f"{hashlib.sha256(data).hexdigest()} (generated by npubench) */",
        f'#include "{stem}.h"',
        "",
        f"const unsigned char {symbol}[{len(data)}] __attribute__(({attrs})) = {{",
    ]
    for i in range(0, len(data), 16):
        lines.append("    " + ", ".join(f"0x{b:02x}" for b in data[i : i + 16]) + ",")
    lines += ["};", f"const unsigned int {symbol}_len = {len(data)}u;", ""]
    model_dir = out_dir / "model"
    model_dir.mkdir(parents=True, exist_ok=True)
    (model_dir / f"{stem}.c").write_text("\n".join(lines))
    guard = f"{stem.upper()}_H"
    (model_dir / f"{stem}.h").write_text(
        f"#ifndef {guard}\n#define {guard}\n\n"
        f"extern const unsigned char {symbol}[{len(data)}];\n"
        f"extern const unsigned int {symbol}_len;\n\n#endif\n"
    )
    info: dict[str, object] = {
        "c_file": f"model/{stem}.c",
        "symbol": symbol,
        "source": Path(data_file).name,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    return [f"model/{stem}.c", f"model/{stem}.h"], info


def copy_file(src: Path, out_dir: Path, dest: str) -> str:
    target = out_dir / dest
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, target)
    return dest
