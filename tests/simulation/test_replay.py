"""The replay's restock plan and day-by-day schedule."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from simulation.catalog import (
    Catalog,
    SourceLine,
    SourceOrder,
    SourceStatus,
    sample_catalog,
)
from simulation.replay import (
    RestockPolicy,
    plan_deliveries,
    reorder_points,
    schedule,
    shortfalls,
)


def _order(source_id: str, day: date, quantity: int, product_id: str = "p1") -> SourceOrder:
    line = SourceLine(product_id, quantity, Decimal("10.00"), Decimal("0"))
    return SourceOrder(source_id, "c1", "s1", day, SourceStatus.COMPLETED, (line,))


def _catalog(orders: list[SourceOrder], stock: int) -> Catalog:
    base = sample_catalog()
    return Catalog("tiny", base.stores, base.products, {("s1", "p1"): stock}, {}, tuple(orders))


@pytest.mark.parametrize("review_days, lead_days", [(7, 3), (7, 0), (3, 1), (14, 7)])
def test_restock_plan_keeps_every_bikestores_order_satisfiable(bikestores, review_days, lead_days):
    deliveries = plan_deliveries(bikestores, RestockPolicy(review_days, lead_days))

    assert shortfalls(bikestores, schedule(bikestores, deliveries)) == []


def test_bikestores_stock_alone_leaves_3640_units_short(bikestores):
    short_units = sum(units for _, _, units in shortfalls(bikestores, schedule(bikestores, [])))

    assert short_units == 3640


def test_reorder_point_is_the_largest_window_demand():
    orders = [
        _order("1", date(2020, 1, 1), 2),
        _order("2", date(2020, 1, 3), 3),
        _order("3", date(2020, 1, 20), 1),
    ]
    catalog = _catalog(orders, stock=0)

    points = reorder_points(catalog, RestockPolicy(review_days=7, lead_days=0))

    assert points[("s1", "p1")] == 5


def test_opening_delivery_arrives_on_the_first_order_day():
    orders = [_order("1", date(2020, 1, 1), 4)]
    catalog = _catalog(orders, stock=0)

    deliveries = plan_deliveries(catalog, RestockPolicy(review_days=7, lead_days=3))

    assert deliveries[0].day == date(2020, 1, 1)
    assert deliveries[0].quantities["p1"] >= 4


def test_no_delivery_when_stock_covers_the_demand():
    orders = [_order("1", date(2020, 1, 1), 1), _order("2", date(2020, 1, 9), 1)]
    catalog = _catalog(orders, stock=10)

    assert plan_deliveries(catalog, RestockPolicy()) == []


def test_schedule_groups_steps_by_day():
    orders = [_order("1", date(2020, 1, 1), 4), _order("2", date(2020, 1, 1), 1)]
    catalog = _catalog(orders, stock=0)
    deliveries = plan_deliveries(catalog, RestockPolicy(lead_days=2))

    steps = schedule(catalog, deliveries)

    assert [step.day for step in steps] == [date(2020, 1, 1)]
    assert len(steps[0].deliveries) == 1
    assert [order.source_id for order in steps[0].orders] == ["1", "2"]


def test_delivery_event_ids_are_stable_across_plans():
    orders = [_order("1", date(2020, 1, 1), 4)]
    catalog = _catalog(orders, stock=0)

    first = plan_deliveries(catalog, RestockPolicy())
    second = plan_deliveries(catalog, RestockPolicy())

    assert [d.event_id for d in first] == [d.event_id for d in second]


def test_policy_rejects_a_review_period_below_one_day():
    with pytest.raises(ValueError, match="review at least every day"):
        RestockPolicy(review_days=0)


def test_replay_of_a_catalog_without_orders_is_refused():
    with pytest.raises(ValueError, match="no past orders"):
        plan_deliveries(sample_catalog(), RestockPolicy())
