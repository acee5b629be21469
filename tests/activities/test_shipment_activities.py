"""The Shipments activities on real SQLite stores: effects, idempotency, races and messages."""

import pytest
from store_doubles import with_racing_store

from activities.shipments import cancel_shipment_activity, record_dispatch_activity
from domain.errors import InvalidTransition, NotFound
from domain.orders import parse_place_order
from domain.shipments import Shipment, shipment_request

ORDER = {
    "storeId": "3",
    "customerId": "12",
    "lines": [{"productId": "7", "quantity": 2, "unitPrice": 449.99}],
    "shipTo": {
        "name": "Customer C0012",
        "street": "12 Sample Street",
        "city": "Rowlett",
        "state": "TX",
        "postalCode": "75088",
    },
}


def shipment_request_input(order_id: str) -> dict:
    """The request_shipment input the saga builds from ORDER."""
    return shipment_request(parse_place_order(ORDER), order_id).to_document()


@pytest.fixture
def requested(run):
    run("record_order", {"orderId": "order-1", "order": ORDER})
    return run("request_shipment", shipment_request_input("order-1"))


def shipment(ports) -> Shipment:
    return Shipment.model_validate(ports.shipments.read("shp-order-1", "order-1").body)


def test_request_shipment_creates_it_from_the_request(ports, requested):
    assert requested == {"shipmentId": "shp-order-1", "status": "Requested"}
    assert shipment(ports).store_id == "3"
    assert shipment(ports).ship_to.city == "Rowlett"


def test_request_shipment_sends_shipment_requested_to_the_carrier(publisher, requested):
    event = publisher.events[-1]

    assert (event.id, event.type, event.entity) == (
        "order-1/ShipmentRequested",
        "ShipmentRequested",
        "carrier-requests",
    )
    assert [(i.product_id, i.quantity) for i in event.data.items] == [("7", 2)]


def test_request_shipment_twice_creates_one(ports, publisher, run, requested):
    etag = ports.shipments.read("shp-order-1", "order-1").etag

    run("request_shipment", shipment_request_input("order-1"))

    assert ports.shipments.read("shp-order-1", "order-1").etag == etag
    assert publisher.events[-1].to_bytes() == publisher.events[-2].to_bytes()


def test_request_shipment_reads_nothing_of_the_orders_service(ports, run):
    # No order recorded: the Shipments service works from the saga's request alone.
    result = run("request_shipment", shipment_request_input("order-7"))

    assert result == {"shipmentId": "shp-order-7", "status": "Requested"}
    with pytest.raises(NotFound):
        ports.orders.read("order-7", "order-7")


def test_request_shipment_without_items_is_rejected(run):
    request = {**shipment_request_input("order-8"), "items": []}

    with pytest.raises(ValueError, match="request_shipment"):
        run("request_shipment", request)


def test_record_dispatch_keeps_carrier_tracking_and_time(ports, run, requested):
    result = run(
        "record_dispatch",
        {
            "orderId": "order-1",
            "carrier": "UPS",
            "trackingNumber": "1Z999",
            "dispatchedAt": "2026-12-04T10:00:00Z",
        },
    )

    assert result == {
        "shipmentId": "shp-order-1",
        "status": "Dispatched",
        "carrier": "UPS",
        "trackingNumber": "1Z999",
    }
    assert shipment(ports).history[-1].at.isoformat() == "2026-12-04T10:00:00+00:00"


def test_record_dispatch_twice_writes_once(ports, run, requested):
    dispatch = {"orderId": "order-1", "carrier": "UPS", "trackingNumber": "1Z999"}
    run("record_dispatch", dispatch)
    etag = ports.shipments.read("shp-order-1", "order-1").etag

    run("record_dispatch", dispatch)

    assert ports.shipments.read("shp-order-1", "order-1").etag == etag


def test_record_dispatch_sends_no_message(publisher, run, requested):
    run("record_dispatch", {"orderId": "order-1", "carrier": "UPS", "trackingNumber": "1Z"})

    assert publisher.ids == ["order-1/OrderPlaced", "order-1/ShipmentRequested"]


def test_record_dispatch_rejects_time_without_zone(run, requested):
    with pytest.raises(ValueError, match="dispatchedAt"):
        run("record_dispatch", {"orderId": "order-1", "dispatchedAt": "2026-12-04T10:00:00"})


