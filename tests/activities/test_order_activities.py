"""The Orders activities on real SQLite stores: effects, idempotency, races and events."""

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from store_doubles import with_racing_store

from activities import common
from activities.orders import (
    cancel_order_activity,
    commit_stock_activity,
    receive_stock,
    reserve_stock_activity,
)
from domain.errors import InvalidTransition, PreconditionFailed
from domain.messages import CloudEvent, StockReceived, parse_envelope
from domain.orders import Order
from domain.stock import StockItem

ORDER_ACTIVITIES = {
    "record_order",
    "reserve_stock",
    "reject_order",
    "commit_stock",
    "release_stock",
    "return_stock",
    "mark_order_shipped",
    "complete_order",
    "cancel_order",
    "return_order",
}
SHIPMENT_ACTIVITIES = {
    "request_shipment",
    "record_dispatch",
    "record_delivery",
    "record_delivery_failure",
    "cancel_shipment",
}

SHIP_TO = {
    "name": "Customer C0259",
    "street": "259 Sample Street",
    "city": "Orchard Park",
    "state": "NY",
    "postalCode": "14127",
}


def order_request(lines):
    return {
        "storeId": "1",
        "customerId": "259",
        "lines": [
            {"productId": product, "quantity": quantity, "unitPrice": 100.0}
            for product, quantity in lines
        ],
        "shipTo": SHIP_TO,
    }


def seed(ports, on_hand: dict[str, int], store_id: str = "1"):
    for product_id, quantity in on_hand.items():
        item = StockItem(id=product_id, store_id=store_id, product_id=product_id, on_hand=quantity)
        ports.stock.create(item.to_document(), store_id)


def stock(ports, product_id: str, store_id: str = "1") -> StockItem:
    return StockItem.model_validate(ports.stock.read(product_id, store_id).body)


def order(ports, order_id: str = "order-1") -> Order:
    return Order.model_validate(ports.orders.read(order_id, order_id).body)


def place(run, lines=(("a", 2), ("b", 1)), order_id="order-1"):
    return run("record_order", {"orderId": order_id, "order": order_request(list(lines))})


@pytest.fixture
def reserved(ports, run):
    """An order for 2 a and 1 b at store 1, reserved out of 5 a and 3 b."""
    seed(ports, {"a": 5, "b": 3})
    place(run)
    run("reserve_stock", {"orderId": "order-1"})


def test_blueprints_register_every_activity_by_its_name(run):
    assert set(run.functions) == ORDER_ACTIVITIES | SHIPMENT_ACTIVITIES


def test_record_order_stores_pending_order(ports, run):
    result = place(run)

    assert result == {"orderId": "order-1", "status": "Pending", "total": 300.0}
    assert order(ports).status == "Pending"


def test_record_order_publishes_order_placed(publisher, run):
    place(run)

    event = publisher.events[0]
    assert (event.id, event.type, event.subject) == (
        "order-1/OrderPlaced",
        "OrderPlaced",
        "order-1",
    )
    assert event.data.store_id == "1"


def test_record_order_twice_keeps_one_order(ports, publisher, run):
    place(run)
    first = ports.orders.read("order-1", "order-1")

    place(run)

    assert ports.orders.read("order-1", "order-1").etag == first.etag
    assert publisher.ids == ["order-1/OrderPlaced", "order-1/OrderPlaced"]
    assert publisher.events[0].to_bytes() == publisher.events[1].to_bytes()


def test_record_order_rejects_invalid_input_naming_the_field(run):
    with pytest.raises(ValueError, match=r"record_order received an invalid input: order\.lines"):
        run("record_order", {"orderId": "order-1", "order": order_request([])})


def test_reserve_stock_moves_on_hand_to_the_order(ports, run, reserved):
    assert stock(ports, "a").on_hand == 3
    assert stock(ports, "a").reservations == {"order-1": 2}
    assert stock(ports, "b").reservations == {"order-1": 1}


