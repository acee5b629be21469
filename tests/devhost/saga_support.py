"""Drive the saga app under devhost from a test: open stock, place an order, wait for a state."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from devhost_support import RunningHost

from simulation.bus import Broker
from simulation.catalog import sample_catalog
from simulation.supplier import opening_deliveries, stock_received

T = TypeVar("T")


def wait_until(
    read: Callable[[], T], accept: Callable[[T], Any], what: str, timeout: float = 60.0
) -> T:
    """Call `read` until `accept` takes its value; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = read()
        if accept(value):
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}: last value {value}")


def seed_stock(state_dir: Path) -> tuple[str, str]:
    """Send the sample catalog's opening stock; return one stocked store and product."""
    catalog = sample_catalog()
    broker = Broker(state_dir)
    try:
        for delivery in opening_deliveries(catalog):
            asyncio.run(broker.send(stock_received(delivery)))
    finally:
        broker.close()
    store_id = sorted(catalog.stores)[0]
    return store_id, catalog.stocked_products(store_id)[0]


def place_order(host: RunningHost, state_dir: Path, headers: dict[str, str]) -> Any:
    """Place one order of one stocked product once the opening stock is in; return the response."""
    store_id, product_id = seed_stock(state_dir)
    wait_until(
        lambda: host.request("GET", f"/api/stores/{store_id}/stock/{product_id}", headers=headers),
        lambda answer: answer.status == 200,
        "the opening stock",
    )

    order = {
        "storeId": store_id,
        "customerId": "c-1",
        "lines": [{"productId": product_id, "quantity": 1, "unitPrice": 100.0}],
        "shipTo": {"name": "Ada Lovelace", "street": "1 Main St", "city": "Buffalo",
                   "state": "NY", "postalCode": "14201"},
    }
    return host.request("POST", "/api/orders", order, headers=headers)
