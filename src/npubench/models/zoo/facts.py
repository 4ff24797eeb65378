"""The zoo's facts as data: ``facts.toml`` beside this file, read without torch.

One ``[[model]]`` table per fixed zoo model and one per parametric family (at its default
parameters): name, suite, task, input/output shapes (PyTorch layout, batch 1), params, MACs
(Vela's ``nn_macs`` convention with pooling counted, as the published model facts and
``npubench zoo`` use), classifier, post-process and source. ``zoo_listing()`` serves
``npubench zoo`` from it, so listing the zoo builds no model and imports no torch.

The file is computed from the real models, once, by ``python -m npubench.models.zoo.facts
--write`` (``--check`` compares instead); ``tests/unit/test_zoo_facts.py`` fails when a zoo
change leaves it stale. Computing needs torch and ``npubench.models.torch_stats``; reading
needs only ``tomllib``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from functools import cache
from pathlib import Path
from typing import Any

FACTS_FILE = Path(__file__).with_name("facts.toml")
# Keys of a listing row, in the order `npubench zoo --json` prints them.
ROW_KEYS = (
    "name",
    "suite",
    "task",
    "input_shape",
    "output_shape",
    "params",
    "macs",
    "classifier",
    "postprocess",
    "source",
)
_HEADER = """\
# The zoo's facts, computed from the PyTorch models by
#   python -m npubench.models.zoo.facts --write
# Do not edit by hand: tests/unit/test_zoo_facts.py checks this file against the models.
# Shapes are PyTorch layout, batch 1; MACs follow Vela's nn_macs with pooling counted.
# Parametric families appear once, at their defaults; `parameters` are those defaults.
"""


@cache
def load_facts(path: Path = FACTS_FILE) -> tuple[dict[str, Any], ...]:
    """The ``[[model]]`` tables of ``facts.toml``, in file order."""
    with open(path, "rb") as handle:
        return tuple(tomllib.load(handle)["model"])


def zoo_listing() -> list[dict[str, Any]]:
    """``npubench zoo``'s rows: ``ROW_KEYS`` for every model, plus ``family`` and
    ``parameters`` for a parametric family (whose name is its default spec)."""
    rows = []
    for fact in load_facts():
        row = {key: fact[key] for key in ROW_KEYS}
        if "family" in fact:
            row["family"] = fact["family"]
            row["parameters"] = dict(fact["parameters"])
        rows.append(row)
    return rows


def compute_facts() -> list[dict[str, Any]]:
    """The facts of every zoo model and family default, counted on freshly built models."""
    from npubench.models.torch_stats import count_params_macs
    from npubench.models.zoo.registry import FAMILIES, ZOO

    entries = [(entry, None) for entry in ZOO.values()]
    entries += [(family.entry(), family) for family in FAMILIES.values()]
    facts = []
    for entry, family in entries:
        # The constructor alone: parameter and MAC counts do not depend on the weights.
        params, macs = count_params_macs(entry.factory(), entry.input_shape, include_pooling=True)
        fact: dict[str, Any] = {
            "name": entry.name,
            "suite": entry.suite,
            "task": entry.task,
            "input_shape": list(entry.input_shape),
            "output_shape": list(entry.output_shape),
            "params": params,
            "macs": macs,
            "classifier": entry.classifier,
            "postprocess": entry.postprocess,
            "source": entry.source,
        }
        if family is not None:
            fact["family"] = family.name
            fact["parameters"] = {p.key: p.default for p in family.parameters}
        facts.append(fact)
    return facts


def render(facts: list[dict[str, Any]]) -> str:
    """``facts`` as the text of ``facts.toml``."""
    lines = [_HEADER]
    for fact in facts:
        lines.append("[[model]]")
        for key, value in fact.items():
            lines.append(f"{key} = {_toml_value(value)}")
        lines.append("")
    return "\n".join(lines)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a TOML basic string
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(f"cannot write {type(value).__name__} to facts.toml")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m npubench.models.zoo.facts",
        description="Compute the zoo's facts from the models and write or check facts.toml.",
    )
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help=f"write {FACTS_FILE.name}")
    mode.add_argument("--check", action="store_true", help=f"compare with {FACTS_FILE.name}")
    args = parser.parse_args(argv)
    text = render(compute_facts())
    if args.write:
        FACTS_FILE.write_text(text, encoding="utf-8")
        print(f"wrote {FACTS_FILE}")
        return 0
    current = FACTS_FILE.read_text(encoding="utf-8") if FACTS_FILE.exists() else ""
    if current != text:
        print(f"{FACTS_FILE} is stale: run python -m npubench.models.zoo.facts --write")
        return 1
    print(f"{FACTS_FILE} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
