"""The Orders service's activities: record orders, move their stock, change their status.

Each activity is idempotent. A repeat for the same order finds its work done, writes nothing
and publishes the same event again, with the same id and body. Business outcomes are return
values. Faults (a store or broker error, a lost ETag race after the retries, an invalid input)
raise, and the saga's Durable retry options decide what happens next.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import azure.durable_functions as df

from activities.common import (
    ActivityInput,
    now,
    parse_input,
    publish,
    update_document,
    with_write_retry,
)
from domain.base import Identifier
from domain.errors import Conflict, NotFound
from domain.messages import (
    CloudEvent,
    OrderCancelled,
    OrderCompleted,
    OrderPlaced,
    OrderRejected,
    OrderReturned,
    OrderShipped,
    StockReceived,
    saga_event,
)
from domain.orders import Order, OrderStatus, PlaceOrder, change_status, new_order
from domain.ports import Document, Ports
from domain.shipments import shipment_id
from domain.stock import (
    ShortLine,
    StockItem,
    commit,
    empty_item,
    receive,
    rejection_reason,
    release,
    reserve,
)
from domain.stock import return_shipped as return_shipped_stock

logger = logging.getLogger(__name__)


class RecordOrderInput(ActivityInput):
    """Input of record_order: the saga's order id and the validated request."""

    order_id: Identifier
    order: PlaceOrder


class OrderRef(ActivityInput):
    """Input of the activities that need only the order id."""

    order_id: Identifier


class RejectInput(ActivityInput):
    """Input of reject_order: the lines reserve_stock reported short."""

    order_id: Identifier
    short_lines: list[ShortLine]


class ReasonInput(ActivityInput):
    """Input of cancel_order and return_order: why the order ends this way."""

    order_id: Identifier
    reason: str | None = None


class ShippedInput(ActivityInput):
    """Input of mark_order_shipped; carrier and tracking number are copied into OrderShipped."""

    order_id: Identifier
    carrier: str | None = None
    tracking_number: str | None = None


def blueprint(ports: Ports) -> df.Blueprint:
    """Register the Orders activities, bound to `ports`, on a new Durable blueprint."""
    bp = df.Blueprint()

    @bp.activity_trigger(input_name="payload")
    def record_order(payload: dict) -> dict:
        return record_order_activity(ports, payload)

    @bp.activity_trigger(input_name="payload")
    def reserve_stock(payload: dict) -> dict:
        return reserve_stock_activity(ports, payload)

    @bp.activity_trigger(input_name="payload")
    def reject_order(payload: dict) -> dict:
        return reject_order_activity(ports, payload)

    @bp.activity_trigger(input_name="payload")
    def commit_stock(payload: dict) -> dict:
        return commit_stock_activity(ports, payload)

    @bp.activity_trigger(input_name="payload")
    def release_stock(payload: dict) -> dict:
        return release_stock_activity(ports, payload)

    @bp.activity_trigger(input_name="payload")
    def return_stock(payload: dict) -> dict:
        return return_stock_activity(ports, payload)

    @bp.activity_trigger(input_name="payload")
    def mark_order_shipped(payload: dict) -> dict:
        return mark_order_shipped_activity(ports, payload)

    @bp.activity_trigger(input_name="payload")
    def complete_order(payload: dict) -> dict:
        return complete_order_activity(ports, payload)

    @bp.activity_trigger(input_name="payload")
    def cancel_order(payload: dict) -> dict:
        return cancel_order_activity(ports, payload)

    @bp.activity_trigger(input_name="payload")
    def return_order(payload: dict) -> dict:
        return return_order_activity(ports, payload)

    return bp


# Orders.


def record_order_activity(ports: Ports, payload: Any) -> dict[str, Any]:
    """Create the order as Pending unless it exists, then publish OrderPlaced.

    Input: `{"orderId", "order": PlaceOrder}`.
    Output: `{"orderId", "status", "total"}`, from the stored order when it already existed.
    """
    request = parse_input(RecordOrderInput, "record_order", payload)
    order_id = request.order_id

    order = new_order(request.order, order_id, now())
    try:
        ports.orders.create(order.to_document(), order_id)
        logger.info("order %s recorded as Pending", order_id, extra={"orderId": order_id})
    except Conflict:
        order = _read_order(ports, order_id)

    placed = OrderPlaced(
        order_id=order_id,
        store_id=order.store_id,
        customer_id=order.customer_id,
        lines=order.lines,
        total=order.total,
    )
    publish(ports, saga_event(placed, order.history[0].at))
    return {"orderId": order_id, "status": order.status.value, "total": float(order.total)}


def reject_order_activity(ports: Ports, payload: Any) -> dict[str, Any]:
    """Move the order to Rejected with its short lines, then publish OrderRejected.

    Input: `{"orderId", "shortLines": [{"productId", "requested", "available", "stocked"?}]}`.
    Output: `{"orderId", "status"}`.
    """
    request = parse_input(RejectInput, "reject_order", payload)
    store_id = _read_order(ports, request.order_id).store_id
    reason = rejection_reason(store_id, request.short_lines)

    order = _change_order(ports, request.order_id, OrderStatus.REJECTED, reason)
    rejected = OrderRejected(
        order_id=order.id,
        store_id=order.store_id,
        reason=order.status_reason or reason,
        short_lines=request.short_lines,
    )
    publish(ports, saga_event(rejected, _changed_at(order, OrderStatus.REJECTED)))
    return {"orderId": order.id, "status": order.status.value}


