"""Stock reservations, commits, releases, returns and receipts at one store."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.orders import OrderLine
from domain.stock import (
    ShortLine,
    StockItem,
    commit,
    empty_item,
    receive,
    rejection_reason,
    release,
    reserve,
    return_shipped,
)


def item(product_id: str, on_hand: int) -> StockItem:
    return StockItem(id=product_id, store_id="1", product_id=product_id, on_hand=on_hand)


def line(product_id: str, quantity: int) -> OrderLine:
    return OrderLine(product_id=product_id, quantity=quantity, unit_price=Decimal("10.00"))


def by_product(items):
    return {stock.product_id: stock for stock in items}


def test_reserve_takes_every_line_from_on_hand():
    items = by_product([item("a", 5), item("b", 3)])

    outcome = reserve(items, "o1", [line("a", 2), line("b", 3)])

    assert outcome.reserved
    assert {i.product_id: i.on_hand for i in outcome.items} == {"a": 3, "b": 0}
    assert {i.product_id: i.reservations for i in outcome.items} == {"a": {"o1": 2}, "b": {"o1": 3}}


def test_reserve_with_one_short_line_reserves_nothing():
    items = by_product([item("a", 5), item("b", 1)])

    outcome = reserve(items, "o1", [line("a", 2), line("b", 3)])

    assert not outcome.reserved
    assert outcome.items == []


def test_reserve_reports_short_lines_with_requested_and_available():
    items = by_product([item("a", 5), item("b", 1)])

    outcome = reserve(items, "o1", [line("a", 9), line("b", 3), line("c", 1)])

    reported = [(s.product_id, s.requested, s.available) for s in outcome.short_lines]
    assert reported == [("a", 9, 5), ("b", 3, 1), ("c", 1, 0)]


def test_reserve_marks_products_the_store_never_stocked():
    items = by_product([item("a", 0)])

    outcome = reserve(items, "o1", [line("a", 1), line("c", 1)])

    assert [(s.product_id, s.stocked) for s in outcome.short_lines] == [("a", True), ("c", False)]


def test_rejection_reason_lists_short_lines():
    short = [ShortLine(product_id="a", requested=2, available=1)]

    assert rejection_reason("1", short) == "not enough stock: a (requested 2, available 1)"


def test_rejection_reason_names_store_that_never_stocked_product():
    unstocked = [ShortLine(product_id="8", requested=1, available=0, stocked=False)]

    reason = rejection_reason("nowhere", unstocked)

    assert reason == "store 'nowhere' has never stocked 8; check the store id and the product ids"


def test_rejection_reason_separates_unstocked_from_short_lines():
    lines = [
        ShortLine(product_id="a", requested=2, available=1),
        ShortLine(product_id="z", requested=1, available=0, stocked=False),
    ]

    reason = rejection_reason("1", lines)

    assert reason == (
        "store '1' has never stocked z; check the store id and the product ids; "
        "not enough stock: a (requested 2, available 1)"
    )


def test_reserve_repeated_for_same_order_changes_nothing():
    first = reserve(by_product([item("a", 5)]), "o1", [line("a", 2)])

    again = reserve(by_product(first.items), "o1", [line("a", 2)])

    assert again.reserved
    assert again.items == []


def test_reserve_after_commit_changes_nothing():
    reserved = reserve(by_product([item("a", 5)]), "o1", [line("a", 2)]).items[0]
    committed = commit(reserved, "o1")

    again = reserve({"a": committed}, "o1", [line("a", 2)])

    assert again.reserved
    assert again.items == []


def test_reserve_ignores_other_orders_reservations():
    first = reserve(by_product([item("a", 3)]), "o1", [line("a", 2)]).items[0]

    second = reserve({"a": first}, "o2", [line("a", 2)])

    assert [(s.requested, s.available) for s in second.short_lines] == [(2, 1)]


def test_release_puts_reservation_back_on_hand():
    reserved = reserve(by_product([item("a", 5)]), "o1", [line("a", 2)]).items[0]

    released = release(reserved, "o1")

    assert released.on_hand == 5
    assert released.reservations == {}


def test_release_happens_exactly_once():
    reserved = reserve(by_product([item("a", 5)]), "o1", [line("a", 2)]).items[0]
    released = release(reserved, "o1")

    again = release(released, "o1")

    assert again is released


def test_release_leaves_other_orders_reservations():
    stock = item("a", 10)
    stock = reserve({"a": stock}, "o1", [line("a", 2)]).items[0]
    stock = reserve({"a": stock}, "o2", [line("a", 3)]).items[0]

    released = release(stock, "o1")

    assert released.reservations == {"o2": 3}
    assert released.on_hand == 7


def test_commit_moves_reservation_to_shipped():
    reserved = reserve(by_product([item("a", 5)]), "o1", [line("a", 2)]).items[0]

    committed = commit(reserved, "o1")

    assert committed.reservations == {}
    assert committed.shipped == {"o1": 2}
    assert committed.on_hand == 3


def test_commit_repeated_changes_nothing():
    reserved = reserve(by_product([item("a", 5)]), "o1", [line("a", 2)]).items[0]
    committed = commit(reserved, "o1")

    assert commit(committed, "o1") is committed


def test_release_after_commit_changes_nothing():
    reserved = reserve(by_product([item("a", 5)]), "o1", [line("a", 2)]).items[0]
    committed = commit(reserved, "o1")

    assert release(committed, "o1") is committed


def test_return_puts_shipped_back_on_hand_once():
    reserved = reserve(by_product([item("a", 5)]), "o1", [line("a", 2)]).items[0]
    returned = return_shipped(commit(reserved, "o1"), "o1")

    assert returned.on_hand == 5
    assert returned.shipped == {}
    assert return_shipped(returned, "o1") is returned


def test_receive_adds_to_on_hand_once_per_event_id():
    received = receive(item("a", 1), "supplier/1", 4)

    assert received.on_hand == 5
    assert receive(received, "supplier/1", 4) is received


def test_receive_rejects_non_positive_quantity():
    with pytest.raises(ValueError, match="must be positive"):
        receive(item("a", 1), "supplier/1", 0)


def test_empty_item_uses_product_id_as_document_id():
    stock = empty_item("2", "77")

    assert (stock.id, stock.store_id, stock.on_hand) == ("77", "2", 0)


OPERATIONS = st.lists(
    st.tuples(
        st.sampled_from(["reserve", "release", "commit", "return"]),
        st.sampled_from(["o1", "o2", "o3"]),
        st.integers(min_value=1, max_value=6),
    ),
    max_size=40,
)


@given(initial=st.integers(min_value=0, max_value=20), operations=OPERATIONS)
def test_stock_is_conserved_by_every_sequence_of_moves(initial, operations):
    stock = item("a", initial)

    for operation, order_id, quantity in operations:
        if operation == "reserve":
            outcome = reserve({"a": stock}, order_id, [line("a", quantity)])
            stock = outcome.items[0] if outcome.items else stock
        elif operation == "release":
            stock = release(stock, order_id)
        elif operation == "commit":
            stock = commit(stock, order_id)
        else:
            stock = return_shipped(stock, order_id)

        assert stock.total == initial
        assert stock.on_hand >= 0
