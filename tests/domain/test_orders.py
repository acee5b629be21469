"""Order requests, totals and status transitions."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from domain.errors import InvalidTransition, ValidationFailed
from domain.orders import (
    ALLOWED_TRANSITIONS,
    MAX_LINES,
    Order,
    OrderStatus,
    PlaceOrder,
    change_status,
    new_order,
    parse_place_order,
)

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


def request_body(**overrides):
    body = {
        "storeId": "1",
        "customerId": "259",
        "lines": [
            {"productId": "20", "quantity": 1, "unitPrice": 599.99, "discount": 0.2},
            {"productId": "8", "quantity": 2, "unitPrice": 1799.99, "discount": 0.07},
        ],
        "shipTo": {
            "name": "Customer C0259",
            "street": "259 Sample Street",
            "city": "Orchard Park",
            "state": "NY",
            "postalCode": "14127",
        },
    }
    body.update(overrides)
    return body


def field_errors(body):
    with pytest.raises(ValidationFailed) as caught:
        parse_place_order(body)
    return {error.field: error.message for error in caught.value.errors}


def pending_order():
    return new_order(parse_place_order(request_body()), "order-1", T0)


def test_place_order_reads_camel_case_fields():
    request = parse_place_order(request_body(clientOrderId="client-7"))

    assert request.store_id == "1"
    assert request.lines[1].unit_price == Decimal("1799.99")
    assert request.ship_to.postal_code == "14127"
    assert request.client_order_id == "client-7"


def test_place_order_rejects_zero_quantity_with_field_path():
    lines = [{"productId": "20", "quantity": 0, "unitPrice": 1}]

    errors = field_errors(request_body(lines=lines))

    assert "lines[0].quantity" in errors


def test_place_order_rejects_price_with_three_decimals():
    lines = [{"productId": "20", "quantity": 1, "unitPrice": 1.005}]

    errors = field_errors(request_body(lines=lines))

    assert "lines[0].unitPrice" in errors


def test_place_order_rejects_negative_price():
    lines = [{"productId": "20", "quantity": 1, "unitPrice": -1}]

    assert "lines[0].unitPrice" in field_errors(request_body(lines=lines))


def test_place_order_rejects_discount_above_one():
    lines = [{"productId": "20", "quantity": 1, "unitPrice": 10, "discount": 1.5}]

    assert "lines[0].discount" in field_errors(request_body(lines=lines))


def test_place_order_rejects_empty_lines():
    assert "lines" in field_errors(request_body(lines=[]))


def test_place_order_rejects_more_than_max_lines():
    lines = [{"productId": str(n), "quantity": 1, "unitPrice": 1} for n in range(MAX_LINES + 1)]

    assert "lines" in field_errors(request_body(lines=lines))


def test_place_order_rejects_duplicate_product():
    line = {"productId": "20", "quantity": 1, "unitPrice": 1}

    errors = field_errors(request_body(lines=[line, line]))

    assert "appears on more than one line" in errors["lines"]


def test_place_order_rejects_unknown_field():
    assert "storeID" in field_errors(request_body(storeID="1"))


def test_place_order_rejects_missing_ship_to():
    body = request_body()
    del body["shipTo"]

    assert "shipTo" in field_errors(body)


def test_place_order_rejects_id_with_slash():
    assert "storeId" in field_errors(request_body(storeId="1/2"))


def test_place_order_lists_every_invalid_field():
    body = request_body(storeId="", customerId=None)

    assert set(field_errors(body)) == {"storeId", "customerId"}


def test_place_order_json_schema_uses_camel_case():
    schema = PlaceOrder.model_json_schema(by_alias=True)

    assert set(schema["required"]) == {"storeId", "customerId", "lines", "shipTo"}


def test_new_order_totals_discounted_lines_to_the_cent():
    order = pending_order()

    # 599.99 * 0.8 + 2 * 1799.99 * 0.93 = 479.992 + 3347.9814 = 3827.9734
    assert order.total == Decimal("3827.97")


def test_new_order_starts_pending_with_one_history_entry():
    order = pending_order()

    assert order.status == OrderStatus.PENDING
    assert [change.status for change in order.history] == [OrderStatus.PENDING]


def test_order_document_round_trips_with_numbers_for_money():
    document = pending_order().to_document()

    assert document["total"] == 3827.97
    assert Order.model_validate(document) == pending_order()


@pytest.mark.parametrize(
    ("start", "target"),
    [
        (OrderStatus.PENDING, OrderStatus.REJECTED),
        (OrderStatus.PENDING, OrderStatus.SHIPPED),
        (OrderStatus.PENDING, OrderStatus.CANCELLED),
        (OrderStatus.SHIPPED, OrderStatus.COMPLETED),
        (OrderStatus.SHIPPED, OrderStatus.RETURNED),
    ],
)
def test_change_status_allows_listed_transition(start, target):
    order = _order_in(start)

    changed = change_status(order, target, T0 + timedelta(hours=2), reason="why")

    assert changed.status == target
    assert changed.status_reason == "why"
    assert changed.history[-1].status == target


def test_change_status_to_current_status_is_a_no_op():
    order = _order_in(OrderStatus.CANCELLED, reason="first")

    repeated = change_status(order, OrderStatus.CANCELLED, T0 + timedelta(days=1), reason="second")

    assert repeated is order


def test_change_status_to_an_earlier_status_is_a_no_op():
    completed = _order_in(OrderStatus.COMPLETED)

    late = change_status(completed, OrderStatus.SHIPPED, T0 + timedelta(days=1))

    assert late is completed


@pytest.mark.parametrize(
    ("start", "target"),
    [
        (OrderStatus.CANCELLED, OrderStatus.SHIPPED),
        (OrderStatus.REJECTED, OrderStatus.CANCELLED),
        (OrderStatus.PENDING, OrderStatus.COMPLETED),
        (OrderStatus.PENDING, OrderStatus.RETURNED),
        (OrderStatus.SHIPPED, OrderStatus.CANCELLED),
    ],
)
def test_change_status_rejects_disallowed_transition_naming_both(start, target):
    order = _order_in(start)

    with pytest.raises(InvalidTransition) as caught:
        change_status(order, target, T0)

    assert start.value in str(caught.value)
    assert target.value in str(caught.value)


def test_final_statuses_allow_no_transition():
    finals = {status for status, targets in ALLOWED_TRANSITIONS.items() if not targets}

    assert finals == {
        OrderStatus.REJECTED,
        OrderStatus.COMPLETED,
        OrderStatus.CANCELLED,
        OrderStatus.RETURNED,
    }


def _order_in(status: OrderStatus, reason: str | None = None) -> Order:
    order = pending_order()
    path = {
        OrderStatus.PENDING: [],
        OrderStatus.REJECTED: [OrderStatus.REJECTED],
        OrderStatus.SHIPPED: [OrderStatus.SHIPPED],
        OrderStatus.CANCELLED: [OrderStatus.CANCELLED],
        OrderStatus.COMPLETED: [OrderStatus.SHIPPED, OrderStatus.COMPLETED],
        OrderStatus.RETURNED: [OrderStatus.SHIPPED, OrderStatus.RETURNED],
    }[status]
    for hours, step in enumerate(path, start=1):
        order = change_status(order, step, T0 + timedelta(hours=hours), reason)
    return order
