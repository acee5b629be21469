"""The project's own saga app runs end to end through devhost over HTTP.

Carrier events are raised through the Durable HTTP API, as an operator or a test would,
instead of through the carrier-events queue.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from devhost_support import REPO_ROOT, RunningHost, launch
from saga_support import place_order, wait_until

SETTINGS = {"SAGA_DISPATCH_DEADLINE_SECONDS": "120", "SAGA_DELIVERY_DEADLINE_SECONDS": "120"}


def _raise(host: RunningHost, order_id: str, event: str, data: dict) -> int:
    key = host.keys["systemKeys"]["durabletask_extension"]
    path = f"/runtime/webhooks/durabletask/instances/{order_id}/raiseEvent/{event}?code={key}"
    return host.request("POST", path, data).status


@pytest.mark.slow
def test_saga_happy_path_runs_to_completed_through_devhost(tmp_path: Path) -> None:
    host = launch(REPO_ROOT, tmp_path, env=SETTINGS, timeout=60)
    try:
        headers = {"x-functions-key": host.keys["functionKeys"]["default"]}
        placed = place_order(host, tmp_path, headers)
        order_id = placed.json()["orderId"]
        shipment = wait_until(
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
