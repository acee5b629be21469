"""Drive orders through the gateway and collect the run's summary.

A workload is a list of timed steps: orders to place (generated from a catalog, or replayed
from the BikeStores orders on a compressed clock) and, for the replay, supplier deliveries.
The driver places each order when its time comes, cancels the ones marked for it, learns of
final statuses from the order-events topic, then reads every order and the stock back through
the HTTP API for the summary.
"""

from __future__ import annotations

import asyncio
import logging
import random
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from domain.errors import InvalidMessage
from domain.messages import parse_envelope
from simulation.api import ApiClient, ApiError
from simulation.bus import Broker, MessageLockLostError
from simulation.carrier import Outcome, Script
from simulation.catalog import Catalog, SourceOrder, SourceStatus
from simulation.replay import ReplayStep
from simulation.summary import FINAL_STATUSES, RunSummary, check_stock, durations
from simulation.supplier import Delivery, Supplier

log = logging.getLogger(__name__)

NOTIFICATIONS = "order-events/Subscriptions/customer-notifications"
"""The subscription the driver reads final order events from, as a customer notifier would."""
FINAL_EVENTS = {
    "OrderCompleted": "Completed",
    "OrderRejected": "Rejected",
    "OrderCancelled": "Cancelled",
    "OrderReturned": "Returned",
}


@dataclass(frozen=True)
class PlannedOrder:
    """An order to place at `at` seconds after the start, and what to do with it."""

    key: str
    """The Idempotency-Key, unique per run, so a retried POST places the order once."""
    at: float
    body: dict[str, Any]
    cancel_after: float | None = None
    """Seconds after placing at which the customer requests a cancellation; None for never."""
    outcome: Outcome | None = None
    """The carrier's outcome for a scripted replay; None to draw it from the profile."""
    source_status: str | None = None
    """The status of the replayed order in the data set; None for generated orders."""


@dataclass(frozen=True)
class PlannedDelivery:
    """Supplier deliveries to send at `at` seconds after the start, before that day's orders."""

    at: float
    deliveries: tuple[Delivery, ...]


@dataclass
class Workload:
    """The steps of one run: orders and supplier deliveries, each with its time."""

    orders: list[PlannedOrder]
    deliveries: list[PlannedDelivery] = field(default_factory=list)


def generate(
    catalog: Catalog, count: int, rate: float, seed: int, cancel_rate: float, run_id: str
) -> Workload:
    """Generate `count` orders of stocked products at `rate` orders per second."""
    rng = random.Random(seed)
    stores = [store_id for store_id in catalog.stores if catalog.stocked_products(store_id)]
    orders = []

    for index in range(count):
        store_id = rng.choice(stores)
        stocked = catalog.stocked_products(store_id)
        products = rng.sample(stocked, k=min(len(stocked), rng.randint(1, 3)))
        lines = [
            _line(product_id, rng.randint(1, 2), catalog.products[product_id].list_price)
            for product_id in products
        ]
        cancel_after = rng.uniform(0.0, 1.0) if rng.random() < cancel_rate else None
        body = _order_body(store_id, f"cust-{rng.randrange(1, 500):04d}", lines,
                           _generated_address(rng, catalog, store_id))
        orders.append(PlannedOrder(f"{run_id}-{index}", index / rate, body, cancel_after))
    return Workload(orders)


# Each BikeStores status mapped onto the saga as (cancel after seconds, carrier outcome).
# Completed orders are delivered. Rejected ones are cancelled by the customer at once.
# Pending and processing ones are never collected, so the dispatch deadline cancels them.
SOURCE_OUTCOMES = {
    SourceStatus.COMPLETED: (None, Outcome.DELIVERED),
    SourceStatus.REJECTED: (0.0, Outcome.NO_SHOW),
    SourceStatus.PENDING: (None, Outcome.NO_SHOW),
    SourceStatus.PROCESSING: (None, Outcome.NO_SHOW),
}


def replay(catalog: Catalog, steps: list[ReplayStep], days_per_second: float, run_id: str):
    """Plan the data set's orders on a clock where one day lasts 1/days_per_second seconds."""
    first_day = steps[0].day
    orders: list[PlannedOrder] = []
    deliveries: list[PlannedDelivery] = []

    for step in steps:
        at = (step.day - first_day).days / days_per_second
        if step.deliveries:
            deliveries.append(PlannedDelivery(at, step.deliveries))
        orders.extend(_replayed(catalog, order, at, run_id) for order in step.orders)
    return Workload(orders, deliveries)


