"""Every import in npubench follows the declared layer table (npubench.layers).

The checker reads each module's source with ``ast`` (lazy imports inside functions count too)
and resolves relative imports; ``TYPE_CHECKING`` imports count as well, since a type named across
a layer is a dependency all the same. A fake module with a forbidden import shows the checker
fails when it should.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import npubench
from npubench.layers import ALLOWED, allowed, unit_of

ROOT = Path(npubench.__file__).parent


def module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, imported module) for every import statement in the file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = (
        module_name(path) if path.name == "__init__.py" else module_name(path).rsplit(".", 1)[0]
    )
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append((node.lineno, target))
            # `from npubench import pipeline` imports the unit `pipeline`; `STAGES` is the root's.
            if target == "npubench":
                found += [
                    (node.lineno, f"npubench.{a.name}")
                    for a in node.names
                    if (ROOT / f"{a.name}.py").exists() or (ROOT / a.name).is_dir()
                ]
    return found


def violations(paths: list[Path]) -> list[str]:
    out = []
    for path in paths:
        importer = module_name(path)
        for line, imported in imports_of(path):
            if path.name == "_worker.py":
                if imported.startswith("npubench"):
                    out.append(f"{path}:{line}: worker script imports {imported}")
                continue
            if not allowed(importer, imported):
                out.append(
                    f"{path.relative_to(ROOT.parent)}:{line}: {unit_of(importer)} may not "
                    f"import {unit_of(imported)} ({imported})"
                )
    return out


def package_files() -> list[Path]:
    return sorted(p for p in ROOT.rglob("*.py") if "__pycache__" not in p.parts)


def test_every_import_follows_the_layer_table() -> None:
    problems = violations(package_files())
    assert not problems, "imports against the data flow:\n" + "\n".join(problems)


def test_every_unit_of_the_package_is_in_the_table() -> None:
    units = {unit_of(module_name(p)) for p in package_files()}
    assert units <= set(ALLOWED), f"units missing from npubench.layers: {units - set(ALLOWED)}"


def test_the_checker_catches_a_forbidden_import(tmp_path: Path) -> None:
    # A module of the `predict` unit that imports the pipeline: against the flow.
    fake = ROOT / "predict" / "_layer_test_fake.py"
    fake.write_text("def f():\n    from npubench.pipeline import bench\n    return bench\n")
    try:
        problems = violations([fake])
    finally:
        fake.unlink()
    assert problems and "predict may not import pipeline" in problems[0]


@pytest.mark.parametrize(
    ("importer", "imported", "ok"),
    [
        ("npubench.predict.latency", "npubench.targets.schema", True),
        ("npubench.targets.schema", "npubench.predict.latency", False),
        ("npubench.measure.runner", "npubench.store", False),
        ("npubench.cli.main", "npubench.api", True),
        ("npubench.errors", "numpy", True),
    ],
)
def test_allowed(importer: str, imported: str, ok: bool) -> None:
    assert allowed(importer, imported) is ok
