"""docker-compose.yml starts the emulators with the repository's own Service Bus entities."""

from __future__ import annotations

import pytest
import yaml
from bicep_tree import ROOT, SERVICEBUS_CONFIG

EMULATOR_CONFIG_PATH = "/ServiceBus_Emulator/ConfigFiles/Config.json"


@pytest.fixture(scope="module")
def services() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))["services"]


def test_compose_runs_every_emulator(services):
    assert {"azurite", "cosmos", "servicebus", "sqledge"} <= set(services)


def test_servicebus_emulator_mounts_repository_config(services):
    mounts = [volume.split(":") for volume in services["servicebus"]["volumes"]]
    sources = {target: (ROOT / source).resolve() for source, target, *_ in mounts}

    assert sources[EMULATOR_CONFIG_PATH] == SERVICEBUS_CONFIG.resolve()


def test_ports_are_published_on_loopback_only(services):
    for name, service in services.items():
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), f"{name} publishes {port}"


def test_sql_password_comes_from_the_environment(services):
    for name in ("servicebus", "sqledge"):
        assert services[name]["environment"]["MSSQL_SA_PASSWORD"].startswith("${"), name
