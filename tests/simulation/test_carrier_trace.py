"""The carrier's replies carry the traceparent of the request they answer."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from adapters.messaging import message_properties
from devhost.servicebus.client import OutgoingMessage, ServiceBusClient
from domain.messages import CARRIER_EVENTS, CARRIER_REQUESTS
from simulation.bus import Broker
from simulation.carrier import Carrier, CarrierProfile
from simulation.catalog import REPO_ROOT
from simulation.run import serve_carrier

CONFIG = REPO_ROOT / "infra" / "servicebus" / "Config.json"
FAST = CarrierProfile("test", (0.0, 0.01), (0.0, 0.01))
REQUEST_TRACE = "00-12341234123412341234123412341234-5678567856785678-01"


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    ServiceBusClient(tmp_path, config=CONFIG).close()
    return tmp_path


async def _serve_until(state_dir: Path, done, timeout: float = 5.0) -> None:
    broker = Broker(state_dir)
    stop = asyncio.Event()
    carrier = Carrier(FAST, broker.send, seed=1)
    serving = asyncio.create_task(serve_carrier(carrier, broker, stop))
    try:
        async with asyncio.timeout(timeout):
            while not done():
                await asyncio.sleep(0.02)
    finally:
        stop.set()
        await serving
        await carrier.close()
        broker.close()


async def test_replies_copy_request_traceparent(state_dir: Path, shipment_request):
    with ServiceBusClient(state_dir) as client:
        request = message_properties(shipment_request("o1"), REQUEST_TRACE)
        client.send(CARRIER_REQUESTS, OutgoingMessage(**request))

        await _serve_until(state_dir, lambda: len(client.peek(CARRIER_EVENTS, 10)) == 2)
        answers = client.peek(CARRIER_EVENTS, 10)

    assert [m.application_properties.get("traceparent") for m in answers] == [REQUEST_TRACE] * 2
    assert [m.application_properties.get("Diagnostic-Id") for m in answers] == [REQUEST_TRACE] * 2


async def test_replies_to_untraced_request_carry_none(state_dir: Path, shipment_request):
    with ServiceBusClient(state_dir) as client:
        client.send(CARRIER_REQUESTS, OutgoingMessage(**message_properties(shipment_request("o2"))))

        await _serve_until(state_dir, lambda: len(client.peek(CARRIER_EVENTS, 10)) == 2)
        answers = client.peek(CARRIER_EVENTS, 10)

    assert [m.application_properties for m in answers] == [{}, {}]
