"""Shipments: creation from an order and status transitions."""

from datetime import UTC, datetime, timedelta

import pytest

from domain.errors import InvalidTransition
from domain.orders import new_order, parse_place_order
from domain.shipments import (
    ShipmentStatus,
    change_status,
    new_shipment,
    shipment_id,
    shipment_request,
)

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)

ORDER = new_order(
    parse_place_order(
        {
            "storeId": "2",
            "customerId": "5",
            "lines": [{"productId": "7", "quantity": 3, "unitPrice": 100}],
            "shipTo": {
                "name": "Customer C0005",
                "street": "5 Sample Street",
                "city": "Baldwin",
                "state": "NY",
                "postalCode": "11432",
            },
        }
    ),
    "order-9",
    T0,
)


def requested():
    return new_shipment(shipment_request(ORDER, ORDER.id), T0)


def test_shipment_request_carries_store_address_and_lines():
    request = shipment_request(ORDER, ORDER.id)

    assert request.order_id == "order-9"
    assert request.store_id == "2"
    assert request.ship_to == ORDER.ship_to
    assert [(item.product_id, item.quantity) for item in request.items] == [("7", 3)]


def test_shipment_id_is_derived_from_order_id():
    assert shipment_id("order-9") == "shp-order-9"


def test_new_shipment_copies_store_address_and_items():
    shipment = requested()

    assert shipment.id == "shp-order-9"
    assert shipment.store_id == "2"
    assert shipment.ship_to == ORDER.ship_to
    assert [(i.product_id, i.quantity) for i in shipment.items] == [("7", 3)]
    assert shipment.status == ShipmentStatus.REQUESTED


def test_dispatch_records_carrier_and_tracking_number():
    dispatched = change_status(
        requested(),
        ShipmentStatus.DISPATCHED,
        T0 + timedelta(hours=1),
        carrier="UPS",
        tracking_number="1Z999",
    )

    assert (dispatched.carrier, dispatched.tracking_number) == ("UPS", "1Z999")
    assert dispatched.history[-1].at == T0 + timedelta(hours=1)


def test_delivery_does_not_overwrite_dispatch_tracking_number():
    dispatched = change_status(
        requested(), ShipmentStatus.DISPATCHED, T0, carrier="UPS", tracking_number="A"
    )

    delivered = change_status(
        dispatched, ShipmentStatus.DELIVERED, T0, carrier="DHL", tracking_number="B"
    )

    assert (delivered.carrier, delivered.tracking_number) == ("UPS", "A")


def test_requested_shipment_may_be_delivered_without_dispatch():
    delivered = change_status(requested(), ShipmentStatus.DELIVERED, T0)

    assert delivered.status == ShipmentStatus.DELIVERED


def test_repeated_dispatch_is_a_no_op():
    dispatched = change_status(requested(), ShipmentStatus.DISPATCHED, T0)

    assert change_status(dispatched, ShipmentStatus.DISPATCHED, T0) is dispatched


def test_dispatch_after_delivery_is_a_no_op():
    shipment = change_status(requested(), ShipmentStatus.DISPATCHED, T0)
    delivered = change_status(shipment, ShipmentStatus.DELIVERED, T0)

    assert change_status(delivered, ShipmentStatus.DISPATCHED, T0) is delivered


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ([ShipmentStatus.CANCELLED], ShipmentStatus.DISPATCHED),
        ([ShipmentStatus.DISPATCHED], ShipmentStatus.CANCELLED),
        ([], ShipmentStatus.DELIVERY_FAILED),
        ([ShipmentStatus.DISPATCHED, ShipmentStatus.DELIVERED], ShipmentStatus.DELIVERY_FAILED),
    ],
)
def test_disallowed_shipment_transition_names_both_statuses(path, target):
    shipment = requested()
    for step in path:
        shipment = change_status(shipment, step, T0)

    with pytest.raises(InvalidTransition) as caught:
        change_status(shipment, target, T0)

    assert shipment.status.value in str(caught.value)
    assert target.value in str(caught.value)
