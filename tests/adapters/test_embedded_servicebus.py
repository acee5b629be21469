"""The embedded publisher against devhost's real SQLite broker and the repository's Config.json."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from adapters.embedded_servicebus import EmbeddedPublisher
from adapters.messaging import CONTENT_TYPE, message_properties
from devhost.servicebus.client import ServiceBusClient
from domain.messages import OrderCompleted, OrderShipped, ShipmentCancellationRequested, saga_event

CONFIG = Path(__file__).resolve().parents[2] / "infra/servicebus/Config.json"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
WHEN = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


@pytest.fixture
def publisher(tmp_path):
    embedded = EmbeddedPublisher(tmp_path, traceparent=lambda: TRACEPARENT, config=CONFIG)
    yield embedded
    embedded.close()


@pytest.fixture
def broker(tmp_path):
    with ServiceBusClient(tmp_path) as client:
        yield client


def completed(order_id: str = "order-1"):
    return saga_event(OrderCompleted(order_id=order_id, shipment_id=f"shp-{order_id}"), WHEN)


def test_event_reaches_every_matching_subscription(publisher, broker):
    publisher.publish(completed())

    for subscription in ("audit", "customer-notifications", "completed-orders"):
        peeked = broker.peek(f"order-events/Subscriptions/{subscription}")
        assert [m.message_id for m in peeked] == ["order-1/OrderCompleted"], subscription


def test_filtered_subscription_skips_other_event_types(publisher, broker):
    shipped = OrderShipped(order_id="order-1", shipment_id="shp-order-1")
    publisher.publish(saga_event(shipped, WHEN))

    assert broker.peek("order-events/Subscriptions/completed-orders") == []
    assert len(broker.peek("order-events/Subscriptions/customer-notifications")) == 1


def test_message_carries_the_shared_mapping(publisher, broker):
    event = completed()
    expected = message_properties(event, TRACEPARENT)

    publisher.publish(event)
    message = broker.peek("order-events/Subscriptions/audit")[0]

    assert message.body == expected["body"]
    assert message.message_id == expected["message_id"]
    assert message.correlation_id == "order-1"
    assert message.subject == "OrderCompleted"
    assert message.content_type == CONTENT_TYPE
    assert message.application_properties == {
        "traceparent": TRACEPARENT,
        "Diagnostic-Id": TRACEPARENT,
    }


def test_command_goes_to_the_carrier_requests_queue(publisher, broker):
    cancellation = ShipmentCancellationRequested(
        shipment_id="shp-order-1", order_id="order-1", reason="customer cancelled"
    )

    publisher.publish(saga_event(cancellation, WHEN))

    assert [m.subject for m in broker.peek("carrier-requests")] == ["ShipmentCancellationRequested"]


def test_republished_event_is_dropped_as_duplicate(publisher, broker):
    publisher.publish(completed())
    publisher.publish(completed())

    assert len(broker.peek("order-events/Subscriptions/audit")) == 1


def test_event_without_a_trace_has_no_application_properties(tmp_path, broker):
    untraced = EmbeddedPublisher(tmp_path, traceparent=lambda: None, config=CONFIG)
    untraced.publish(completed())
    untraced.close()

    assert broker.peek("order-events/Subscriptions/audit")[0].application_properties == {}


def test_publisher_without_definition_raises_for_unknown_entity(tmp_path):
    bare = EmbeddedPublisher(tmp_path / "empty", traceparent=lambda: None, config=tmp_path / "no")

    with pytest.raises(LookupError, match="order-events"):
        bare.publish(completed())
    bare.close()
