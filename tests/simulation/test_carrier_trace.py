"""The carrier's replies carry the traceparent of the request they answer."""

from __future__ import annotations

from pathlib import Path

import pytest
from carrier_serving import create_broker, serve_until

from adapters.messaging import message_properties
from devhost.servicebus.client import OutgoingMessage, ServiceBusClient
from domain.messages import CARRIER_EVENTS, CARRIER_REQUESTS

REQUEST_TRACE = "00-12341234123412341234123412341234-5678567856785678-01"


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return create_broker(tmp_path)


async def test_replies_copy_request_traceparent(state_dir: Path, shipment_request):
    with ServiceBusClient(state_dir) as client:
        request = message_properties(shipment_request("o1"), REQUEST_TRACE)
        client.send(CARRIER_REQUESTS, OutgoingMessage(**request))

        await serve_until(state_dir, lambda: len(client.peek(CARRIER_EVENTS, 10)) == 2)
        answers = client.peek(CARRIER_EVENTS, 10)

    assert [m.application_properties.get("traceparent") for m in answers] == [REQUEST_TRACE] * 2
    assert [m.application_properties.get("Diagnostic-Id") for m in answers] == [REQUEST_TRACE] * 2


async def test_replies_to_untraced_request_carry_none(state_dir: Path, shipment_request):
    with ServiceBusClient(state_dir) as client:
        client.send(CARRIER_REQUESTS, OutgoingMessage(**message_properties(shipment_request("o2"))))

        await serve_until(state_dir, lambda: len(client.peek(CARRIER_EVENTS, 10)) == 2)
        answers = client.peek(CARRIER_EVENTS, 10)

    assert [m.application_properties for m in answers] == [{}, {}]