def _replayed(catalog: Catalog, order: SourceOrder, at: float, run_id: str) -> PlannedOrder:
    customer = catalog.customers[order.customer_id]
    lines = [
        _line(line.product_id, line.quantity, line.unit_price, line.discount)
        for line in order.lines
    ]
    address = {
        "name": customer.name,
        "street": customer.street,
        "city": customer.city,
        "state": customer.state,
        "postalCode": customer.zip_code,
    }
    body = _order_body(order.store_id, order.customer_id, lines, address)
    cancel_after, outcome = SOURCE_OUTCOMES[order.status]
    return PlannedOrder(
        f"{run_id}-bikestores-{order.source_id}",
        at,
        body,
        cancel_after,
        outcome,
        order.status.name.lower(),
    )


def _line(product_id: str, quantity: int, price: Decimal, discount: Decimal = Decimal(0)):
    return {
        "productId": product_id,
        "quantity": quantity,
        "unitPrice": float(price),
        "discount": float(discount),
    }


def _order_body(store_id: str, customer_id: str, lines: list, ship_to: dict) -> dict[str, Any]:
    return {"storeId": store_id, "customerId": customer_id, "lines": lines, "shipTo": ship_to}


def _generated_address(rng: random.Random, catalog: Catalog, store_id: str) -> dict[str, str]:
    store = catalog.stores[store_id]
    return {
        "name": f"Customer {rng.randrange(1, 10_000):04d}",
        "street": f"{rng.randrange(1, 999)} Sample Street",
        "city": store.city,
        "state": store.state,
        "postalCode": store.zip_code,
    }


@dataclass
class _Tracked:
    planned: PlannedOrder
    order_id: str
    final: asyncio.Future


