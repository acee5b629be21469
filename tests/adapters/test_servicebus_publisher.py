"""The Service Bus publisher at the SDK boundary: senders per entity and message properties.

A recording client replaces azure.servicebus.ServiceBusClient; the messages are the SDK's
real ServiceBusMessage objects. No Service Bus namespace or emulator is contacted.
"""

import json
import threading
from datetime import UTC, datetime

import pytest
from azure.servicebus import ServiceBusMessage
from azure.servicebus.exceptions import ServiceBusError

from adapters.messaging import CONTENT_TYPE
from adapters.servicebus_publisher import ServiceBusPublisher
from domain.messages import OrderCancelled, ShipmentCancellationRequested, saga_event

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


class RecordingSender:
    def __init__(self, kind: str, entity: str, error: Exception | None = None):
        self.kind, self.entity, self.error = kind, entity, error
        self.sent: list[ServiceBusMessage] = []
        self.closed = False

    def send_messages(self, message):
        if self.error is not None:
            raise self.error
        self.sent.append(message)

    def close(self):
        self.closed = True


class RecordingClient:
    def __init__(self, error: Exception | None = None):
        self.senders: list[RecordingSender] = []
        self.error = error
        self.closed = False

    def get_queue_sender(self, queue_name):
        self.senders.append(RecordingSender("queue", queue_name, self.error))
        return self.senders[-1]

    def get_topic_sender(self, topic_name):
        self.senders.append(RecordingSender("topic", topic_name, self.error))
        return self.senders[-1]

    def close(self):
        self.closed = True


def publisher_with(client, traceparent=None):
    namespaces = []

    def factory(namespace):
        namespaces.append(namespace)
        return client

    publisher = ServiceBusPublisher("ajbikes.servicebus.windows.net", factory, lambda: traceparent)
    return publisher, namespaces


CANCELLED = saga_event(OrderCancelled(order_id="order-1", reason="late"), T0)
CANCEL_SHIPMENT = saga_event(
    ShipmentCancellationRequested(shipment_id="shp-order-1", order_id="order-1", reason="late"), T0
)


def test_order_event_goes_to_the_order_events_topic():
    client = RecordingClient()
    publisher, _ = publisher_with(client)

    publisher.publish(CANCELLED)

    assert [(s.kind, s.entity) for s in client.senders] == [("topic", "order-events")]


def test_carrier_request_goes_to_the_carrier_requests_queue():
    client = RecordingClient()
    publisher, _ = publisher_with(client)

    publisher.publish(CANCEL_SHIPMENT)

    assert [(s.kind, s.entity) for s in client.senders] == [("queue", "carrier-requests")]


def test_message_properties_come_from_event():
    client = RecordingClient()
    publisher, _ = publisher_with(client)

    publisher.publish(CANCELLED)

    message = client.senders[0].sent[0]
    assert message.message_id == "order-1/OrderCancelled"
    assert message.correlation_id == "order-1"
    assert message.subject == "OrderCancelled"
    assert message.content_type == CONTENT_TYPE


def test_message_body_is_the_cloudevents_envelope():
    client = RecordingClient()
    publisher, _ = publisher_with(client)

    publisher.publish(CANCELLED)

    body = json.loads(b"".join(client.senders[0].sent[0].body))
    assert body["id"] == "order-1/OrderCancelled"
    assert body["data"] == {"orderId": "order-1", "reason": "late"}


def test_message_carries_traceparent_when_a_trace_is_active():
    client = RecordingClient()
    publisher, _ = publisher_with(client, traceparent=TRACEPARENT)

    publisher.publish(CANCELLED)

    properties = client.senders[0].sent[0].application_properties
    assert properties == {"traceparent": TRACEPARENT, "Diagnostic-Id": TRACEPARENT}


def test_message_has_no_application_properties_without_trace():
    client = RecordingClient()
    publisher, _ = publisher_with(client)

    publisher.publish(CANCELLED)

    assert not client.senders[0].sent[0].application_properties


def test_client_created_once_on_first_publish():
    client = RecordingClient()
    publisher, namespaces = publisher_with(client)
    assert namespaces == []

    publisher.publish(CANCELLED)
    publisher.publish(CANCELLED)

    assert namespaces == ["ajbikes.servicebus.windows.net"]


def test_sender_is_reused_per_entity():
    client = RecordingClient()
    publisher, _ = publisher_with(client)

    for _ in range(3):
        publisher.publish(CANCELLED)

    assert len(client.senders) == 1
    assert len(client.senders[0].sent) == 3


def test_publishing_from_threads_shares_one_sender():
    client = RecordingClient()
    publisher, _ = publisher_with(client)

    threads = [threading.Thread(target=publisher.publish, args=(CANCELLED,)) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(client.senders) == 1
    assert len(client.senders[0].sent) == 16


def test_send_failure_propagates_to_the_activity():
    publisher, _ = publisher_with(RecordingClient(ServiceBusError("namespace unreachable")))

    with pytest.raises(ServiceBusError):
        publisher.publish(CANCELLED)


def test_close_closes_senders_and_client():
    client = RecordingClient()
    publisher, _ = publisher_with(client)
    publisher.publish(CANCELLED)

    publisher.close()

    assert client.senders[0].closed
    assert client.closed