def test_reserve_stock_twice_reserves_once(ports, run, reserved):
    result = run("reserve_stock", {"orderId": "order-1"})

    assert result == {"reserved": True, "shortLines": []}
    assert stock(ports, "a").on_hand == 3


def test_reserve_stock_short_line_reserves_nothing(ports, run):
    seed(ports, {"a": 5, "b": 0})
    place(run)

    result = run("reserve_stock", {"orderId": "order-1"})

    assert result == {
        "reserved": False,
        "shortLines": [{"productId": "b", "requested": 1, "available": 0, "stocked": True}],
    }
    assert stock(ports, "a").on_hand == 5


def test_reserve_stock_for_product_never_stocked_is_short(ports, run):
    place(run, lines=[("zz", 1)])

    result = run("reserve_stock", {"orderId": "order-1"})

    assert result["shortLines"] == [
        {"productId": "zz", "requested": 1, "available": 0, "stocked": False}
    ]


def test_reserve_stock_retries_after_a_concurrent_write(ports, run):
    seed(ports, {"a": 5, "b": 3})
    place(run)

    def another_order_takes_one(store, document):
        body = dict(document.body, onHand=document.body["onHand"] - 1)
        body["reservations"] = {**document.body["reservations"], "order-2": 1}
        store.replace(body, "1", document.etag)

    ports_with_race = with_racing_store(ports, "stock", another_order_takes_one)
    result = reserve_stock_activity(ports_with_race, {"orderId": "order-1"})

    assert result["reserved"] is True
    assert stock(ports, "a").reservations == {"order-2": 1, "order-1": 2}
    assert stock(ports, "a").on_hand == 2


def test_reserve_stock_gives_up_after_bounded_write_races(ports, run):
    seed(ports, {"a": 5, "b": 3})
    place(run)

    def touch(store, document):
        store.replace(dict(document.body), "1", document.etag)

    racing = with_racing_store(ports, "stock", touch, races=1000)
    with pytest.raises(PreconditionFailed):
        reserve_stock_activity(racing, {"orderId": "order-1"})

    assert racing.stock.races == 1000 - 2 * common.MAX_WRITE_ATTEMPTS


def test_reserve_stock_for_a_cancelled_order_reserves_nothing(ports, run):
    seed(ports, {"a": 5, "b": 3})
    place(run)
    run("cancel_order", {"orderId": "order-1", "reason": "changed mind"})

    result = run("reserve_stock", {"orderId": "order-1"})

    assert result == {"reserved": False, "shortLines": []}
    assert stock(ports, "a").on_hand == 5


def test_concurrent_orders_never_oversell(ports, run):
    # MAX_WRITE_ATTEMPTS writers on one document all finish: each lost race is another's commit.
    writers = common.MAX_WRITE_ATTEMPTS
    seed(ports, {"a": writers - 2})
    for n in range(writers):
        place(run, lines=[("a", 1)], order_id=f"order-{n}")

    with ThreadPoolExecutor(max_workers=writers) as pool:
        futures = [
            pool.submit(run, "reserve_stock", {"orderId": f"order-{n}"}) for n in range(writers)
        ]
        reserved = [future.result()["reserved"] for future in futures]

    assert sum(reserved) == writers - 2
    assert stock(ports, "a").on_hand == 0
    assert stock(ports, "a").total == writers - 2


def test_release_stock_returns_reservations_exactly_once(ports, run, reserved):
    first = run("release_stock", {"orderId": "order-1", "reason": "cancelled"})
    second = run("release_stock", {"orderId": "order-1", "reason": "cancelled"})

    assert sorted(first["changedProducts"]) == ["a", "b"]
    assert second["changedProducts"] == []
    assert (stock(ports, "a").on_hand, stock(ports, "b").on_hand) == (5, 3)


def test_commit_stock_moves_reservations_to_shipped_once(ports, run, reserved):
    run("commit_stock", {"orderId": "order-1"})
    again = run("commit_stock", {"orderId": "order-1"})

    assert again["changedProducts"] == []
    assert stock(ports, "a").shipped == {"order-1": 2}
    assert stock(ports, "a").reservations == {}


