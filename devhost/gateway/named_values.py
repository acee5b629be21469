"""Resolve API Management named values (`{{name}}`) for local use.

A value comes, first match wins, from devhost itself (`functions-base-url`, `functions-key`),
from the app setting `APIM_NAMED_VALUE_<NAME>` (the name upper-cased, `-` and `.` as `_`), or
from the `value` in `apim/named-values.json`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path

from devhost.gateway.errors import GatewayConfigError

NAMED_VALUES_FILE = "named-values.json"
SETTING_PREFIX = "APIM_NAMED_VALUE_"
REFERENCE = re.compile(r"\{\{([A-Za-z0-9._-]+)\}\}")


def setting_name(name: str) -> str:
    """Return the app setting that overrides the named value `name`."""
    return SETTING_PREFIX + re.sub(r"[-.]", "_", name).upper()


def resolve_named_values(
    apim_dir: Path, settings: Mapping[str, str], provided: Mapping[str, str]
) -> tuple[dict[str, str], set[str]]:
    """Return every named value declared or provided, and the names of the secret ones."""
    declared = _read_declarations(apim_dir / NAMED_VALUES_FILE)
    values: dict[str, str] = {}
    secrets: set[str] = set()

    for name, declaration in declared.items():
        if declaration.get("secret"):
            secrets.add(name)
        if name in provided:
            values[name] = provided[name]
        elif setting_name(name) in settings:
            values[name] = settings[setting_name(name)]
        elif "value" in declaration:
            values[name] = str(declaration["value"])

    for name, value in provided.items():
        values.setdefault(name, value)
    return values, secrets


def substitute(text: str, values: Mapping[str, str], where: str) -> str:
    """Replace every `{{name}}` in text; raise GatewayConfigError naming an unknown one."""

    def replace(found: re.Match[str]) -> str:
        name = found.group(1)
        if name not in values:
            raise GatewayConfigError(
                f"{where}: named value {{{{{name}}}}} has no value; declare it in "
                f"{NAMED_VALUES_FILE} or set the app setting {setting_name(name)}"
            )
        return values[name]

    return REFERENCE.sub(replace, text)


def _read_declarations(path: Path) -> dict[str, dict]:
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise GatewayConfigError(f"cannot read named values from {path}: {exc}") from None
    if not isinstance(data, dict):
        raise GatewayConfigError(f"{path} must be a JSON object of named values")
    return data
