"""Plan the BikeStores replay: the supplier's restock deliveries and the day-by-day schedule.

The stock table of the data set is one snapshot, and three years of orders against it alone
leave 3,640 units short. The supplier therefore restocks as a shop would, with a periodic
review. Every `review_days` of the replay clock it compares each product's inventory position
(on hand plus in transit, after every order placed so far) with a reorder point. Below it, the
supplier orders enough to reach the reorder point plus a reorder quantity. The delivery
arrives as a StockReceived event `lead_days` later, before that day's orders.

A reorder point covers the largest demand of any `review_days + lead_days` window that starts
on a review day, so an order placed up to the next delivery always finds its stock. The
reorder points are sized from the replayed orders themselves: the simulated planner sees its
peak season exactly, which a real shop only forecasts.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

from simulation.catalog import Catalog, SourceOrder

Pair = tuple[str, str]
"""A (store id, product id) pair."""


@dataclass(frozen=True)
class RestockPolicy:
    """The supplier's periodic review: how often it checks and how long a delivery takes."""

    review_days: int = 7
    lead_days: int = 3

    def __post_init__(self) -> None:
        if self.review_days < 1 or self.lead_days < 0:
            raise ValueError(
                f"restock review every {self.review_days} days with {self.lead_days} days lead "
                "time is invalid; review at least every day, with a lead time of 0 or more days"
            )


@dataclass(frozen=True)
class Delivery:
    """A supplier delivery: the quantities arriving at one store on one replay day."""

    day: date
    store_id: str
    quantities: dict[str, int]

    @property
    def event_id(self) -> str:
        """Return the StockReceived event id, the same on every run of the same plan."""
        return f"restock/{self.store_id}/{self.day.isoformat()}"


@dataclass(frozen=True)
class ReplayStep:
    """One replay day: its deliveries, which come first, then the orders placed that day."""

    day: date
    deliveries: tuple[Delivery, ...]
    orders: tuple[SourceOrder, ...]


def demand_by_day(orders: Iterable[SourceOrder]) -> dict[Pair, dict[date, int]]:
    """Return the ordered quantity of each (store, product) pair on each day."""
    demand: dict[Pair, dict[date, int]] = defaultdict(lambda: defaultdict(int))
    for order in orders:
        for line in order.lines:
            demand[(order.store_id, line.product_id)][order.order_date] += line.quantity
    return demand


def review_days(first: date, last: date, policy: RestockPolicy) -> list[date]:
    """Return the review days up to `last`, the first one `lead_days` before `first`.

    The opening review comes a lead time early so that its delivery arrives on the first
    order day, when no earlier review could have ordered for the first days.
    """
    opening = first - timedelta(days=policy.lead_days)
    count = (last - opening).days // policy.review_days + 1
    return [opening + timedelta(days=index * policy.review_days) for index in range(count)]


def reorder_points(catalog: Catalog, policy: RestockPolicy) -> dict[Pair, int]:
    """Return each pair's reorder point: its largest demand in one review-plus-lead window."""
    first, last = _replay_span(catalog)
    window = policy.review_days + policy.lead_days
    points: dict[Pair, int] = {}

    for pair, daily in demand_by_day(catalog.orders).items():
        points[pair] = max(
            sum(
                quantity
                for day, quantity in daily.items()
                if review <= day < review + timedelta(days=window)
            )
            for review in review_days(first, last, policy)
        )
    return points


def reorder_quantities(catalog: Catalog, policy: RestockPolicy) -> dict[Pair, int]:
    """Return each pair's reorder quantity: its average demand per review period, rounded up."""
    first, last = _replay_span(catalog)
    periods = len(review_days(first, last, policy))
    return {
        pair: max(1, math.ceil(sum(daily.values()) / periods))
        for pair, daily in demand_by_day(catalog.orders).items()
    }


def plan_deliveries(catalog: Catalog, policy: RestockPolicy) -> list[Delivery]:
    """Run the periodic review over the replay and return the deliveries it orders."""
    first, last = _replay_span(catalog)
    demand = demand_by_day(catalog.orders)
    points = reorder_points(catalog, policy)
    quantities = reorder_quantities(catalog, policy)
    position = {pair: catalog.stock.get(pair, 0) for pair in points}
    deliveries = []

    for review in review_days(first, last, policy):
        _take_demand_before(position, demand, review, policy)

        ordered: dict[str, dict[str, int]] = defaultdict(dict)
        for pair, point in points.items():
            if position[pair] >= point:
                continue
            quantity = point + quantities[pair] - position[pair]
            position[pair] += quantity
            ordered[pair[0]][pair[1]] = quantity

        arrival = review + timedelta(days=policy.lead_days)
        deliveries.extend(
            Delivery(arrival, store_id, dict(sorted(lines.items(), key=_numeric_first)))
            for store_id, lines in sorted(ordered.items())
        )
    return deliveries


def schedule(catalog: Catalog, deliveries: list[Delivery]) -> list[ReplayStep]:
    """Merge deliveries and orders into one step per day, in day order."""
    by_day: dict[date, tuple[list[Delivery], list[SourceOrder]]] = defaultdict(lambda: ([], []))
    for delivery in deliveries:
        by_day[delivery.day][0].append(delivery)
    for order in catalog.orders:
        by_day[order.order_date][1].append(order)

    return [
        ReplayStep(day, tuple(day_deliveries), tuple(day_orders))
        for day, (day_deliveries, day_orders) in sorted(by_day.items())
    ]


def shortfalls(catalog: Catalog, steps: list[ReplayStep]) -> list[tuple[SourceOrder, Pair, int]]:
    """Return every order line that the stock on hand could not cover, with the units missing.

    Every order is counted as taking its stock for good, as a completed order does. The saga
    releases the stock of a cancelled order, so the real run has at least this much on hand.
    """
    on_hand = dict(catalog.stock)
    short = []

    for step in steps:
        for delivery in step.deliveries:
            for product_id, quantity in delivery.quantities.items():
                pair = (delivery.store_id, product_id)
                on_hand[pair] = on_hand.get(pair, 0) + quantity

        for order in step.orders:
            for line in order.lines:
                pair = (order.store_id, line.product_id)
                available = max(on_hand.get(pair, 0), 0)
                if available < line.quantity:
                    short.append((order, pair, line.quantity - available))
                on_hand[pair] = available - line.quantity
    return short


def _replay_span(catalog: Catalog) -> tuple[date, date]:
    if not catalog.orders:
        raise ValueError(
            f"catalog {catalog.name!r} has no past orders to replay; "
            "use the BikeStores data (--data DIR) for --replay"
        )
    return catalog.orders[0].order_date, catalog.orders[-1].order_date


def _take_demand_before(
    position: dict[Pair, int],
    demand: dict[Pair, dict[date, int]],
    review: date,
    policy: RestockPolicy,
) -> None:
    """Subtract the demand of the review period that ends at `review` from the positions."""
    start = review - timedelta(days=policy.review_days)
    for pair in position:
        daily = demand.get(pair, {})
        position[pair] -= sum(quantity for day, quantity in daily.items() if start <= day < review)


def _numeric_first(item: tuple[str, int]) -> tuple[int, str]:
    key = item[0]
    return (int(key), key) if key.isdigit() else (0, key)
