"""Session fixtures: the parsed Bicep templates and the Service Bus entity declarations."""

from __future__ import annotations

import json
from typing import Any

import pytest
from bicep_tree import INFRA, MODULES, SERVICEBUS_CONFIG, parse_bicep


@pytest.fixture(scope="session")
def main_bicep() -> dict[str, Any]:
    return parse_bicep(INFRA / "main.bicep")


@pytest.fixture(scope="session")
def module_bicep() -> dict[str, dict[str, Any]]:
    """Every module under infra/modules, by file stem."""
    return {path.stem: parse_bicep(path) for path in sorted(MODULES.glob("*.bicep"))}


@pytest.fixture(scope="session")
def servicebus_config() -> dict[str, Any]:
    """The one namespace declared in infra/servicebus/Config.json."""
    config = json.loads(SERVICEBUS_CONFIG.read_text(encoding="utf-8"))
    return config["UserConfig"]["Namespaces"][0]
