"""CloudEvents envelopes: building, serializing and parsing every event type."""

import json
from datetime import UTC, datetime

import pytest

from domain.errors import InvalidMessage
from domain.messages import (
    CARRIER_EVENT_TYPES,
    EVENT_TYPES,
    CloudEvent,
    OrderCancelled,
    OrderPlaced,
    ShipmentDelivered,
    ShipmentDispatched,
    StockReceived,
    entity_for,
    event_id,
    parse_envelope,
    saga_event,
)

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def envelope(**overrides):
    body = {
        "specversion": "1.0",
        "id": "carrier-42",
        "source": "/carriers/ups",
        "type": "ShipmentDispatched",
        "subject": "order-1",
        "time": "2026-12-04T12:00:00Z",
        "datacontenttype": "application/json",
        "data": {
            "shipmentId": "shp-order-1",
            "orderId": "order-1",
            "carrier": "UPS",
            "trackingNumber": "1Z999",
            "dispatchedAt": "2026-12-04T11:59:00Z",
        },
    }
    body.update(overrides)
    return json.dumps(body).encode()


def rejection(body) -> InvalidMessage:
    with pytest.raises(InvalidMessage) as caught:
        parse_envelope(body)
    return caught.value


def test_event_id_joins_order_id_and_type():
    assert event_id("order-1", "OrderPlaced") == "order-1/OrderPlaced"


def test_saga_event_has_deterministic_id_subject_and_source():
    event = saga_event(OrderCancelled(order_id="order-1", reason="late"), T0)

    assert (event.id, event.subject, event.type) == (
        "order-1/OrderCancelled",
        "order-1",
        "OrderCancelled",
    )
    assert event.source == "/ajbikes/orders"


def test_saga_event_refuses_events_of_outside_systems():
    dispatched = ShipmentDispatched(
        shipment_id="shp-1", order_id="1", carrier="UPS", tracking_number="T", dispatched_at=T0
    )

    with pytest.raises(ValueError, match="outside system"):
        saga_event(dispatched, T0)


def test_envelope_bytes_parse_back_to_equal_typed_event():
    event = saga_event(OrderCancelled(order_id="order-1", reason="late"), T0)

    parsed = parse_envelope(event.to_bytes())

    assert parsed == event
    assert isinstance(parsed.data, OrderCancelled)


def test_envelope_json_attributes_and_data():
    body = json.loads(saga_event(OrderCancelled(order_id="o-1", reason="r"), T0).to_bytes())

    assert body["specversion"] == "1.0"
    assert body["datacontenttype"] == "application/json"
    assert body["time"] == "2026-12-04T12:00:00Z"
    assert body["data"] == {"orderId": "o-1", "reason": "r"}


def test_parse_types_carrier_dispatch_payload():
    event = parse_envelope(envelope())

    assert isinstance(event.data, ShipmentDispatched)
    assert event.data.tracking_number == "1Z999"


def test_parse_accepts_delivery_without_carrier_details():
    data = {"shipmentId": "shp-1", "orderId": "1", "deliveredAt": "2026-12-04T12:00:00Z"}

    event = parse_envelope(envelope(type="ShipmentDelivered", data=data))

    assert isinstance(event.data, ShipmentDelivered)
    assert event.data.carrier is None


def test_parse_accepts_text_body():
    assert parse_envelope(envelope().decode()).id == "carrier-42"


def test_parse_ignores_unknown_payload_fields():
    data = json.loads(envelope())["data"] | {"weightKg": 12}

    assert parse_envelope(envelope(data=data)).data.carrier == "UPS"


def test_parse_rejects_empty_body():
    assert "empty" in rejection(b"").reason


def test_parse_rejects_non_json_body():
    assert "not JSON" in rejection(b"{not json").reason


def test_parse_rejects_non_utf8_body():
    assert "not UTF-8" in rejection(b"\xff\xfe").reason


def test_parse_rejects_json_that_is_not_an_object():
    assert "not an object" in rejection(b"[1, 2]").reason


@pytest.mark.parametrize(
    "field", ["id", "source", "type", "subject", "time", "data", "specversion"]
)
def test_parse_names_missing_envelope_field(field):
    body = json.loads(envelope())
    del body[field]

    error = rejection(json.dumps(body).encode())

    assert error.field == field
    assert "missing" in error.reason


def test_parse_rejects_other_spec_version():
    error = rejection(envelope(specversion="0.3"))

    assert error.field == "specversion"


def test_parse_rejects_time_without_zone():
    error = rejection(envelope(time="2026-12-04T12:00:00"))

    assert error.field == "time"


def test_parse_rejects_unknown_type_naming_it():
    error = rejection(envelope(type="ParcelLost"))

    assert error.field == "type"
    assert "ParcelLost" in error.reason


def test_parse_names_missing_payload_field():
    data = json.loads(envelope())["data"]
    del data["trackingNumber"]

    error = rejection(envelope(data=data))

    assert error.field == "data.trackingNumber"
    assert "missing" in error.reason


def test_parse_names_invalid_payload_field():
    data = json.loads(envelope())["data"] | {"dispatchedAt": "yesterday"}

    error = rejection(envelope(data=data))

    assert error.field == "data.dispatchedAt"
    assert "invalid" in error.reason


def test_parse_names_invalid_nested_payload_field():
    data = {"storeId": "1", "lines": [{"productId": "5", "quantity": -2}]}

    error = rejection(envelope(type="StockReceived", subject="1", data=data))

    assert error.field == "data.lines[0].quantity"


def test_parse_types_stock_received():
    data = {"storeId": "1", "lines": [{"productId": "5", "quantity": 2}]}

    event = parse_envelope(envelope(type="StockReceived", subject="1", data=data))

    assert isinstance(event.data, StockReceived)


@pytest.mark.parametrize(
    ("type_name", "entity"),
    [
        ("OrderPlaced", "order-events"),
        ("OrderReturned", "order-events"),
        ("ShipmentRequested", "carrier-requests"),
        ("ShipmentCancellationRequested", "carrier-requests"),
        ("ShipmentDispatched", "carrier-events"),
        ("ShipmentDeliveryFailed", "carrier-events"),
        ("StockReceived", "supplier-events"),
    ],
)
def test_each_type_travels_on_its_entity(type_name, entity):
    assert entity_for(type_name) == entity


def test_entity_for_unknown_type_names_it():
    with pytest.raises(KeyError, match="ParcelLost"):
        entity_for("ParcelLost")


def test_carrier_event_types_are_the_three_carrier_answers():
    assert {
        "ShipmentDispatched",
        "ShipmentDelivered",
        "ShipmentDeliveryFailed",
    } == CARRIER_EVENT_TYPES


def test_every_event_type_is_named_after_its_payload_class():
    assert all(spec.data.__name__ == name for name, spec in EVENT_TYPES.items())


def test_order_placed_money_is_a_json_number():
    placed = OrderPlaced.model_validate(
        {
            "orderId": "o1",
            "storeId": "1",
            "customerId": "2",
            "lines": [{"productId": "3", "quantity": 1, "unitPrice": 9.99}],
            "total": 9.99,
        }
    )
    event = saga_event(placed, T0)

    assert json.loads(event.to_bytes())["data"]["total"] == 9.99


def test_cloud_event_exposes_its_entity():
    event = CloudEvent.model_validate_json(envelope())

    # Built without the parser, the payload stays untyped; the parser is the typed path.
    assert event.entity == "carrier-events"
