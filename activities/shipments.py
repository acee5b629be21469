"""The Shipments service's activities: request, record and cancel an order's shipment.

Each activity is idempotent: a repeat for the same order finds its shipment already in the
status, writes nothing and sends the same carrier message again, with the same id and body.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

import azure.durable_functions as df

from activities.common import ActivityInput, now, parse_input, publish, update_document
from domain.base import Identifier, Timestamp
from domain.errors import Conflict, NotFound
from domain.messages import (
    ShipmentCancellationRequested,
    ShipmentItemData,
    ShipmentRequested,
    saga_event,
)
from domain.ports import Ports
from domain.shipments import (
    Shipment,
    ShipmentRequest,
    ShipmentStatus,
    change_status,
    new_shipment,
    shipment_id,
)

logger = logging.getLogger(__name__)


class DispatchInput(ActivityInput):
    """Input of record_dispatch, from the carrier's ShipmentDispatched (or ShipmentDelivered)."""

    order_id: Identifier
    carrier: str | None = None
    tracking_number: str | None = None
    dispatched_at: Timestamp | None = None


class DeliveryInput(ActivityInput):
    """Input of record_delivery, from the carrier's ShipmentDelivered."""

    order_id: Identifier
    delivered_at: Timestamp | None = None
    carrier: str | None = None
    tracking_number: str | None = None


class ReasonInput(ActivityInput):
    """Input of record_delivery_failure and cancel_shipment: why."""

    order_id: Identifier
    reason: str | None = None


def blueprint(ports: Ports) -> df.Blueprint:
    """Register the Shipments activities, bound to `ports`, on a new Durable blueprint."""
    bp = df.Blueprint()

    @bp.activity_trigger(input_name="payload")
    def request_shipment(payload: dict) -> dict:
        return request_shipment_activity(ports, payload)

    @bp.activity_trigger(input_name="payload")
    def record_dispatch(payload: dict) -> dict:
        return record_dispatch_activity(ports, payload)

    @bp.activity_trigger(input_name="payload")
    def record_delivery(payload: dict) -> dict:
        return record_delivery_activity(ports, payload)

    @bp.activity_trigger(input_name="payload")
    def record_delivery_failure(payload: dict) -> dict:
        return record_delivery_failure_activity(ports, payload)

    @bp.activity_trigger(input_name="payload")
    def cancel_shipment(payload: dict) -> dict:
        return cancel_shipment_activity(ports, payload)

    return bp


def request_shipment_activity(ports: Ports, payload: Any) -> dict[str, Any]:
    """Create the order's shipment as Requested unless it exists, then send ShipmentRequested.

    The saga hands over the store, address and items, so the Shipments service reads nothing
    of the Orders service's data.
    Input: `{"orderId", "storeId", "shipTo", "items": [{"productId", "quantity"}]}`.
    Output: `{"shipmentId", "status"}`.
    """
    request = parse_input(ShipmentRequest, "request_shipment", payload)
    order_id = request.order_id

    shipment = new_shipment(request, now())
    try:
        ports.shipments.create(shipment.to_document(), order_id)
        logger.info("shipment %s requested", shipment.id, extra={"orderId": order_id})
    except Conflict:
        shipment = _read_shipment(ports, order_id)

    requested = ShipmentRequested(
        shipment_id=shipment.id,
        order_id=order_id,
        store_id=shipment.store_id,
        ship_to=shipment.ship_to,
        items=[
            ShipmentItemData(product_id=item.product_id, quantity=item.quantity)
            for item in shipment.items
        ],
    )
    publish(ports, saga_event(requested, shipment.history[0].at))
    return {"shipmentId": shipment.id, "status": shipment.status.value}


def record_dispatch_activity(ports: Ports, payload: Any) -> dict[str, Any]:
    """Move the shipment to Dispatched with the carrier and tracking number.

    Input: `{"orderId", "carrier"?, "trackingNumber"?, "dispatchedAt"?}` (dispatchedAt defaults to
    now). Output: `{"shipmentId", "status", "carrier", "trackingNumber"}`.
    """
    request = parse_input(DispatchInput, "record_dispatch", payload)

    shipment = _change_shipment(
        ports,
        request.order_id,
        ShipmentStatus.DISPATCHED,
        request.dispatched_at or now(),
        carrier=request.carrier,
        tracking_number=request.tracking_number,
    )
    return _summary(shipment)


def record_delivery_activity(ports: Ports, payload: Any) -> dict[str, Any]:
    """Move the shipment to Delivered.

    Input: `{"orderId", "deliveredAt"?, "carrier"?, "trackingNumber"?}`.
    Output: `{"shipmentId", "status", "carrier", "trackingNumber"}`.
    """
    request = parse_input(DeliveryInput, "record_delivery", payload)

    shipment = _change_shipment(
        ports,
        request.order_id,
        ShipmentStatus.DELIVERED,
        request.delivered_at or now(),
        carrier=request.carrier,
        tracking_number=request.tracking_number,
    )
    return _summary(shipment)