def test_record_dispatch_retries_after_a_concurrent_write(ports, requested):
    def touch(store, document):
        store.replace(dict(document.body), "order-1", document.etag)

    racing = with_racing_store(ports, "shipments", touch)

    record_dispatch_activity(racing, {"orderId": "order-1", "carrier": "UPS"})

    assert shipment(ports).status == "Dispatched"


def test_delivery_without_dispatch_event_records_carrier_details(ports, run, requested):
    delivered = {"orderId": "order-1", "carrier": "DHL", "trackingNumber": "JD01"}
    run("record_dispatch", delivered)

    run("record_delivery", {"orderId": "order-1", "deliveredAt": "2026-12-05T09:00:00Z"})

    assert shipment(ports).status == "Delivered"
    assert shipment(ports).tracking_number == "JD01"


def test_record_delivery_twice_writes_once(ports, run, requested):
    run("record_dispatch", {"orderId": "order-1"})
    run("record_delivery", {"orderId": "order-1"})
    etag = ports.shipments.read("shp-order-1", "order-1").etag

    run("record_delivery", {"orderId": "order-1"})

    assert ports.shipments.read("shp-order-1", "order-1").etag == etag


def test_record_delivery_failure_keeps_the_reason(ports, run, requested):
    run("record_dispatch", {"orderId": "order-1"})

    result = run("record_delivery_failure", {"orderId": "order-1", "reason": "address unknown"})

    assert result["status"] == "DeliveryFailed"
    assert shipment(ports).status_reason == "address unknown"


def test_delivery_failure_before_dispatch_is_an_invalid_transition(run, requested):
    with pytest.raises(InvalidTransition, match="Requested to DeliveryFailed"):
        run("record_delivery_failure", {"orderId": "order-1", "reason": "lost"})


def test_cancel_shipment_notifies_the_carrier(ports, publisher, run, requested):
    result = run("cancel_shipment", {"orderId": "order-1", "reason": "customer cancelled"})

    assert result == {"shipmentId": "shp-order-1", "cancelled": True, "status": "Cancelled"}
    message = publisher.events[-1]
    assert (message.id, message.entity) == (
        "order-1/ShipmentCancellationRequested",
        "carrier-requests",
    )
    assert message.data.reason == "customer cancelled"


def test_cancel_shipment_twice_resends_the_same_message(ports, publisher, run, requested):
    run("cancel_shipment", {"orderId": "order-1", "reason": "late"})
    etag = ports.shipments.read("shp-order-1", "order-1").etag

    run("cancel_shipment", {"orderId": "order-1", "reason": "late"})

    assert ports.shipments.read("shp-order-1", "order-1").etag == etag
    assert publisher.events[-1].to_bytes() == publisher.events[-2].to_bytes()


def test_cancel_shipment_without_shipment_sends_nothing(publisher, run):
    run("record_order", {"orderId": "order-1", "order": ORDER})

    result = run("cancel_shipment", {"orderId": "order-1", "reason": "fault"})

    assert result == {"shipmentId": "shp-order-1", "cancelled": False, "status": None}
    assert publisher.ids == ["order-1/OrderPlaced"]


def test_cancel_after_dispatch_still_notifies_carrier(ports, publisher, run, requested):
    run("record_dispatch", {"orderId": "order-1", "carrier": "UPS", "trackingNumber": "1Z"})

    result = run("cancel_shipment", {"orderId": "order-1", "reason": "deadline passed"})

    assert result == {"shipmentId": "shp-order-1", "cancelled": False, "status": "Dispatched"}
    assert shipment(ports).status == "Dispatched"
    assert publisher.events[-1].type == "ShipmentCancellationRequested"
    assert publisher.events[-1].data.reason == "deadline passed"


def test_cancel_shipment_retries_after_a_concurrent_write(ports, requested):
    def touch(store, document):
        store.replace(dict(document.body), "order-1", document.etag)

    racing = with_racing_store(ports, "shipments", touch)

    cancel_shipment_activity(racing, {"orderId": "order-1", "reason": "late"})

    assert shipment(ports).status == "Cancelled"


def test_longest_order_id_gets_a_valid_shipment(ports, run):
    order_id = "o" * 64
    run("record_order", {"orderId": order_id, "order": ORDER})

    result = run("request_shipment", shipment_request_input(order_id))

    assert result["shipmentId"] == f"shp-{order_id}"
