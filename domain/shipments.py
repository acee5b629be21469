"""Shipments: the shipment document of an order and its status rules."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import Field

from domain.base import CamelModel, Identifier, Quantity, ShipmentIdentifier, Timestamp
from domain.errors import InvalidTransition
from domain.orders import Address, Order, PlaceOrder


class ShipmentStatus(StrEnum):
    """Where a shipment stands with the carrier."""

    REQUESTED = "Requested"
    """Asked of the carrier; not yet picked up."""
    DISPATCHED = "Dispatched"
    """Picked up by the carrier, with a tracking number."""
    DELIVERED = "Delivered"
    """Handed to the customer."""
    DELIVERY_FAILED = "DeliveryFailed"
    """The carrier gave up delivering it, or the delivery deadline passed."""
    CANCELLED = "Cancelled"
    """Withdrawn before dispatch; the carrier was told."""


# Each status and the statuses a shipment may move to from it. A carrier may report a delivery
# without reporting the dispatch first, so Requested may go straight to Delivered.
ALLOWED_TRANSITIONS: dict[ShipmentStatus, frozenset[ShipmentStatus]] = {
    ShipmentStatus.REQUESTED: frozenset(
        {ShipmentStatus.DISPATCHED, ShipmentStatus.DELIVERED, ShipmentStatus.CANCELLED}
    ),
    ShipmentStatus.DISPATCHED: frozenset(
        {ShipmentStatus.DELIVERED, ShipmentStatus.DELIVERY_FAILED}
    ),
    ShipmentStatus.DELIVERED: frozenset(),
    ShipmentStatus.DELIVERY_FAILED: frozenset(),
    ShipmentStatus.CANCELLED: frozenset(),
}


class ShipmentItem(CamelModel):
    """A product and quantity the carrier picks up."""

    product_id: Identifier
    quantity: Quantity


class ShipmentChange(CamelModel):
    """One entry of a shipment's history: the status it moved to, when, and why."""

    status: ShipmentStatus
    at: Timestamp
    reason: str | None = None


class Shipment(CamelModel):
    """The shipment document in the `shipments` container (partition key `/orderId`)."""

    id: ShipmentIdentifier
    order_id: Identifier
    store_id: Identifier
    ship_to: Address
    items: list[ShipmentItem]
    carrier: str | None = None
    tracking_number: str | None = None
    status: ShipmentStatus
    status_reason: str | None = None
    history: list[ShipmentChange]


def shipment_id(order_id: str) -> str:
    """Return the shipment id of an order, `shp-<orderId>`; one shipment per order."""
    return f"shp-{order_id}"


class ShipmentRequest(CamelModel):
    """The store, address and items the Shipments service needs to ship an order.

    The saga hands it over, so no Shipments activity reads the Orders service's data.
    """

    order_id: Identifier
    store_id: Identifier
    ship_to: Address
    items: Annotated[list[ShipmentItem], Field(min_length=1)]


def shipment_request(order: Order | PlaceOrder, order_id: str) -> ShipmentRequest:
    """Describe what to ship for an order: its store, address and lines."""
    items = [
        ShipmentItem(product_id=line.product_id, quantity=line.quantity) for line in order.lines
    ]
    return ShipmentRequest(
        order_id=order_id, store_id=order.store_id, ship_to=order.ship_to, items=items
    )


def new_shipment(request: ShipmentRequest, at: datetime) -> Shipment:
    """Build the Requested shipment for a shipment request."""
    return Shipment(
        id=shipment_id(request.order_id),
        order_id=request.order_id,
        store_id=request.store_id,
        ship_to=request.ship_to,
        items=request.items,
        status=ShipmentStatus.REQUESTED,
        history=[ShipmentChange(status=ShipmentStatus.REQUESTED, at=at)],
    )


def change_status(
    shipment: Shipment,
    status: ShipmentStatus,
    at: datetime,
    reason: str | None = None,
    carrier: str | None = None,
    tracking_number: str | None = None,
) -> Shipment:
    """Move a shipment to `status`, recording the change and any carrier details in it.

    A status the shipment holds now or held before is a no-op that returns `shipment` itself,
    so a repeated or late carrier event changes nothing. Carrier and tracking number are set
    only where still empty. Any other change that ALLOWED_TRANSITIONS does not list raises
    InvalidTransition.
    """
    if status == shipment.status or any(change.status == status for change in shipment.history):
        return shipment

    if status not in ALLOWED_TRANSITIONS[shipment.status]:
        raise InvalidTransition("shipment", shipment.id, shipment.status, status)

    change = ShipmentChange(status=status, at=at, reason=reason)
    return shipment.model_copy(
        update={
            "status": status,
            "status_reason": reason,
            "history": [*shipment.history, change],
            "carrier": shipment.carrier or carrier,
            "tracking_number": shipment.tracking_number or tracking_number,
        }
    )
