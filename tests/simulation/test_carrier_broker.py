"""The carrier served from the real embedded broker: requests in, carrier events out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from carrier_serving import create_broker, serve_until

from adapters.messaging import message_properties
from devhost.servicebus.client import OutgoingMessage, ServiceBusClient
from domain.messages import CARRIER_EVENTS, CARRIER_REQUESTS


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return create_broker(tmp_path)


async def test_carrier_responds_on_carrier_events(state_dir: Path, shipment_request):
    with ServiceBusClient(state_dir) as client:
        client.send(CARRIER_REQUESTS, OutgoingMessage(**message_properties(shipment_request("o1"))))

        await serve_until(state_dir, lambda: len(client.peek(CARRIER_EVENTS, 10)) == 2)
        answers = client.peek(CARRIER_EVENTS, 10)

    assert [message.subject for message in answers] == ["ShipmentDispatched", "ShipmentDelivered"]
    assert [message.correlation_id for message in answers] == ["o1", "o1"]
    assert [json.loads(message.body)["id"] for message in answers] == [
        message.message_id for message in answers
    ]


async def test_carrier_completes_the_request_message(state_dir: Path, shipment_request):
    with ServiceBusClient(state_dir) as client:
        client.send(CARRIER_REQUESTS, OutgoingMessage(**message_properties(shipment_request("o1"))))

        await serve_until(state_dir, lambda: len(client.peek(CARRIER_EVENTS, 10)) == 2)

        assert client.peek(CARRIER_REQUESTS, 10) == []


async def test_invalid_request_is_dead_lettered_with_the_reason(state_dir: Path):
    dead_letters = f"{CARRIER_REQUESTS}/$DeadLetterQueue"
    with ServiceBusClient(state_dir) as client:
        client.send(CARRIER_REQUESTS, OutgoingMessage(body=b"not json", message_id="bad-1"))

        await serve_until(state_dir, lambda: len(client.peek(dead_letters, 10)) == 1)
        (dead,) = client.peek(dead_letters, 10)

    assert dead.dead_letter_reason == "InvalidCarrierRequest"
    assert "not JSON" in dead.dead_letter_error_description