def mark_order_shipped_activity(ports: Ports, payload: Any) -> dict[str, Any]:
    """Move the order to Shipped, then publish OrderShipped.

    Input: `{"orderId", "carrier"?, "trackingNumber"?}`. Output: `{"orderId", "status"}`.
    """
    request = parse_input(ShippedInput, "mark_order_shipped", payload)

    order = _change_order(ports, request.order_id, OrderStatus.SHIPPED, None)
    shipped = OrderShipped(
        order_id=order.id,
        shipment_id=shipment_id(order.id),
        carrier=request.carrier,
        tracking_number=request.tracking_number,
    )
    publish(ports, saga_event(shipped, _changed_at(order, OrderStatus.SHIPPED)))
    return {"orderId": order.id, "status": order.status.value}


def complete_order_activity(ports: Ports, payload: Any) -> dict[str, Any]:
    """Move the order to Completed, then publish OrderCompleted.

    Input: `{"orderId"}`. Output: `{"orderId", "status"}`.
    """
    request = parse_input(OrderRef, "complete_order", payload)

    order = _change_order(ports, request.order_id, OrderStatus.COMPLETED, None)
    completed = OrderCompleted(order_id=order.id, shipment_id=shipment_id(order.id))
    publish(ports, saga_event(completed, _changed_at(order, OrderStatus.COMPLETED)))
    return {"orderId": order.id, "status": order.status.value}


def cancel_order_activity(ports: Ports, payload: Any) -> dict[str, Any]:
    """Move the order to Cancelled with the reason, then publish OrderCancelled.

    Input: `{"orderId", "reason"?}`. Output: `{"orderId", "status"}`.
    """
    request = parse_input(ReasonInput, "cancel_order", payload)
    reason = request.reason or "cancelled"

    order = _change_order(ports, request.order_id, OrderStatus.CANCELLED, reason)
    cancelled = OrderCancelled(order_id=order.id, reason=order.status_reason or reason)
    publish(ports, saga_event(cancelled, _changed_at(order, OrderStatus.CANCELLED)))
    return {"orderId": order.id, "status": order.status.value}


def return_order_activity(ports: Ports, payload: Any) -> dict[str, Any]:
    """Move the order to Returned with the reason, then publish OrderReturned.

    Input: `{"orderId", "reason"?}`. Output: `{"orderId", "status"}`.
    """
    request = parse_input(ReasonInput, "return_order", payload)
    reason = request.reason or "returned"

    order = _change_order(ports, request.order_id, OrderStatus.RETURNED, reason)
    returned = OrderReturned(order_id=order.id, reason=order.status_reason or reason)
    publish(ports, saga_event(returned, _changed_at(order, OrderStatus.RETURNED)))
    return {"orderId": order.id, "status": order.status.value}


def _change_order(ports: Ports, order_id: str, status: OrderStatus, reason: str | None) -> Order:
    """Apply a status change to the stored order under its ETag and return the order after it."""
    before, after = update_document(
        ports.orders,
        order_id,
        order_id,
        Order,
        lambda order: change_status(order, status, now(), reason),
        f"order status change to {status.value}",
        orderId=order_id,
    )

    if after is not before:
        logger.info(
            "order %s: %s -> %s",
            order_id,
            before.status.value,
            after.status.value,
            extra={"orderId": order_id, "orderStatus": after.status.value},
        )
    return after


def _read_order(ports: Ports, order_id: str) -> Order:
    return Order.model_validate(ports.orders.read(order_id, order_id).body)


def _changed_at(order: Order, status: OrderStatus) -> datetime:
    """Return when the order entered `status`, so a repeated publish repeats the same time."""
    return next(change.at for change in order.history if change.status == status)


# Stock.


def reserve_stock_activity(ports: Ports, payload: Any) -> dict[str, Any]:
    """Reserve every line of the order at its store in one transactional batch, or none.

    Input: `{"orderId"}`. Output: `{"reserved": bool, "shortLines": [{"productId", "requested",
    "available", "stocked"}]}`; shortLines is empty when reserved.
    """
    request = parse_input(OrderRef, "reserve_stock", payload)
    order = _read_order(ports, request.order_id)

    if order.status != OrderStatus.PENDING:
        # A late duplicate run must not reserve for an order that has moved on, so it reports
        # the reservation from the status instead.
        # NOTE: between release_stock and cancel_order the order is still Pending, so a
        # duplicate reserve_stock arriving in that window would reserve the stock again.
        logger.warning(
            "order %s is %s, so no stock is reserved for it",
            order.id,
            order.status.value,
            extra={"orderId": order.id, "orderStatus": order.status.value},
        )
        reserved = order.status in (OrderStatus.SHIPPED, OrderStatus.COMPLETED)
        return {"reserved": reserved, "shortLines": []}

    def attempt() -> list[ShortLine]:
        documents = _read_stock(ports, order.store_id, [line.product_id for line in order.lines])
        items = {product_id: item for product_id, (item, _) in documents.items()}

        outcome = reserve(items, order.id, order.lines)
        if outcome.items:
            changes = [(item.to_document(), documents[item.id][1]) for item in outcome.items]
            ports.stock.replace_batch(order.store_id, changes)
        return outcome.short_lines

    short_lines = with_write_retry(attempt, "stock reservation", orderId=order.id)

    if short_lines:
        logger.info(
            "order %s is short of %d products at store %s",
            order.id,
            len(short_lines),
            order.store_id,
            extra={"orderId": order.id, "storeId": order.store_id},
        )
    else:
        logger.info("order %s: stock reserved", order.id, extra={"orderId": order.id})
    return {"reserved": not short_lines, "shortLines": [line.to_document() for line in short_lines]}


