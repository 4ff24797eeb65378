"""The zoo's facts as data: src/npubench/models/zoo/facts.toml against the real models, and
``npubench zoo`` served from it without building a model or importing torch."""

from __future__ import annotations

import difflib
import json
import subprocess
import sys

import pytest

from _cli import run_cli
from npubench.models.zoo import FAMILIES, ZOO
from npubench.models.zoo.facts import (
    FACTS_FILE,
    ROW_KEYS,
    compute_facts,
    load_facts,
    render,
    zoo_listing,
)


def test_the_facts_file_matches_the_models() -> None:
    expected = render(compute_facts())
    actual = FACTS_FILE.read_text(encoding="utf-8")
    diff = "".join(
        difflib.unified_diff(
            actual.splitlines(keepends=True), expected.splitlines(keepends=True), "file", "models"
        )
    )
    assert actual == expected, (
        f"{FACTS_FILE} is stale; run `python -m npubench.models.zoo.facts --write`:\n{diff}"
    )


def test_every_fixed_model_and_family_is_listed_once_in_zoo_order() -> None:
    rows = zoo_listing()
    assert [row["name"] for row in rows[: len(ZOO)]] == list(ZOO)
    assert all(list(row) == list(ROW_KEYS) for row in rows[: len(ZOO)])
    families = rows[len(ZOO) :]
    assert [row["family"] for row in families] == list(FAMILIES)
    for row in families:
        family = FAMILIES[row["family"]]
        assert row["name"] == family.spec()  # the default spec, typeable as zoo:<name>
        assert row["parameters"] == {p.key: p.default for p in family.parameters}
        assert row["suite"] == "public"
    assert len(load_facts()) == len(rows)


def test_listing_the_zoo_builds_no_model_and_imports_no_torch() -> None:
    code = (
        "import sys, json\n"
        "import npubench.api as api\n"
        "rows = api.zoo()\n"
        "print(json.dumps([len(rows), 'torch' in sys.modules]))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    ).stdout
    count, torch_imported = json.loads(out.strip().splitlines()[-1])
    assert count == len(ZOO) + len(FAMILIES)
    assert not torch_imported


def test_zoo_cli_prints_the_facts(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["zoo", "--json"], capsys)
    assert code == 0
    assert json.loads(out) == zoo_listing()
    code, out, _ = run_cli(["zoo"], capsys)
    assert code == 0
    assert "vww_mobilenetv1" in out and "tiny_yolov2" in out
