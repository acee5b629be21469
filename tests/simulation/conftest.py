"""Fixtures of the simulation tests: the BikeStores catalog and carrier requests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from domain.messages import CloudEvent, ShipmentCancellationRequested, ShipmentRequested
from domain.orders import Address
from simulation.catalog import DATA_DIR_VARIABLE, DEFAULT_DATA_DIR, Catalog, load_bikestores


@pytest.fixture(scope="session")
def bikestores() -> Catalog:
    """Return the BikeStores catalog with its orders; skip where the data is not present."""
    if not (DEFAULT_DATA_DIR / "orders.csv").is_file():
        pytest.skip(
            f"BikeStores data not found in {DEFAULT_DATA_DIR}; set {DATA_DIR_VARIABLE} to the "
            "folder of its CSV files"
        )
    return load_bikestores()


@pytest.fixture
def shipment_request() -> Callable[[str], CloudEvent]:
    """Return a builder of the ShipmentRequested envelope the saga sends for an order."""

    def build(order_id: str) -> CloudEvent:
        data = ShipmentRequested(
            shipment_id=f"shp-{order_id}",
            order_id=order_id,
            store_id="s1",
            ship_to=Address(
                name="A", street="1 Road", city="Town", state="NY", postal_code="10001"
            ),
            items=[{"productId": "p1", "quantity": 1}],
        )
        return _envelope(order_id, data)

    return build


@pytest.fixture
def shipment_cancellation() -> Callable[[str], CloudEvent]:
    """Return a builder of the ShipmentCancellationRequested envelope for an order."""

    def build(order_id: str) -> CloudEvent:
        data = ShipmentCancellationRequested(
            shipment_id=f"shp-{order_id}", order_id=order_id, reason="customer"
        )
        return _envelope(order_id, data)

    return build


def _envelope(order_id: str, data: ShipmentRequested | ShipmentCancellationRequested):
    type_name = type(data).__name__
    return CloudEvent(
        id=f"{order_id}/{type_name}",
        source="/ajbikes/shipments",
        type=type_name,
        subject=order_id,
        time=datetime.now(UTC),
        data=data,
    )
