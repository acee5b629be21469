"""Parse the Bicep templates with pycep and walk the trees it returns.

pycep turns a Bicep file into nested dicts: a top level of `parameters`, `variables`,
`resources`, `modules` and `outputs`, and expressions as `{"operator": ...}` or
`{"function": ...}` nodes. An identifier and a string literal both come back as a plain string.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pycep

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MODULES = INFRA / "modules"
SERVICEBUS_CONFIG = INFRA / "servicebus" / "Config.json"


def parse_bicep(path: Path) -> dict[str, Any]:
    """Parse one Bicep file; pycep raises on syntax its grammar does not cover."""
    return pycep.BicepParser().parse(text=path.read_text(encoding="utf-8"))


def walk(node: Any) -> Iterator[Any]:
    """Yield every dict, list and scalar inside a parsed tree, depth first."""
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def function_calls(node: Any, name: str) -> list[dict[str, Any]]:
    """Return the parameters of every call of the Bicep function `name` (pycep's snake_case)."""
    calls = []
    for item in walk(node):
        if isinstance(item, dict) and isinstance(item.get("function"), dict):
            function = item["function"]
            if function.get("type") == name:
                calls.append(function.get("parameters") or {})
    return calls


def loaded_files(path: Path) -> set[Path]:
    """Return the files a Bicep file reads with loadJsonContent and loadTextContent."""
    tree = parse_bicep(path)
    calls = function_calls(tree, "load_json_content") + function_calls(tree, "load_text_content")
    return {(path.parent / call["file_path"]).resolve() for call in calls}


def accessed_properties(node: Any) -> set[str]:
    """Return every property name read with `.name` or `.?name` anywhere in a parsed tree.

    pycep nests `a.b.c` as an accessor of `a` whose second operand is the accessor `b.c`. The
    names are the second operands down that chain. The first operand of the outermost accessor
    is the variable itself, so it is left out.
    """
    names: set[str] = set()
    for item in walk(node):
        if _is_accessor(item):
            _add_chain(item["operator"]["operands"].get("operand_2"), names)
    return names


def _is_accessor(item: Any) -> bool:
    return (
        isinstance(item, dict)
        and isinstance(item.get("operator"), dict)
        and item["operator"].get("type") in {"property_accessor", "index_accessor"}
    )


def _add_chain(operand: Any, names: set[str]) -> None:
    # pycep binds `==`, `??` and `?:` tighter than `.`, so `a.b == 'x'` arrives as
    # `a.(b == 'x')`: the name read is then the first operand of that inner operator.
    if isinstance(operand, str):
        names.add(operand)
    elif isinstance(operand, dict) and isinstance(operand.get("operator"), dict):
        operands = operand["operator"].get("operands") or {}
        if isinstance(operands.get("operand_1"), str):
            names.add(operands["operand_1"])
        if operand["operator"].get("type") == "property_accessor":
            _add_chain(operands.get("operand_2"), names)
