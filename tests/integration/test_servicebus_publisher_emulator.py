"""The Service Bus publisher against the Service Bus emulator configured with Config.json.

Because the emulator reads infra/servicebus/Config.json, these tests also show that the
declared subscriptions, filters and duplicate detection behave as the app expects. Each test
uses a fresh order id and reads until it finds its own messages, because a queue may contain
messages left by earlier runs.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from azure.servicebus import ServiceBusClient, ServiceBusReceivedMessage
from emulator_settings import SERVICEBUS_CONNECTION, require_settings

from adapters.messaging import CONTENT_TYPE
from adapters.servicebus_publisher import ServiceBusPublisher
from domain.messages import (
    CARRIER_REQUESTS,
    ORDER_EVENTS,
    CloudEvent,
    OrderCompleted,
    OrderShipped,
    ShipmentCancellationRequested,
    saga_event,
)

pytestmark = require_settings(SERVICEBUS_CONNECTION)

# Seconds a receive waits for the next message before the test stops reading.
RECEIVE_WAIT_SECONDS = 5


@pytest.fixture(scope="module")
def client() -> Iterator[ServiceBusClient]:
    with ServiceBusClient.from_connection_string(os.environ[SERVICEBUS_CONNECTION]) as sb_client:
        yield sb_client


@pytest.fixture
def publisher(client) -> Iterator[ServiceBusPublisher]:
    sb_publisher = ServiceBusPublisher("emulator", client_factory=lambda _: client)
    yield sb_publisher
    sb_publisher.close()


def receive_for_order(
    client: ServiceBusClient,
    order_id: str,
    queue: str | None = None,
    subscription: str | None = None,
) -> list[ServiceBusReceivedMessage]:
    """Complete every available message on an entity and return those about `order_id`."""
    receiver = (
        client.get_queue_receiver(queue_name=queue, max_wait_time=RECEIVE_WAIT_SECONDS)
        if queue
        else client.get_subscription_receiver(
            topic_name=ORDER_EVENTS,
            subscription_name=subscription,
            max_wait_time=RECEIVE_WAIT_SECONDS,
        )
    )

    found = []
    with receiver:
        for message in receiver:
            receiver.complete_message(message)
            if message.correlation_id == order_id:
                found.append(message)
    return found


def new_order_id() -> str:
    return f"it-{uuid.uuid4().hex[:16]}"


def cancellation_requested(order_id: str) -> CloudEvent:
    data = ShipmentCancellationRequested(
        shipment_id=f"shp-{order_id}", order_id=order_id, reason="customer cancelled"
    )
    return saga_event(data, datetime.now(UTC))


def order_completed(order_id: str) -> CloudEvent:
    return saga_event(
        OrderCompleted(order_id=order_id, shipment_id=f"shp-{order_id}"), datetime.now(UTC)
    )


def test_queue_message_carries_event_metadata(client, publisher):
    order_id = new_order_id()
    event = cancellation_requested(order_id)

    publisher.publish(event)
    (message,) = receive_for_order(client, order_id, queue=CARRIER_REQUESTS)

    assert message.message_id == event.id
    assert message.subject == "ShipmentCancellationRequested"
    assert message.content_type == CONTENT_TYPE


def test_queue_message_body_is_the_cloudevent(client, publisher):
    order_id = new_order_id()
    event = cancellation_requested(order_id)

    publisher.publish(event)
    (message,) = receive_for_order(client, order_id, queue=CARRIER_REQUESTS)

    assert json.loads(b"".join(message.body)) == event.to_json()


def test_topic_event_reaches_unfiltered_subscription(client, publisher):
    order_id = new_order_id()
    event = order_completed(order_id)

    publisher.publish(event)
    messages = receive_for_order(client, order_id, subscription="audit")

    assert [message.message_id for message in messages] == [event.id]


def test_correlation_filter_passes_only_its_label(client, publisher):
    order_id = new_order_id()
    now = datetime.now(UTC)
    publisher.publish(
        saga_event(OrderShipped(order_id=order_id, shipment_id=f"shp-{order_id}"), now)
    )
    publisher.publish(order_completed(order_id))

    messages = receive_for_order(client, order_id, subscription="completed-orders")

    assert [message.subject for message in messages] == ["OrderCompleted"]


@pytest.mark.slow
def test_republished_event_is_dropped_as_duplicate(client, publisher):
    order_id = new_order_id()
    event = order_completed(order_id)

    publisher.publish(event)
    publisher.publish(event)
    messages = receive_for_order(client, order_id, subscription="audit")

    assert len(messages) == 1