def record_delivery_failure_activity(ports: Ports, payload: Any) -> dict[str, Any]:
    """Move the shipment to DeliveryFailed with the reason.

    Input: `{"orderId", "reason"?}`. Output: `{"shipmentId", "status", "carrier",
    "trackingNumber"}`.
    """
    request = parse_input(ReasonInput, "record_delivery_failure", payload)

    shipment = _change_shipment(
        ports,
        request.order_id,
        ShipmentStatus.DELIVERY_FAILED,
        now(),
        reason=request.reason or "delivery failed",
    )
    return _summary(shipment)


def cancel_shipment_activity(ports: Ports, payload: Any) -> dict[str, Any]:
    """Move the shipment to Cancelled, then send ShipmentCancellationRequested to the carrier.

    A shipment that does not exist needs no cancellation. A shipment the carrier has already
    dispatched or finished keeps its status, but the cancellation request is still sent, so the
    carrier can bring the parcel back.
    Input: `{"orderId", "reason"?}`.
    Output: `{"shipmentId", "cancelled": bool, "status": <status or null>}`.
    """
    request = parse_input(ReasonInput, "cancel_shipment", payload)
    order_id = request.order_id
    reason = request.reason or "cancelled"

    try:
        shipment = _change_shipment(ports, order_id, ShipmentStatus.CANCELLED, now(), reason=reason)
    except NotFound:
        logger.info("order %s has no shipment to cancel", order_id, extra={"orderId": order_id})
        return {"shipmentId": shipment_id(order_id), "cancelled": False, "status": None}
    except _TooLateToCancel as late:
        shipment = late.shipment

    cancelled = shipment.status == ShipmentStatus.CANCELLED
    if cancelled:
        sent_at = _changed_at(shipment, ShipmentStatus.CANCELLED)
    else:
        # NOTE: the carrier dispatched while the saga was deciding to cancel. The order is
        # cancelled and its stock released all the same; the carrier must return the parcel.
        logger.warning(
            "shipment %s is already %s; the carrier is asked to cancel it anyway",
            shipment.id,
            shipment.status.value,
            extra={"orderId": order_id, "shipmentStatus": shipment.status.value},
        )
        sent_at = shipment.history[-1].at

    message = ShipmentCancellationRequested(
        shipment_id=shipment.id,
        order_id=order_id,
        reason=(shipment.status_reason or reason) if cancelled else reason,
    )
    publish(ports, saga_event(message, sent_at))
    return {"shipmentId": shipment.id, "cancelled": cancelled, "status": shipment.status.value}


class _TooLateToCancel(Exception):
    def __init__(self, shipment: Shipment) -> None:
        self.shipment = shipment
        super().__init__(f"shipment {shipment.id} is already {shipment.status.value}")


def _change_shipment(
    ports: Ports,
    order_id: str,
    status: ShipmentStatus,
    at: datetime,
    reason: str | None = None,
    carrier: str | None = None,
    tracking_number: str | None = None,
) -> Shipment:
    """Apply a status change to the stored shipment under its ETag; return the shipment after it.

    Raises _TooLateToCancel instead of InvalidTransition when a cancellation comes too late.
    """

    def change(shipment: Shipment) -> Shipment:
        if status == ShipmentStatus.CANCELLED and shipment.status not in (
            ShipmentStatus.REQUESTED,
            ShipmentStatus.CANCELLED,
        ):
            raise _TooLateToCancel(shipment)
        return change_status(shipment, status, at, reason, carrier, tracking_number)

    before, after = update_document(
        ports.shipments,
        shipment_id(order_id),
        order_id,
        Shipment,
        change,
        f"shipment status change to {status.value}",
        orderId=order_id,
    )

    if after is not before:
        logger.info(
            "shipment %s: %s -> %s",
            after.id,
            before.status.value,
            after.status.value,
            extra={"orderId": order_id, "shipmentStatus": after.status.value},
        )
    return after


def _read_shipment(ports: Ports, order_id: str) -> Shipment:
    return Shipment.model_validate(ports.shipments.read(shipment_id(order_id), order_id).body)


def _changed_at(shipment: Shipment, status: ShipmentStatus) -> datetime:
    return next(change.at for change in shipment.history if change.status == status)


def _summary(shipment: Shipment) -> dict[str, Any]:
    return {
        "shipmentId": shipment.id,
        "status": shipment.status.value,
        "carrier": shipment.carrier,
        "trackingNumber": shipment.tracking_number,
    }
