"""The AJ Bikes app under devhost: carrier messages drive the saga, poison messages dead-letter.

These tests run the repository's own function_app.py with `python -m devhost start`, so they
check the embedded broker together with the app's Service Bus triggers and publishers.
"""

from __future__ import annotations

import json
import re
import urllib.request
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from servicebus_host_support import REPOSITORY, DevhostProcess, wait_for

from devhost.servicebus.client import OutgoingMessage, ServiceBusClient
from domain.messages import (
    CloudEvent,
    ReceivedLine,
    ShipmentDelivered,
    ShipmentDispatched,
    StockReceived,
)

pytestmark = pytest.mark.slow

STORE, PRODUCT = "2", "44"
CARRIER_SOURCE = "urn:test:carrier"
ORDER = {
    "storeId": STORE,
    "customerId": "1212",
    "lines": [{"productId": PRODUCT, "quantity": 1, "unitPrice": 539.99, "discount": 0.1}],
    "shipTo": {
        "name": "Debra Burks",
        "street": "9273 Thorne Ave.",
        "city": "Orchard Park",
        "state": "NY",
        "postalCode": "14127",
    },
}
TRACEPARENT_FORMAT = r"^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"


@pytest.fixture(scope="module")
def app_host(tmp_path_factory):
    host = DevhostProcess(REPOSITORY, tmp_path_factory.mktemp("saga") / "state")
    host.start()
    yield host
    host.kill()


@pytest.fixture(scope="module")
def broker(app_host):
    with ServiceBusClient(app_host.state_dir) as client:
        yield client


@pytest.fixture(scope="module")
def stocked(app_host, broker):
    """Ten units of the product at the store, received through supplier-events."""
    received = StockReceived(store_id=STORE, lines=[ReceivedLine(product_id=PRODUCT, quantity=10)])
    send_event(broker, "supplier-events", "StockReceived", STORE, received, "supply-1")
    wait_for(lambda: call(app_host, "GET", f"/api/stores/{STORE}/stock/{PRODUCT}")[0] == 200)


