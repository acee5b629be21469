"""The project's own saga app runs end to end through devhost over HTTP.

Carrier events are raised through the Durable HTTP API, as an operator or a test would,
instead of through the carrier-events queue.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from devhost_support import REPO_ROOT, RunningHost, launch

from simulation.bus import Broker
from simulation.catalog import sample_catalog
from simulation.supplier import opening_deliveries, stock_received

SETTINGS = {"SAGA_DISPATCH_DEADLINE_SECONDS": "120", "SAGA_DELIVERY_DEADLINE_SECONDS": "120"}


def _wait_until(read, accept, what: str, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = read()
        if accept(value):
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}: last value {value}")


def _raise(host: RunningHost, order_id: str, event: str, data: dict) -> int:
    key = host.keys["systemKeys"]["durabletask_extension"]
    path = f"/runtime/webhooks/durabletask/instances/{order_id}/raiseEvent/{event}?code={key}"
    return host.request("POST", path, data).status


def _seed_stock(state_dir: Path) -> tuple[str, str]:
    catalog = sample_catalog()
    broker = Broker(state_dir)
    try:
        for delivery in opening_deliveries(catalog):
            asyncio.run(broker.send(stock_received(delivery)))
    finally:
        broker.close()
    store_id = sorted(catalog.stores)[0]
    return store_id, catalog.stocked_products(store_id)[0]


@pytest.mark.slow
def test_saga_happy_path_runs_to_completed_through_devhost(tmp_path: Path) -> None:
    host = launch(REPO_ROOT, tmp_path, env=SETTINGS, timeout=60)
    try:
        headers = {"x-functions-key": host.keys["functionKeys"]["default"]}
        store_id, product_id = _seed_stock(tmp_path)
        _wait_until(
            lambda: host.request("GET", f"/api/stores/{store_id}/stock/{product_id}",
                                 headers=headers),
            lambda answer: answer.status == 200, "the opening stock",
        )
        order = {
            "storeId": store_id, "customerId": "c-1",
            "lines": [{"productId": product_id, "quantity": 1, "unitPrice": 100.0}],
            "shipTo": {"name": "Ada Lovelace", "street": "1 Main St", "city": "Buffalo",
                       "state": "NY", "postalCode": "14201"},
        }
        placed = host.request("POST", "/api/orders", order, headers=headers)
        order_id = placed.json()["orderId"]
        shipment = _wait_until(
            lambda: host.request("GET", f"/api/orders/{order_id}/shipment", headers=headers),
            lambda answer: answer.status == 200, "the shipment",
        ).json()
        now = datetime.now(UTC).isoformat()
        dispatched = _raise(host, order_id, "ShipmentDispatched", {
            "shipmentId": shipment["id"], "orderId": order_id, "carrier": "UPS",
            "trackingNumber": "1Z999", "dispatchedAt": now})
        delivered = _raise(host, order_id, "ShipmentDelivered", {
            "shipmentId": shipment["id"], "orderId": order_id, "deliveredAt": now})
        status = host.wait_for(order_id, timeout=60)
        final = host.request("GET", f"/api/orders/{order_id}", headers=headers).json()
    finally:
        host.stop()

    assert placed.status == 202
    assert (dispatched, delivered) == (202, 202)
    assert status["runtimeStatus"] == "Completed"
    assert status["output"]["status"] == "Completed"
    assert final["status"] == "Completed"