def commit_stock_activity(ports: Ports, payload: Any) -> dict[str, Any]:
    """Move the order's reservations to shipped, for every line in one batch.

    Input: `{"orderId"}`. Output: `{"orderId", "changedProducts": [productId, ...]}`, empty when
    there was nothing left to move.
    """
    return _move_stock(ports, "commit_stock", payload, commit)


def release_stock_activity(ports: Ports, payload: Any) -> dict[str, Any]:
    """Put the order's reservations back on hand, for every line in one batch.

    Input: `{"orderId", "reason"?}`. Output: `{"orderId", "changedProducts": [productId, ...]}`.
    """
    return _move_stock(ports, "release_stock", payload, release)


def return_stock_activity(ports: Ports, payload: Any) -> dict[str, Any]:
    """Put the order's shipped quantities back on hand, for every line in one batch.

    Input: `{"orderId"}`. Output: `{"orderId", "changedProducts": [productId, ...]}`.
    """
    return _move_stock(ports, "return_stock", payload, return_shipped_stock)


def _move_stock(
    ports: Ports, activity: str, payload: Any, move: Callable[[StockItem, str], StockItem]
) -> dict[str, Any]:
    request = parse_input(OrderRef, activity, payload)
    order = _read_order(ports, request.order_id)

    def attempt() -> list[str]:
        documents = _read_stock(ports, order.store_id, [line.product_id for line in order.lines])
        changes = []
        for item, etag in documents.values():
            moved = move(item, order.id)
            if moved is not item:
                changes.append((moved, etag))

        if changes:
            batch = [(item.to_document(), etag) for item, etag in changes]
            ports.stock.replace_batch(order.store_id, batch)
        return [item.product_id for item, _ in changes]

    changed = with_write_retry(attempt, activity, orderId=order.id)

    logger.info(
        "%s for order %s changed %d products",
        activity,
        order.id,
        len(changed),
        extra={"orderId": order.id, "storeId": order.store_id},
    )
    return {"orderId": order.id, "changedProducts": changed}


def _read_stock(
    ports: Ports, store_id: str, product_ids: list[str]
) -> dict[str, tuple[StockItem, str]]:
    """Read the stock items of a store's products with their ETags; absent products are left out."""
    documents: dict[str, tuple[StockItem, str]] = {}
    for product_id in product_ids:
        try:
            document = ports.stock.read(product_id, store_id)
        except NotFound:
            continue
        documents[product_id] = (StockItem.model_validate(document.body), document.etag)
    return documents


# Supplier deliveries.


def receive_stock(ports: Ports, event: CloudEvent) -> dict[str, Any]:
    """Add a supplier's StockReceived delivery to the store's on-hand stock, once per event id.

    Each product's item records the event id, so a redelivered message adds nothing twice, even
    when the first delivery stopped half-way through its lines. Returns
    `{"storeId", "changedProducts": [productId, ...]}`. Raises ValueError for another event
    type.
    """
    if not isinstance(event.data, StockReceived):
        raise ValueError(f"receive_stock takes StockReceived events, got {event.type} ({event.id})")
    store_id = event.data.store_id

    changed = []
    for line in event.data.lines:
        if _receive_line(ports, store_id, line.product_id, event.id, line.quantity):
            changed.append(line.product_id)

    logger.info(
        "stock receipt %s at store %s changed %d products",
        event.id,
        store_id,
        len(changed),
        extra={"storeId": store_id, "messageId": event.id, "eventType": event.type},
    )
    return {"storeId": store_id, "changedProducts": changed}


def _receive_line(
    ports: Ports, store_id: str, product_id: str, event_id: str, quantity: int
) -> bool:
    def attempt() -> bool:
        try:
            document: Document | None = ports.stock.read(product_id, store_id)
        except NotFound:
            document = None

        item = (
            StockItem.model_validate(document.body)
            if document
            else empty_item(store_id, product_id)
        )
        received = receive(item, event_id, quantity)
        if received is item:
            return False

        if document is None:
            ports.stock.create(received.to_document(), store_id)
        else:
            ports.stock.replace(received.to_document(), store_id, document.etag)
        return True

    return with_write_retry(
        attempt, f"stock receipt {event_id}", storeId=store_id, messageId=event_id
    )