class Driver:
    """Runs a workload against the gateway, the broker and the supplier."""

    def __init__(
        self,
        api: ApiClient,
        broker: Broker,
        supplier: Supplier,
        script: Script | None = None,
        progress: bool | None = None,
    ) -> None:
        self.api = api
        self.broker = broker
        self.supplier = supplier
        self.script = script
        self._orders: dict[str, _Tracked] = {}
        self._early_finals: dict[str, str] = {}
        self._placing: set[asyncio.Task] = set()
        self._failures: list[str] = []
        self._cancels: Counter[str] = Counter()
        self._placing_seconds = 0.0
        self._progress = Progress(0, sys.stderr.isatty() if progress is None else progress)

    async def run(self, workload: Workload, settle_seconds: float) -> RunSummary:
        """Place every order, wait for all to end (up to `settle_seconds` of no progress)."""
        started = time.monotonic()
        stop = asyncio.Event()
        listener = asyncio.create_task(self._listen(stop))
        self._progress.total = len(workload.orders)
        self._progress.start()

        try:
            await self._play(workload, started)
            await asyncio.gather(*self._placing)
            self._placing_seconds = time.monotonic() - started
            await self._settle(settle_seconds, listener)
        finally:
            stop.set()
            await listener
            self._progress.finish()

        elapsed = time.monotonic() - started
        return await self._summary(workload, elapsed)

    async def _play(self, workload: Workload, started: float) -> None:
        steps = sorted(
            [(delivery.at, 0, delivery) for delivery in workload.deliveries]
            + [(order.at, 1, order) for order in workload.orders],
            key=lambda step: (step[0], step[1]),
        )
        for at, _, step in steps:
            delay = started + at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)

            if isinstance(step, PlannedDelivery):
                await self.supplier.deliver(list(step.deliveries))
                continue
            task = asyncio.create_task(self._place(step))
            self._placing.add(task)

    async def _place(self, planned: PlannedOrder) -> None:
        try:
            order_id = await self.api.place_order(planned.body, planned.key)
        except (ApiError, OSError) as error:
            log.error("placing order %s failed: %s", planned.key, error)
            self._failures.append(f"{planned.key}: {error}")
            return

        if self.script is not None and planned.outcome is not None:
            self.script.set(order_id, planned.outcome)
        tracked = _Tracked(planned, order_id, asyncio.get_running_loop().create_future())
        self._orders[order_id] = tracked
        self._progress.placed += 1
        if order_id in self._early_finals:
            self._finish(order_id, self._early_finals.pop(order_id))

        if planned.cancel_after is not None:
            await asyncio.sleep(planned.cancel_after)
            answer = await self.api.cancel_order(order_id, "customer changed their mind")
            self._cancels["accepted" if answer == 202 else "refused (409)"] += 1

    async def _listen(self, stop: asyncio.Event) -> None:
        async for message in self.broker.receive(NOTIFICATIONS, stop):
            try:
                envelope = parse_envelope(message.body)
            except InvalidMessage as error:
                log.warning("ignoring message %s on %s: %s", message.message_id, NOTIFICATIONS,
                            error)
            else:
                status = FINAL_EVENTS.get(envelope.type)
                if status is not None:
                    self._finish(envelope.subject, status)

            try:
                await self.broker.complete(message)
            except MessageLockLostError as error:
                # A redelivery repeats an event that _finish has already recorded.
                log.warning("lost the lock of message %s on %s: %s", message.message_id,
                            NOTIFICATIONS, error)

    def _finish(self, order_id: str, status: str) -> None:
        tracked = self._orders.get(order_id)
        if tracked is None:
            # The event can overtake the POST's response, so keep it until the order id is known.
            self._early_finals[order_id] = status
            return
        if not tracked.final.done():
            tracked.final.set_result(status)
            self._progress.final += 1

    async def _settle(self, settle_seconds: float, listener: asyncio.Task) -> None:
        """Wait until every order is final, or until no order ends for `settle_seconds`.

        A listener that stopped with an error (e.g. a missing subscription) ends the wait
        with that error, since no final status could arrive any more.
        """
        while True:
            pending = [
                tracked.final for tracked in self._orders.values() if not tracked.final.done()
            ]
            if not pending:
                return
            done, _ = await asyncio.wait(
                [*pending, listener], timeout=settle_seconds, return_when=asyncio.FIRST_COMPLETED
            )
            if listener in done:
                listener.result()
                raise RuntimeError(f"the listener on {NOTIFICATIONS} stopped before the run ended")
            if not done:
                log.warning(
                    "%d orders still unfinished after %.0f s without progress",
                    len(pending),
                    settle_seconds,
                )
                return

    async def _summary(self, workload: Workload, elapsed: float) -> RunSummary:
        documents = await asyncio.gather(
            *(self.api.get_order(order_id) for order_id in self._orders)
        )
        statuses: Counter[str] = Counter()
        groups: dict[str, Counter[str]] = {}
        stores: dict[str, Counter[str]] = {}
        saga_seconds = []

        for tracked, document in zip(self._orders.values(), documents, strict=True):
            status = document.get("status") or "Unknown"
            statuses[status] += 1
            if tracked.planned.source_status is not None:
                label = f"source {tracked.planned.source_status}"
                groups.setdefault(label, Counter())[status] += 1
            stores.setdefault(f"store {document.get('storeId')}", Counter())[status] += 1
            if status in FINAL_STATUSES:
                saga_seconds.append(_saga_seconds(document))

        statuses["NotPlaced"] += len(self._failures)
        if not self._failures:
            del statuses["NotPlaced"]
        by_group = dict(sorted(stores.items())) | dict(sorted(groups.items()))

        return RunSummary(
            orders=len(workload.orders),
            elapsed_seconds=elapsed,
            statuses=statuses,
            by_group=by_group,
            durations=durations(saga_seconds),
            dead_letters=self.broker.dead_letters(),
            stock=await self._check_stock(workload),
            cancel_requests=self._cancels,
            placing_seconds=self._placing_seconds,
            throttled=self.api.throttled,
        )

    async def _check_stock(self, workload: Workload):
        pairs = set(self.supplier.received)
        for planned in workload.orders:
            pairs.update((planned.body["storeId"], line["productId"])
                         for line in planned.body["lines"])

        ordered = sorted(pairs)
        levels = await asyncio.gather(*(self.api.get_stock(*pair) for pair in ordered))
        return check_stock(
            dict(self.supplier.received),
            {
                pair: (level.on_hand, level.reserved, level.shipped)
                for pair, level in zip(ordered, levels, strict=True)
            },
        )


def _saga_seconds(document: dict[str, Any]) -> float:
    history = document.get("history") or []
    if len(history) < 2:
        return 0.0
    first = datetime.fromisoformat(history[0]["at"])
    last = datetime.fromisoformat(history[-1]["at"])
    return (last - first).total_seconds()


class Progress:
    """A one-line progress bar on stderr, drawn only on a terminal."""

    WIDTH = 30

    def __init__(self, total: int, enabled: bool) -> None:
        self.total = total
        self.enabled = enabled
        self.placed = 0
        self.final = 0
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self.enabled:
            self._task = asyncio.create_task(self._draw_forever())

    async def _draw_forever(self) -> None:
        while True:
            self.draw()
            await asyncio.sleep(0.2)

    def draw(self) -> None:
        done = self.final / self.total if self.total else 1.0
        filled = int(done * self.WIDTH)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        sys.stderr.write(
            f"\r[{bar}] {self.final}/{self.total} final, {self.placed} placed"
        )
        sys.stderr.flush()

    def finish(self) -> None:
        if self._task is None:
            return
        self._task.cancel()
        self.draw()
        sys.stderr.write("\n")