def test_release_after_commit_changes_nothing(ports, run, reserved):
    run("commit_stock", {"orderId": "order-1"})

    result = run("release_stock", {"orderId": "order-1"})

    assert result["changedProducts"] == []
    assert stock(ports, "a").shipped == {"order-1": 2}


def test_return_stock_puts_shipped_back_once(ports, run, reserved):
    run("commit_stock", {"orderId": "order-1"})

    run("return_stock", {"orderId": "order-1"})
    again = run("return_stock", {"orderId": "order-1"})

    assert again["changedProducts"] == []
    assert (stock(ports, "a").on_hand, stock(ports, "a").shipped) == (5, {})


def test_commit_stock_retries_after_a_concurrent_write(ports, run, reserved):
    def supplier_adds_one(store, document):
        store.replace(dict(document.body, onHand=document.body["onHand"] + 1), "1", document.etag)

    commit_stock_activity(
        with_racing_store(ports, "stock", supplier_adds_one), {"orderId": "order-1"}
    )

    assert stock(ports, "a").shipped == {"order-1": 2}
    assert stock(ports, "a").on_hand == 4


def test_stock_is_conserved_across_the_whole_lifecycle(ports, run):
    seed(ports, {"a": 5, "b": 3})
    place(run, order_id="order-1")
    place(run, lines=[("a", 3)], order_id="order-2")
    totals = []

    for name, order_id in [
        ("reserve_stock", "order-1"),
        ("reserve_stock", "order-2"),
        ("commit_stock", "order-1"),
        ("release_stock", "order-2"),
        ("return_stock", "order-1"),
        ("release_stock", "order-1"),
    ]:
        run(name, {"orderId": order_id})
        totals.append((stock(ports, "a").total, stock(ports, "b").total))

    assert totals == [(5, 3)] * 6


def test_reject_order_records_short_lines_and_publishes(ports, publisher, run):
    place(run)
    short = [{"productId": "b", "requested": 1, "available": 0}]

    result = run("reject_order", {"orderId": "order-1", "shortLines": short})

    assert result == {"orderId": "order-1", "status": "Rejected"}
    assert order(ports).status_reason == "not enough stock: b (requested 1, available 0)"
    rejected = publisher.events[-1]
    assert rejected.id == "order-1/OrderRejected"
    assert rejected.data.short_lines[0].product_id == "b"


def test_reject_order_names_products_store_never_stocked(ports, run):
    place(run)
    short = [{"productId": "zz", "requested": 1, "available": 0, "stocked": False}]

    run("reject_order", {"orderId": "order-1", "shortLines": short})

    assert order(ports).status_reason == (
        f"store {order(ports).store_id!r} has never stocked zz; "
        "check the store id and the product ids"
    )


@pytest.mark.parametrize(
    ("steps", "event_type"),
    [
        (["mark_order_shipped"], "OrderShipped"),
        (["mark_order_shipped", "complete_order"], "OrderCompleted"),
        (["cancel_order"], "OrderCancelled"),
        (["mark_order_shipped", "return_order"], "OrderReturned"),
    ],
)
def test_status_activity_twice_writes_once(ports, publisher, run, steps, event_type):
    place(run)
    for name in steps:
        run(name, {"orderId": "order-1", "reason": "why"})
    etag = ports.orders.read("order-1", "order-1").etag
    history = order(ports).history

    run(steps[-1], {"orderId": "order-1", "reason": "why"})

    assert ports.orders.read("order-1", "order-1").etag == etag
    assert order(ports).history == history
    assert publisher.events[-1].id == f"order-1/{event_type}"
    assert publisher.events[-1].to_bytes() == publisher.events[-2].to_bytes()


