"""Deliver stock the way the system receives it: StockReceived events on supplier-events.

The opening stock of a catalog and every restock travel as StockReceived envelopes. Their ids
start with the run id and otherwise depend only on the catalog and the delivery, so a resent
delivery adds nothing while a later run on the same state folder gets deliveries of its own.
At the start of a run the supplier tops each store and product up to the catalog's level, so
a repeat run sells from the same stock as the first. After sending, the supplier reads the
stock API until it shows every delivered line applied.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime

from domain.messages import SUPPLIER_EVENTS, CloudEvent, ReceivedLine, StockReceived
from simulation.api import ApiClient
from simulation.bus import Broker
from simulation.catalog import Catalog
from simulation.replay import Delivery as PlannedRestock

log = logging.getLogger(__name__)

SUPPLIER_SOURCE = "/suppliers/simulated"
LINES_PER_EVENT = 50
"""Lines per StockReceived event; a store's opening stock is split into events of this size."""
APPLY_TIMEOUT_SECONDS = 60.0
POLL_SECONDS = 0.01

Pair = tuple[str, str]


@dataclass(frozen=True)
class StockDelivery:
    """Quantities delivered to one store under one event id."""

    event_id: str
    store_id: str
    quantities: dict[str, int]


Delivery = StockDelivery | PlannedRestock
"""A delivery of opening stock or a replay restock: event id, store id, quantities."""


def opening_deliveries(
    catalog: Catalog, on_hand: dict[Pair, int] | None = None
) -> list[StockDelivery]:
    """Split what brings on-hand stock up to the catalog's level into deliveries per store.

    `on_hand` is the stock already at each store and product (none when omitted). A pair at
    or above the catalog's level gets nothing. Each delivery has at most LINES_PER_EVENT lines.
    """
    on_hand = on_hand or {}
    deliveries = []
    for store_id in catalog.stores:
        lines = [
            (product_id, quantity - on_hand.get((stock_store, product_id), 0))
            for (stock_store, product_id), quantity in catalog.stock.items()
            if stock_store == store_id and quantity > on_hand.get((stock_store, product_id), 0)
        ]
        for start in range(0, len(lines), LINES_PER_EVENT):
            chunk = dict(lines[start : start + LINES_PER_EVENT])
            event_id = f"opening/{catalog.name}/{store_id}/{start // LINES_PER_EVENT}"
            deliveries.append(StockDelivery(event_id, store_id, chunk))
    return deliveries


def stock_received(delivery: Delivery, run_id: str | None = None) -> CloudEvent:
    """Build the StockReceived envelope of a delivery; its subject is the store id.

    With a run id the event id is `<run id>/<delivery's event id>`.
    """
    data = StockReceived(
        store_id=delivery.store_id,
        lines=[
            ReceivedLine(product_id=product_id, quantity=quantity)
            for product_id, quantity in delivery.quantities.items()
        ],
    )
    return CloudEvent(
        id=delivery.event_id if run_id is None else f"{run_id}/{delivery.event_id}",
        source=SUPPLIER_SOURCE,
        type="StockReceived",
        subject=delivery.store_id,
        time=datetime.now(UTC),
        data=data,
    )


class Supplier:
    """Sends deliveries and keeps the running total received per store and product."""

    def __init__(self, broker: Broker, api: ApiClient, run_id: str | None = None) -> None:
        self._broker = broker
        self._api = api
        self._run_id = run_id
        self.received: Counter[Pair] = Counter()
        """Units received per (store id, product id): before this run (read by `top_up`) and
        delivered by it."""

    async def top_up(self, catalog: Catalog, pairs: set[Pair]) -> list[StockDelivery]:
        """Bring each store and product's on-hand stock up to the catalog's level.

        Reads the stock of the catalog's pairs and of `pairs` (those the workload will order),
        counts what they received before this run as received, then delivers the difference
        between the catalog's level and the stock on hand. Returns the deliveries sent.
        """
        ordered = sorted(pairs | set(catalog.stock))
        levels = await asyncio.gather(*(self._api.get_stock(*pair) for pair in ordered))
        for pair, level in zip(ordered, levels, strict=True):
            self.received[pair] = level.received

        on_hand = {pair: level.on_hand for pair, level in zip(ordered, levels, strict=True)}
        # NOTE: a run id used before on this state folder repeats event ids the app already
        # applied, so it ignores this top-up and `deliver` times out waiting for it.
        deliveries = opening_deliveries(catalog, on_hand)
        await self.deliver(deliveries)
        return deliveries

    async def deliver(self, deliveries: list[Delivery]) -> None:
        """Send the deliveries, then wait until the stock API shows every line applied."""
        started = time.monotonic()
        for delivery in deliveries:
            await self._broker.send(stock_received(delivery, self._run_id))
            for product_id, quantity in delivery.quantities.items():
                self.received[(delivery.store_id, product_id)] += quantity

        pairs = {
            (delivery.store_id, product_id)
            for delivery in deliveries
            for product_id in delivery.quantities
        }
        await self._wait_applied(pairs)
        log.info(
            "stock deliveries %s applied in %.3f s",
            ", ".join(delivery.event_id for delivery in deliveries),
            time.monotonic() - started,
        )

    async def _wait_applied(self, pairs: set[Pair]) -> None:
        """Wait until supplier-events is drained, then until the stock API shows every pair.

        Watching the queue costs one SQLite read, so the stock API is read only once the
        trigger has taken every delivery, which keeps the polling off the host under test.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + APPLY_TIMEOUT_SECONDS
        waiting = set(pairs)

        while waiting:
            await self._queue_drained(deadline)
            ordered = sorted(waiting)
            levels = await asyncio.gather(*(self._api.get_stock(*pair) for pair in ordered))
            waiting = {
                pair
                for pair, level in zip(ordered, levels, strict=True)
                if level.received < self.received[pair]
            }
            if not waiting:
                return
            if loop.time() > deadline:
                raise TimeoutError(
                    f"stock of {len(waiting)} store/product pairs not applied after "
                    f"{APPLY_TIMEOUT_SECONDS:.0f} s, e.g. {sorted(waiting)[:3]}; check that the "
                    "supplier-events trigger runs and look for dead letters on supplier-events"
                )
            await asyncio.sleep(POLL_SECONDS)

    async def _queue_drained(self, deadline: float) -> None:
        loop = asyncio.get_running_loop()
        while not self._broker.is_empty(SUPPLIER_EVENTS) and loop.time() < deadline:
            await asyncio.sleep(POLL_SECONDS)
