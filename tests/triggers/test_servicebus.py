"""The Service Bus triggers, fed real ServiceBusMessages built by the worker's own converter."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime

import azure.functions as func
import pytest
from azure.functions.meta import Datum
from azure.functions.servicebus import ServiceBusMessageInConverter

from activities.orders import receive_stock
from domain.messages import (
    CloudEvent,
    EventData,
    OrderCancelled,
    ReceivedLine,
    ShipmentDelivered,
    ShipmentDeliveryFailed,
    ShipmentDispatched,
    StockReceived,
)
from domain.stock import StockItem
from triggers import servicebus

ORDER_ID = "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"
AT = datetime(2026, 12, 4, 20, 5, tzinfo=UTC)

DISPATCHED = ShipmentDispatched(
    shipment_id=f"shp-{ORDER_ID}",
    order_id=ORDER_ID,
    carrier="Speedy",
    tracking_number="SP-9",
    dispatched_at=AT,
)
DELIVERED = ShipmentDelivered(shipment_id=f"shp-{ORDER_ID}", order_id=ORDER_ID, delivered_at=AT)
DELIVERY_FAILED = ShipmentDeliveryFailed(
    shipment_id=f"shp-{ORDER_ID}", order_id=ORDER_ID, reason="address not found"
)


def envelope(data: EventData, subject: str = ORDER_ID, event_id: str = "evt-1") -> bytes:
    event = CloudEvent(
        id=event_id,
        source="/carriers/speedy",
        type=type(data).__name__,
        subject=subject,
        time=AT,
        data=data,
    )
    return event.to_bytes()


def service_bus_message(body: bytes, message_id: str = "msg-1") -> func.ServiceBusMessage:
    """Decode a message as the worker does, from the host's typed data and trigger metadata."""
    metadata = {
        "MessageId": Datum(message_id, "string"),
        "DeliveryCount": Datum("1", "json"),
        "ContentType": Datum("application/json", "string"),
        "EnqueuedTimeUtc": Datum(json.dumps("2026-12-04T20:05:01.1234567Z"), "json"),
        "UserProperties": Datum("{}", "json"),
        "ApplicationProperties": Datum("{}", "json"),
    }
    return ServiceBusMessageInConverter.decode(Datum(body, "bytes"), trigger_metadata=metadata)


@pytest.fixture
def triggers(index, ports):
    return index(servicebus.blueprint(ports, receive_stock))


@pytest.fixture
def on_carrier_event(triggers, durable):
    async def deliver(message: func.ServiceBusMessage) -> None:
        await triggers["on_carrier_event"](message=message, client=durable.client_binding())

    return deliver


def raised(durable) -> list[tuple[str, str, dict]]:
    return [(event.instance_id, event.name, event.data) for event in durable.raised]


# --- the function index -------------------------------------------------------------------


def test_triggers_listen_on_their_queues(ports):
    app = func.FunctionApp()
    app.register_functions(servicebus.blueprint(ports, receive_stock))
    bindings = [
        json.loads(function.get_function_json())["bindings"] for function in app.get_functions()
    ]

    queues = {
        (binding["queueName"], binding["connection"])
        for group in bindings
        for binding in group
        if binding["type"] == "serviceBusTrigger"
    }
    assert queues == {("carrier-events", "SERVICEBUS"), ("supplier-events", "SERVICEBUS")}


def test_supplier_trigger_is_left_out_without_receive_stock(index, ports):
    functions = index(servicebus.blueprint(ports))

    assert set(functions) == {"on_carrier_event"}


# --- carrier events -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "data", [DISPATCHED, DELIVERED, DELIVERY_FAILED], ids=lambda data: type(data).__name__
)
async def test_carrier_event_is_raised_into_the_order_saga(durable, on_carrier_event, data):
    durable.add_instance(ORDER_ID, {"orderId": ORDER_ID})

    await on_carrier_event(service_bus_message(envelope(data)))

    assert raised(durable) == [(ORDER_ID, type(data).__name__, data.to_document())]


