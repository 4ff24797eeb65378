"""Firmware projects for every board family are complete, and their C compiles.

The vendor SDKs cannot be installed here, so each generated project is checked for completeness:
every file its build files reference exists (or is a vendor tool's output the README explains),
the harness sources are byte-identical to the tested core, the embedded model array holds exactly
the model file's bytes, the port defines every function of ``npb_port.h`` and the model port every
required function of ``npb_model.h``, and the README names the flash command. Then the portable
C (harness core, port, model port, generated model code) is compiled with ``arm-none-eabi-gcc -c``
for the family's ``-mcpu`` (host ``gcc -c`` for the Linux Duo port) against declaration-only SDK
shims (``measure/firmware/shims``); TFLM's C++ model port is not compiled (no TFLM headers).
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest

from npubench.analysis.tflite_reader import read_tflite
from npubench.measure.firmware import (
    BOARD_FAMILY,
    FirmwareError,
    ProjectManifest,
    family_for,
    generate_project,
)
from npubench.measure.firmware.common import HARNESS_CORE, HARNESS_DIR

MODEL = Path(__file__).parent.parent / "data" / "cgen" / "mlp_per_tensor.tflite"
SHIMS = HARNESS_DIR.parent / "firmware" / "shims"
PATH_TOKEN = re.compile(
    r"(?<![\w$/{(.*-])((?:[\w.-]+/)*[\w.-]+\.(?:c|cc|h|S|s|ld|mk|inc|tflite|raw|cvimodel))\b"
)


def prepared_mlp() -> SimpleNamespace:
    model = read_tflite(MODEL)
    shape = tuple(model.tensors[model.inputs[0]].shape)
    out_shape = tuple(model.tensors[model.outputs[0]].shape)
    return SimpleNamespace(
        name="mlp_per_tensor",
        int8_tflite=MODEL,
        sha256=hashlib.sha256(MODEL.read_bytes()).hexdigest(),
        input_shape=shape,
        output_shape=out_shape,
    )


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("fw")
    model = prepared_mlp()
    return {b: generate_project(b, model, root / b) for b in sorted(BOARD_FAMILY)}


BOARDS = sorted(BOARD_FAMILY)


def _prototypes(header: Path, prefix: str) -> list[str]:
    text = re.sub(r"/\*.*?\*/", "", header.read_text(), flags=re.S)
    return sorted(set(re.findall(rf"\b({prefix}\w+)\s*\([^;{{]*\)\s*;", text)))


def _defines(sources: list[Path], name: str) -> bool:
    pattern = re.compile(rf"\b{name}\s*\([^;{{]*\)\s*\{{", re.S)
    return any(pattern.search(p.read_text()) for p in sources)


def test_every_family_has_boards_in_the_catalogue() -> None:
    from npubench.targets import target_names

    assert set(BOARD_FAMILY) <= set(target_names())
    assert {family_for(b).name for b in BOARD_FAMILY} == {
        "msdk",
        "himax-we2",
        "mcuxpresso",
        "gap-sdk",
        "stm32h7",
        "stm32n6",
        "esp-idf",
        "duo-linux",
    }


@pytest.mark.parametrize("board", BOARDS)
def test_project_is_complete(projects: dict[str, Path], board: str) -> None:
    out = projects[board]
    m = ProjectManifest.read(out)
    assert m.board == board and m.model_hash16 == prepared_mlp().sha256[:16]
    listed = m.build_files + m.harness_files + m.port_files + m.model_files
    for rel in listed:
        assert (out / rel).is_file(), f"{board}: manifest lists missing {rel}"
    # The harness core is the tested one, byte for byte.
    assert sorted(Path(h).name for h in m.harness_files) == sorted(HARNESS_CORE)
    for rel in m.harness_files:
        assert (out / rel).read_bytes() == (HARNESS_DIR / Path(rel).name).read_bytes()
    # Every project file a build file names exists, or is a vendor output the README explains.
    vendor = {v.path: v.produced_by for v in m.vendor_files}
    readme = (out / "README.md").read_text()
    for build in m.build_files:
        # Comment lines of make/CMake/shell/nntool files may name SDK files: skip them.
        text = "\n".join(
            line
            for line in (out / build).read_text().splitlines()
            if not line.lstrip().startswith("#")
        )
        base = (out / build).parent
        for token in PATH_TOKEN.findall(text):
            if token.startswith(("BUILD_MODEL/", "model/st_ai_output/", "synthed/")):
                continue  # written by the vendor tool during the build
            rel = (base / token).resolve().relative_to(out.resolve()).as_posix()
            # A bare name is found through VPATH-style search paths (MSDK): anywhere in out.
            found = (out / rel).exists() or ("/" not in token and any(out.rglob(token)))
            vendored = rel in vendor or any(v.endswith("/" + token) for v in vendor)
            assert found or vendored, f"{board}: {build} names missing {rel}"
    for path, command in vendor.items():
        assert not (out / path).exists()
        assert Path(path).name in readme and command.split()[0] in readme
    assert m.flash_command in readme and m.build_command in readme
    assert m.marker_pin in readme and "D0" in readme  # PPK2 wiring
    for script in [b for b in m.build_files if b.endswith(".sh")]:
        assert (out / script).stat().st_mode & 0o111
    assert "@@" not in readme and all(
        "@@" not in (out / f).read_text(errors="replace")
        for f in listed
        if not f.endswith((".tflite", ".raw"))
    )


@pytest.mark.parametrize("board", BOARDS)
def test_port_and_model_port_implement_their_interfaces(
    projects: dict[str, Path], board: str
) -> None:
    out = projects[board]
    m = ProjectManifest.read(out)
    ports = [out / p for p in m.port_files if p.endswith(".c")]
    # npb_port_marker has a weak default, but every generated port drives a real marker pin.
    for name in _prototypes(out / "harness" / "npb_port.h", "npb_port_"):
        assert _defines(ports, name), f"{board}: the port does not define {name}()"
    model_sources = [out / p for p in m.model_files if p.endswith((".c", ".cc"))]
    api = (out / "harness" / "npb_model.h").read_text()
    section = api.split("---- required ---- */", 1)[1].split("/* ---- optional", 1)[0]
    section = re.sub(r"/\*.*?\*/", "", section, flags=re.S)
    required = re.findall(r"\b(npb_model_\w+)\s*\([^;{]*\)\s*;", section)
    assert len(set(required)) == 5  # name, hash, input/output bytes, invoke
    for name in sorted(set(required)):
        assert _defines(model_sources, name), f"{board}: no model port defines {name}()"


@pytest.mark.parametrize("board", [b for b in BOARDS if family_for(b).model_kind == "tflite-array"])
def test_model_array_holds_the_model_file(projects: dict[str, Path], board: str) -> None:
    out = projects[board]
    m = ProjectManifest.read(out)
    assert m.model_array is not None
    text = (out / str(m.model_array["c_file"])).read_text()
    symbol = m.model_array["symbol"]
    size = int(re.search(rf"const unsigned char {symbol}\[(\d+)\]", text).group(1))
    body = text.split("= {", 1)[1].split("};", 1)[0]
    data = bytes(int(x, 16) for x in re.findall(r"0x([0-9a-f]{2})", body))
    source = out / "model" / str(m.model_array["source"])
    assert size == len(data) == source.stat().st_size == m.model_array["bytes"]
    assert data == source.read_bytes()
    assert f"{symbol}_len = {size}u" in text


def test_we2_embeds_the_vela_model_and_registers_the_ethos_u_operator(
    projects: dict[str, Path],
) -> None:
    out = projects["hx-we2"]
    vela = out / "model" / "mlp_per_tensor_vela.tflite"
    assert [op.op for op in read_tflite(vela).operators] == ["CUSTOM:ethos-u"]
    port = (out / "model" / "npb_model_tflm.cc").read_text()
    assert "g_resolver.AddEthosU();" in port and "npb_we2_npu_init" in port


def test_mcxn947_without_neutron_model_runs_on_the_cpu_and_says_how_to_convert(
    projects: dict[str, Path],
) -> None:
    m = ProjectManifest.read(projects["mcxn947"])
    assert [v.path for v in m.vendor_files] == ["model/mlp_per_tensor_neutron.tflite"]
    assert any("Cortex-M33" in n for n in m.notes)
    ops = (projects["mcxn947"] / "model" / "npb_model_tflm.cc").read_text()
    assert "AddFullyConnected" in ops and "AddLogistic" in ops


def test_vendor_artifact_is_embedded(tmp_path: Path) -> None:
    cvimodel = tmp_path / "mlp.cvimodel"
    cvimodel.write_bytes(b"CVIMODEL-bytes")
    out = generate_project("cv1800b", prepared_mlp(), tmp_path / "duo", vendor_artifact=cvimodel)
    m = ProjectManifest.read(out)
    assert m.vendor_files == []
    assert (out / "model" / "mlp_per_tensor.cvimodel").read_bytes() == b"CVIMODEL-bytes"


def test_unknown_board_and_foreign_folder_are_refused(tmp_path: Path) -> None:
    with pytest.raises(FirmwareError) as e:
        generate_project("alif-e7-hp", prepared_mlp(), tmp_path / "x")
    assert "hx-we2" in (e.value.hint or "")
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(FirmwareError, match="not an npubench firmware project"):
        generate_project("stm32h7a3", prepared_mlp(), tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


# --------------------------------------------------------------------------- smoke compile

WARN = ["-Wall", "-Wextra", "-Werror", "-std=c99", "-Wstrict-prototypes", "-Wmissing-prototypes"]
CM_SHIMS = {
    "msdk": ("msdk", ["-DNPB_CNN_CLKSEL=0u", "-DNPB_CNN_CLKDIV=0u"]),
    "himax-we2": ("himax-we2", []),
    "mcuxpresso": ("mcuxpresso", []),
    "stm32h7": ("stm32", ["-DNPB_DWT_HAS_LAR"]),
    "stm32n6": ("stm32", []),
}


def _c_sources(out: Path, m: ProjectManifest) -> list[Path]:
    files = m.harness_files + m.port_files + m.model_files
    # The WE2 NPU init needs the Ethos-U driver headers: not part of the portable smoke test.
    return [out / f for f in files if f.endswith(".c") and not f.endswith("npb_we2_npu.c")]


def _compile(cmd: list[str], sources: list[Path], tmp: Path) -> None:
    for src in sources:
        proc = subprocess.run(
            [*cmd, "-c", str(src), "-o", str(tmp / (src.stem + ".o"))],
            capture_output=True,
            text=True,
            check=False,
        )
        assert proc.returncode == 0, f"{src.name}:\n{proc.stderr[-2000:]}"


@pytest.mark.skipif(shutil.which("arm-none-eabi-gcc") is None, reason="no arm-none-eabi-gcc")
@pytest.mark.parametrize("board", [b for b in BOARDS if family_for(b).mcpu])
def test_cortex_m_port_harness_and_model_compile(
    projects: dict[str, Path], board: str, tmp_path: Path
) -> None:
    out = projects[board]
    m = ProjectManifest.read(out)
    shim, flags = CM_SHIMS[m.family]
    includes = [f"-I{out / d}" for d in ("harness", "port", "model")] + [f"-I{SHIMS / shim}"]
    if m.model_kind == "cgen":
        flags = [*flags, f"-DNPB_MODEL_HASH={m.model_hash16}", "-DNPB_MODEL_NAME=mlp"]
    cmd = ["arm-none-eabi-gcc", f"-mcpu={m.mcpu}", "-mthumb", "-O2", "-ffreestanding", *WARN]
    sources = _c_sources(out, m)
    assert any("port/" in str(s) for s in sources) and any("harness/" in str(s) for s in sources)
    _compile([*cmd, *flags, *includes], sources, tmp_path)


@pytest.mark.skipif(shutil.which("gcc") is None, reason="no host gcc")
def test_duo_linux_port_compiles_with_host_gcc(projects: dict[str, Path], tmp_path: Path) -> None:
    out = projects["cv1800b"]
    m = ProjectManifest.read(out)
    includes = [f"-I{out / d}" for d in ("harness", "port", "model")]
    cmd = ["gcc", "-O2", *WARN, *includes, f"-I{SHIMS / 'duo-linux'}"]
    _compile(cmd, _c_sources(out, m), tmp_path)