def call(host: DevhostProcess, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    keys = json.loads((host.state_dir / "keys.json").read_text())
    request = urllib.request.Request(
        host.base_url + path,
        method=method,
        data=None if body is None else json.dumps(body).encode(),
        headers={
            "x-functions-key": keys["functionKeys"]["default"],
            "content-type": "application/json",
            "idempotency-key": str(uuid.uuid4()),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def send_event(
    broker: ServiceBusClient, entity: str, type_name: str, subject: str, data: Any, event_id: str
) -> None:
    event = CloudEvent(
        id=event_id,
        source=CARRIER_SOURCE,
        type=type_name,
        subject=subject,
        time=datetime.now(UTC),
        data=data,
    )
    send_raw(broker, entity, event.to_bytes(), event_id, subject=type_name)


def send_raw(broker: ServiceBusClient, entity: str, body: bytes, message_id: str, **fields) -> None:
    broker.send(entity, OutgoingMessage(body=body, message_id=message_id, **fields))


def saga_status(host: DevhostProcess, order_id: str) -> str | None:
    status, body = call(host, "GET", f"/api/orders/{order_id}/status")
    return body.get("runtimeStatus") if status == 200 else None


def take_shipment_request(broker: ServiceBusClient, order_id: str):
    """Receive the saga's ShipmentRequested for order_id from carrier-requests, as a carrier."""

    def find():
        for message in broker.peek("carrier-requests", max_count=100):
            if message.correlation_id == order_id:
                return message
        return None

    return wait_for(find)


def order_events(broker: ServiceBusClient, subscription: str, order_id: str) -> list:
    peeked = broker.peek(f"order-events/Subscriptions/{subscription}", max_count=1000)
    return [m for m in peeked if m.correlation_id == order_id]


def test_carrier_events_move_saga_to_completed(app_host, broker, stocked):
    status, placed = call(app_host, "POST", "/api/orders", ORDER)
    order_id = placed["orderId"]
    request = take_shipment_request(broker, order_id)
    shipment_id = json.loads(request.body)["data"]["shipmentId"]
    now = datetime.now(UTC)
    dispatched = ShipmentDispatched(
        shipment_id=shipment_id,
        order_id=order_id,
        carrier="Speedy",
        tracking_number="SP-1",
        dispatched_at=now,
    )
    delivered = ShipmentDelivered(shipment_id=shipment_id, order_id=order_id, delivered_at=now)

    send_event(broker, "carrier-events", "ShipmentDispatched", order_id, dispatched, "c-1")
    send_event(broker, "carrier-events", "ShipmentDelivered", order_id, delivered, "c-2")
    final = wait_for(lambda: saga_status(app_host, order_id) == "Completed" and "Completed")

    assert status == 202
    assert final == "Completed"
    assert request.message_id == f"{order_id}/ShipmentRequested"
    assert request.subject == "ShipmentRequested"


def test_saga_messages_carry_ids_and_reach_filtered_subscriptions(app_host, broker, stocked):
    _, placed = call(app_host, "POST", "/api/orders", ORDER)
    order_id = placed["orderId"]
    request = take_shipment_request(broker, order_id)
    shipment_id = json.loads(request.body)["data"]["shipmentId"]
    delivered = ShipmentDelivered(
        shipment_id=shipment_id,
        order_id=order_id,
        delivered_at=datetime.now(UTC),
        carrier="Speedy",
        tracking_number="SP-2",
    )
    send_event(broker, "carrier-events", "ShipmentDelivered", order_id, delivered, "c-3")
    wait_for(lambda: saga_status(app_host, order_id) == "Completed")

    audit = wait_for(
        lambda: (
            len(order_events(broker, "audit", order_id)) >= 3
            and order_events(broker, "audit", order_id)
        )
    )
    completed = order_events(broker, "completed-orders", order_id)
    notified = order_events(broker, "customer-notifications", order_id)

    assert [m.subject for m in audit] == ["OrderPlaced", "OrderShipped", "OrderCompleted"]
    assert [m.message_id for m in audit] == [f"{order_id}/{m.subject}" for m in audit]
    assert [m.subject for m in completed] == ["OrderCompleted"]
    assert [m.subject for m in notified] == ["OrderShipped", "OrderCompleted"]
    for message in audit:
        traceparent = message.application_properties.get("traceparent")
        assert traceparent is None or re.match(TRACEPARENT_FORMAT, traceparent)


@pytest.mark.parametrize(
    ("case", "body"),
    [
        ("not-json", b"{not json"),
        ("empty", b""),
        ("unknown-type", None),
        ("unknown-order", None),
    ],
)
def test_poison_carrier_message_is_dead_lettered_and_logged(app_host, broker, case, body):
    message_id = f"poison-{case}-{uuid.uuid4().hex[:8]}"
    if case == "unknown-type":
        body = json.dumps(
            {
                "specversion": "1.0",
                "id": message_id,
                "source": CARRIER_SOURCE,
                "type": "ShipmentTeleported",
                "subject": "order-x",
                "time": datetime.now(UTC).isoformat(),
                "datacontenttype": "application/json",
                "data": {},
            }
        ).encode()
    if case == "unknown-order":
        unknown = f"no-such-order-{uuid.uuid4().hex[:8]}"
        data = ShipmentDelivered(
            shipment_id=f"shp-{unknown}", order_id=unknown, delivered_at=datetime.now(UTC)
        )
        send_event(broker, "carrier-events", "ShipmentDelivered", unknown, data, message_id)
    else:
        send_raw(broker, "carrier-events", body, message_id)

    def dead_lettered():
        peeked = broker.peek("carrier-events/$DeadLetterQueue", max_count=100)
        return [m for m in peeked if m.message_id == message_id]

    dead = wait_for(dead_lettered, timeout=30)
    log_lines = [line for line in app_host.logs().splitlines() if message_id in line]

    assert dead[0].dead_letter_reason == "MaxDeliveryCountExceeded"
    assert app_host.process.poll() is None
    assert any("failed on message" in line for line in log_lines)
    assert any("triggers.servicebus" in line for line in log_lines)