def test_cancel_order_keeps_the_reason(ports, publisher, run):
    place(run)

    run("cancel_order", {"orderId": "order-1", "reason": "the carrier did not dispatch"})

    assert order(ports).status_reason == "the carrier did not dispatch"
    assert publisher.events[-1].data.reason == "the carrier did not dispatch"


def test_mark_shipped_publishes_the_shipment_id(publisher, run):
    place(run)

    run("mark_order_shipped", {"orderId": "order-1", "carrier": "UPS", "trackingNumber": "1Z"})

    shipped = publisher.events[-1].data
    assert (shipped.shipment_id, shipped.carrier, shipped.tracking_number) == (
        "shp-order-1",
        "UPS",
        "1Z",
    )


def test_shipping_a_cancelled_order_is_an_invalid_transition(run):
    place(run)
    run("cancel_order", {"orderId": "order-1"})

    with pytest.raises(InvalidTransition, match="Cancelled to Shipped"):
        run("mark_order_shipped", {"orderId": "order-1"})


def test_order_status_change_retries_after_a_concurrent_write(ports, run):
    place(run)

    def touch(store, document):
        store.replace(dict(document.body), "order-1", document.etag)

    cancel_order_activity(with_racing_store(ports, "orders", touch), {"orderId": "order-1"})

    assert order(ports).status == "Cancelled"


def test_published_envelopes_parse_back_from_their_bytes(publisher, run, reserved):
    run("commit_stock", {"orderId": "order-1"})
    run("mark_order_shipped", {"orderId": "order-1"})
    run("complete_order", {"orderId": "order-1"})

    parsed = [parse_envelope(event.to_bytes()) for event in publisher.events]

    assert parsed == publisher.events
    assert [event.type for event in parsed] == ["OrderPlaced", "OrderShipped", "OrderCompleted"]


def stock_received(event_id: str, lines: dict[str, int], store_id: str = "1") -> CloudEvent:
    data = StockReceived.model_validate(
        {"storeId": store_id, "lines": [{"productId": p, "quantity": q} for p, q in lines.items()]}
    )
    return CloudEvent(
        id=event_id,
        source="/suppliers/trek",
        type="StockReceived",
        subject=store_id,
        time=datetime(2026, 12, 4, tzinfo=UTC),
        data=data,
    )


def test_receive_stock_adds_to_existing_and_new_products(ports):
    seed(ports, {"a": 1})

    result = receive_stock(ports, stock_received("supplier-1", {"a": 4, "new": 2}))

    assert result == {"storeId": "1", "changedProducts": ["a", "new"]}
    assert (stock(ports, "a").on_hand, stock(ports, "new").on_hand) == (5, 2)


def test_receive_stock_applies_each_event_id_once(ports):
    seed(ports, {"a": 1})
    event = stock_received("supplier-1", {"a": 4})

    receive_stock(ports, event)
    again = receive_stock(ports, event)

    assert again["changedProducts"] == []
    assert stock(ports, "a").on_hand == 5


def test_receive_stock_applies_distinct_events_each(ports):
    seed(ports, {"a": 1})

    receive_stock(ports, stock_received("supplier-1", {"a": 4}))
    receive_stock(ports, stock_received("supplier-2", {"a": 4}))

    assert stock(ports, "a").on_hand == 9


def test_receive_stock_concurrent_new_product_deliveries(ports):
    # The first delivery creates the item; the others lose the create and add to the winner's.
    writers = common.MAX_WRITE_ATTEMPTS
    events = [stock_received(f"supplier-{n}", {"new": 1}) for n in range(writers)]

    with ThreadPoolExecutor(max_workers=writers) as pool:
        for result in [pool.submit(receive_stock, ports, event) for event in events]:
            assert result.result()["changedProducts"] == ["new"]

    assert stock(ports, "new").on_hand == writers


def test_receive_stock_rejects_other_event_types(ports, publisher, run):
    place(run)

    with pytest.raises(ValueError, match="takes StockReceived events, got OrderPlaced"):
        receive_stock(ports, publisher.events[0])
