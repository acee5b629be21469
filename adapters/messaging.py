"""The mapping from a CloudEvent to a Service Bus message, shared by every publisher.

The Service Bus publisher and the embedded broker's publisher both build their messages here, so
a message looks the same offline and on Azure.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace

from domain.messages import (
    CARRIER_EVENTS,
    CARRIER_REQUESTS,
    ORDER_EVENTS,
    SUPPLIER_EVENTS,
    CloudEvent,
    entity_for,
)

# The body is a whole CloudEvents envelope, which the CloudEvents AMQP binding calls structured
# content mode and labels with this media type.
CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"

# Entity kinds, as declared in infra/servicebus/Config.json.
TOPICS = frozenset({ORDER_EVENTS})
QUEUES = frozenset({CARRIER_REQUESTS, CARRIER_EVENTS, SUPPLIER_EVENTS})

__all__ = [
    "CONTENT_TYPE",
    "QUEUES",
    "TOPICS",
    "current_traceparent",
    "entity_for",
    "is_topic",
    "send_span",
]

_tracer = trace.get_tracer(__name__)


def is_topic(entity: str) -> bool:
    """Return whether an entity is a topic; raises ValueError for an unknown entity name."""
    if entity not in TOPICS | QUEUES:
        raise ValueError(f"unknown Service Bus entity {entity!r}; known: {sorted(TOPICS | QUEUES)}")
    return entity in TOPICS


def message_properties(event: CloudEvent, traceparent: str | None = None) -> dict[str, Any]:
    """Return the keyword arguments of `azure.servicebus.ServiceBusMessage` for an event.

    `message_id` is the event id, so duplicate detection drops a re-sent event. `correlation_id`
    is the subject (the order id, or the store id for StockReceived), and `subject` is the event
    type.
    A W3C `traceparent`, when given, goes into the `traceparent` and `Diagnostic-Id` application
    properties, which Azure SDKs and Application Insights read.
    """
    properties: dict[str, Any] = {
        "body": event.to_bytes(),
        "message_id": event.id,
        "correlation_id": event.subject,
        "subject": event.type,
        "content_type": CONTENT_TYPE,
    }
    if traceparent:
        properties["application_properties"] = {
            "traceparent": traceparent,
            "Diagnostic-Id": traceparent,
        }
    return properties


def current_traceparent() -> str | None:
    """Return the W3C traceparent of the current OpenTelemetry span, or None without one.

    OpenTelemetry is optional: without the package, or with no span recording, there is no
    trace to carry on.
    """
    try:
        from opentelemetry import propagate
    except ImportError:
        return None

    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


@contextmanager
def send_span(event: CloudEvent) -> Iterator[None]:
    """Wrap one send in a PRODUCER span named by the OTel messaging conventions.

    `current_traceparent()` inside the block returns this span's context, so the message's
    `traceparent` makes the consumer's span its child. Without a configured tracer provider
    the span does not record, and the message carries the caller's trace context.
    """
    attributes = {
        "messaging.system": "servicebus",
        "messaging.operation.type": "send",
        "messaging.operation.name": "send",
        "messaging.destination.name": event.entity,
        "messaging.message.id": event.id,
        "cloudevents.event_id": event.id,
        "cloudevents.event_type": event.type,
    }
    # Every event's subject is its order id, except StockReceived, whose subject is a store.
    if event.entity != SUPPLIER_EVENTS:
        attributes["aj.order_id"] = event.subject
    with _tracer.start_as_current_span(
        f"send {event.entity}", kind=trace.SpanKind.PRODUCER, attributes=attributes
    ):
        yield