async def test_raised_event_logs_the_message_id(durable, on_carrier_event, caplog):
    caplog.set_level(logging.INFO, logger="triggers.servicebus")
    durable.add_instance(ORDER_ID, {"orderId": ORDER_ID})

    await on_carrier_event(service_bus_message(envelope(DISPATCHED), message_id="msg-42"))

    record = next(
        record
        for record in caplog.records
        if record.getMessage().startswith("carrier event raised")
    )
    assert (record.messageId, record.orderId, record.eventType) == (
        "msg-42",
        ORDER_ID,
        "ShipmentDispatched",
    )


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"", "empty"),
        (b"<xml/>", "not JSON"),
        (b"[]", "not an object"),
        (b'{"specversion": "1.0"}', "missing field"),
        (
            envelope(DISPATCHED).replace(b'"trackingNumber":"SP-9",', b""),
            "trackingNumber",
        ),
    ],
    ids=["empty", "not-json", "array", "no-envelope-fields", "payload-field-missing"],
)
async def test_invalid_envelope_raises_naming_message_and_problem(
    durable, on_carrier_event, body, problem
):
    durable.add_instance(ORDER_ID, {"orderId": ORDER_ID})

    with pytest.raises(servicebus.UnusableMessage) as raised_error:
        await on_carrier_event(service_bus_message(body, message_id="msg-bad"))

    assert "message msg-bad" in str(raised_error.value)
    assert problem in str(raised_error.value)
    assert durable.raised == []


async def test_other_event_type_on_carrier_queue_raises(durable, on_carrier_event):
    durable.add_instance(ORDER_ID, {"orderId": ORDER_ID})
    body = envelope(OrderCancelled(order_id=ORDER_ID, reason="test"))

    with pytest.raises(servicebus.UnusableMessage, match="'OrderCancelled' does not belong"):
        await on_carrier_event(service_bus_message(body))

    assert durable.raised == []


async def test_event_for_an_unknown_order_raises(durable, on_carrier_event):
    with pytest.raises(servicebus.UnusableMessage) as raised_error:
        await on_carrier_event(service_bus_message(envelope(DISPATCHED), message_id="msg-7"))

    assert "message msg-7" in str(raised_error.value)
    assert f"no saga for order {ORDER_ID!r}" in str(raised_error.value)


async def test_unusable_message_is_logged_with_its_id(durable, on_carrier_event, caplog):
    caplog.set_level(logging.ERROR, logger="triggers.servicebus")

    with pytest.raises(servicebus.UnusableMessage):
        await on_carrier_event(service_bus_message(b"{", message_id="msg-8"))

    assert [record.messageId for record in caplog.records] == ["msg-8"]


@pytest.mark.parametrize("runtime_status", ["Completed", "Failed", "Terminated"])
async def test_event_for_a_finished_saga_completes_the_message(
    durable, on_carrier_event, caplog, runtime_status
):
    caplog.set_level(logging.INFO, logger="triggers.servicebus")
    durable.add_instance(ORDER_ID, {"orderId": ORDER_ID}, runtime_status=runtime_status)

    await on_carrier_event(service_bus_message(envelope(DELIVERED), message_id="msg-dup"))

    assert durable.raised == []
    logged = [record for record in caplog.records if "finished saga" in record.getMessage()]
    assert [record.messageId for record in logged] == ["msg-dup"]


# --- supplier events ----------------------------------------------------------------------


def stock_received(event_id: str = "sup-1") -> bytes:
    data = StockReceived(store_id="3", lines=[ReceivedLine(product_id="12", quantity=5)])
    return envelope(data, subject="3", event_id=event_id)


def on_hand(ports, store_id: str, product_id: str) -> int:
    return StockItem.model_validate(ports.stock.read(product_id, store_id).body).on_hand


def test_stock_received_adds_on_hand_stock(triggers, ports):
    triggers["on_supplier_event"](message=service_bus_message(stock_received()))

    assert on_hand(ports, "3", "12") == 5


def test_redelivered_stock_received_adds_once(triggers, ports):
    message = service_bus_message(stock_received())

    triggers["on_supplier_event"](message=message)
    triggers["on_supplier_event"](message=message)

    assert on_hand(ports, "3", "12") == 5


def test_other_event_type_on_supplier_queue_raises(triggers, ports):
    with pytest.raises(servicebus.UnusableMessage, match="'ShipmentDispatched' does not belong"):
        triggers["on_supplier_event"](message=service_bus_message(envelope(DISPATCHED)))


def test_invalid_supplier_message_raises(triggers):
    with pytest.raises(servicebus.UnusableMessage, match="message msg-1: invalid envelope"):
        triggers["on_supplier_event"](message=service_bus_message(b"not json"))
