"""The CloudEvent to Service Bus message mapping shared by every publisher."""

import json
import pathlib
from datetime import UTC, datetime

import pytest

from adapters.messaging import QUEUES, TOPICS, current_traceparent, is_topic, message_properties
from domain.messages import EVENT_TYPES, CloudEvent, OrderCancelled, StockReceived, saga_event

CONFIG = pathlib.Path(__file__).resolve().parents[2] / "infra" / "servicebus" / "Config.json"
T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def declared_entities() -> tuple[set[str], set[str]]:
    namespace = json.loads(CONFIG.read_text())["UserConfig"]["Namespaces"][0]
    queues = {queue["Name"] for queue in namespace["Queues"]}
    topics = {topic["Name"] for topic in namespace["Topics"]}
    return queues, topics


def test_entity_kinds_match_the_service_bus_config():
    queues, topics = declared_entities()

    assert (set(QUEUES), set(TOPICS)) == (queues, topics)


def test_every_event_type_travels_on_a_declared_entity():
    queues, topics = declared_entities()

    assert {spec.entity for spec in EVENT_TYPES.values()} <= queues | topics


def test_is_topic_rejects_unknown_entity():
    with pytest.raises(ValueError, match="unknown Service Bus entity"):
        is_topic("orders")


def test_properties_of_saga_event():
    event = saga_event(OrderCancelled(order_id="o1", reason="r"), T0)

    properties = message_properties(event)

    assert properties["message_id"] == "o1/OrderCancelled"
    assert properties["correlation_id"] == "o1"
    assert properties["subject"] == "OrderCancelled"
    assert properties["body"] == event.to_bytes()
    assert "application_properties" not in properties


def test_stock_received_correlates_by_store_id():
    event = CloudEvent(
        id="supplier-7",
        source="/suppliers/trek",
        type="StockReceived",
        subject="2",
        time=T0,
        data=StockReceived.model_validate(
            {"storeId": "2", "lines": [{"productId": "1", "quantity": 3}]}
        ),
    )

    assert message_properties(event)["correlation_id"] == "2"


def test_current_traceparent_reads_the_active_opentelemetry_span():
    pytest.importorskip("opentelemetry.sdk.trace")
    from opentelemetry.sdk.trace import TracerProvider

    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("publish") as span:
        traceparent = current_traceparent()
        trace_id = format(span.get_span_context().trace_id, "032x")

    assert traceparent is not None
    assert traceparent.split("-")[1] == trace_id


def test_current_traceparent_is_none_without_a_span():
    assert current_traceparent() is None
