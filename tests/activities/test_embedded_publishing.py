"""Activities publishing through the embedded broker: the messages carriers and subscribers get."""

import json
import pathlib

import pytest

from adapters.embedded_servicebus import EmbeddedPublisher
from adapters.messaging import CONTENT_TYPE
from devhost.servicebus.client import ServiceBusClient
from domain.messages import parse_envelope
from domain.orders import parse_place_order
from domain.shipments import shipment_request

CONFIG = pathlib.Path(__file__).resolve().parents[2] / "infra" / "servicebus" / "Config.json"

ORDER = {
    "storeId": "1",
    "customerId": "259",
    "lines": [{"productId": "20", "quantity": 1, "unitPrice": 599.99, "discount": 0.2}],
    "shipTo": {
        "name": "Customer C0259",
        "street": "259 Sample Street",
        "city": "Orchard Park",
        "state": "NY",
        "postalCode": "14127",
    },
}


def shipment_request_input(order_id: str) -> dict:
    """The request_shipment input the saga builds from ORDER."""
    return shipment_request(parse_place_order(ORDER), order_id).to_document()


@pytest.fixture
def broker(tmp_path):
    client = ServiceBusClient(tmp_path / "broker", config=CONFIG)
    yield client
    client.close()


@pytest.fixture
def publisher(broker):
    """The embedded broker's publisher, in place of the recording one for this module."""
    publisher = EmbeddedPublisher(broker.state_dir, traceparent=lambda: None, config=CONFIG)
    yield publisher
    publisher.close()


def drain(broker, entity):
    messages = []
    while batch := broker.receive(entity, max_count=10):
        for message in batch:
            broker.complete(message)
        messages.extend(batch)
    return messages


def test_repeated_order_placed_reaches_subscribers_once(run, broker):
    run("record_order", {"orderId": "order-1", "order": ORDER})
    run("record_order", {"orderId": "order-1", "order": ORDER})

    messages = drain(broker, "order-events/Subscriptions/audit")

    assert [message.message_id for message in messages] == ["order-1/OrderPlaced"]


def test_shipment_request_reaches_the_carrier_with_its_properties(run, broker):
    run("record_order", {"orderId": "order-1", "order": ORDER})
    run("request_shipment", shipment_request_input("order-1"))

    [message] = drain(broker, "carrier-requests")

    assert message.message_id == "order-1/ShipmentRequested"
    assert message.correlation_id == "order-1"
    assert message.subject == "ShipmentRequested"
    assert message.content_type == CONTENT_TYPE
    assert parse_envelope(message.body).data.shipment_id == "shp-order-1"


def test_published_body_is_the_envelope_json(run, broker):
    run("record_order", {"orderId": "order-1", "order": ORDER})

    [message] = drain(broker, "order-events/Subscriptions/audit")

    body = json.loads(message.body)
    assert (body["specversion"], body["type"], body["subject"]) == ("1.0", "OrderPlaced", "order-1")
    assert body["data"]["total"] == 479.99
