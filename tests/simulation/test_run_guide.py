"""What `python -m simulation run` prints after the summary: how to call or inspect the system."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from domain.orders import PlaceOrder
from simulation.catalog import sample_catalog
from simulation.host import RunningHost
from simulation.run import serving_lines, state_lines


@pytest.fixture
def host(tmp_path: Path) -> RunningHost:
    subscriptions = {"subscriptions": [{"id": "devhost", "primaryKey": "k123"}]}
    (tmp_path / "apim-subscriptions.json").write_text(json.dumps(subscriptions))
    return RunningHost(process=None, state_dir=tmp_path, port=7071, gateway_port=8080,
                       log_path=tmp_path / "log")


def _curl_commands(lines: list[str]) -> list[list[str]]:
    return [shlex.split(line) for line in lines if line.strip().startswith("curl ")]


def test_place_order_command_sends_a_valid_order(host):
    place, _ = _curl_commands(serving_lines(host, sample_catalog()))

    body = json.loads(place[place.index("-d") + 1])

    PlaceOrder.model_validate(body)


def test_place_order_command_buys_stocked_product(host):
    catalog = sample_catalog()
    place, _ = _curl_commands(serving_lines(host, catalog))

    body = json.loads(place[place.index("-d") + 1])

    assert catalog.stock[(body["storeId"], body["lines"][0]["productId"])] > 0


def test_curl_commands_send_the_subscription_key(host):
    commands = _curl_commands(serving_lines(host, sample_catalog()))

    assert all("Ocp-Apim-Subscription-Key: k123" in command for command in commands)


def test_curl_commands_call_the_gateway(host):
    place, read = _curl_commands(serving_lines(host, sample_catalog()))

    assert "http://127.0.0.1:8080/orders" in place
    assert "http://127.0.0.1:8080/orders/<orderId>" in read


def test_serving_lines_name_the_keys_file(host):
    lines = serving_lines(host, sample_catalog())

    assert any(str(host.state_dir / "keys.json") in line for line in lines)


def test_state_lines_print_no_url(tmp_path: Path):
    lines = state_lines(tmp_path)

    assert not any("http://" in line for line in lines)
    assert all(str(tmp_path) in line for line in lines)
