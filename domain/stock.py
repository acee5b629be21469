"""Stock at a store: on-hand quantities, reservations and shipments per order, and receipts.

Every function is pure and idempotent: it returns the item unchanged (the same object) when the
order or event has already been applied, so a retried activity writes nothing new. Each one
conserves stock: on hand + reserved + shipped changes only when `receive` adds a receipt.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated

from pydantic import Field

from domain.base import CamelModel, Identifier
from domain.orders import OrderLine

Count = Annotated[int, Field(ge=0)]


class StockItem(CamelModel):
    """The stock document of one product at one store (`stock` container, partition `/storeId`).

    `on_hand` is the quantity that can still be reserved. Reserved and shipped quantities are
    kept per order id, so each order's share is released, committed or returned only once.
    """

    id: Identifier
    store_id: Identifier
    product_id: Identifier
    on_hand: Count = 0
    reservations: dict[str, Count] = {}
    # NOTE: a delivered order's entry stays in `shipped` for good, so the document grows with
    # every completed order of this product at this store.
    shipped: dict[str, Count] = {}
    receipts: list[str] = []

    @property
    def reserved(self) -> int:
        """Return the quantity reserved by all orders."""
        return sum(self.reservations.values())

    @property
    def shipped_total(self) -> int:
        """Return the quantity shipped to all orders and not returned."""
        return sum(self.shipped.values())

    @property
    def total(self) -> int:
        """Return on hand + reserved + shipped, the quantity that only receipts change."""
        return self.on_hand + self.reserved + self.shipped_total


class ShortLine(CamelModel):
    """An order line the store cannot fill: what was requested and what is on hand."""

    product_id: Identifier
    requested: int
    available: int
    stocked: bool = True
    """False when the store has no stock record of the product: it never received any, or
    the store id is unknown. Stores exist only through their stock records."""


def rejection_reason(store_id: str, short_lines: Sequence[ShortLine]) -> str:
    """Describe why the store cannot fill the short lines, for the Rejected order's reason.

    Products the store never stocked are named apart from those it has too few of, because
    they usually mean a wrong store or product id.
    """
    unstocked = [line.product_id for line in short_lines if not line.stocked]
    short = [line for line in short_lines if line.stocked]

    parts = []
    if unstocked:
        parts.append(
            f"store {store_id!r} has never stocked {', '.join(unstocked)}; "
            "check the store id and the product ids"
        )
    if short:
        parts.append("not enough stock: " + ", ".join(
            f"{line.product_id} (requested {line.requested}, available {line.available})"
            for line in short
        ))
    return "; ".join(parts)


class Reservation(CamelModel):
    """The outcome of reserving an order's lines: the changed items, or the short lines."""

    reserved: bool
    items: list[StockItem] = []
    short_lines: list[ShortLine] = []


def empty_item(store_id: str, product_id: str) -> StockItem:
    """Return the stock item of a product the store has never stocked."""
    return StockItem(id=product_id, store_id=store_id, product_id=product_id)


def reserve(items: Mapping[str, StockItem], order_id: str, lines: list[OrderLine]) -> Reservation:
    """Reserve every line of an order from `items` (keyed by product id), or none of them.

    A line whose item already has the order's reservation or shipment counts as reserved,
    so a repeat returns `reserved=True` with no items to write. Products missing from `items`
    have nothing on hand.
    """
    pending = [line for line in lines if not _holds_order(items.get(line.product_id), order_id)]

    short_lines = []
    for line in pending:
        stocked = line.product_id in items
        available = items[line.product_id].on_hand if stocked else 0
        if available < line.quantity:
            short_lines.append(
                ShortLine(
                    product_id=line.product_id,
                    requested=line.quantity,
                    available=available,
                    stocked=stocked,
                )
            )
    if short_lines:
        return Reservation(reserved=False, short_lines=short_lines)

    changed = []
    for line in pending:
        item = items[line.product_id]
        changed.append(
            item.model_copy(
                update={
                    "on_hand": item.on_hand - line.quantity,
                    "reservations": {**item.reservations, order_id: line.quantity},
                }
            )
        )
    return Reservation(reserved=True, items=changed)


def release(item: StockItem, order_id: str) -> StockItem:
    """Put the order's reservation back on hand; no-op when the order has none."""
    if order_id not in item.reservations:
        return item

    reservations = dict(item.reservations)
    quantity = reservations.pop(order_id)
    return item.model_copy(
        update={"on_hand": item.on_hand + quantity, "reservations": reservations}
    )


def commit(item: StockItem, order_id: str) -> StockItem:
    """Move the order's reservation to shipped; no-op when the order has no reservation."""
    if order_id not in item.reservations:
        return item

    reservations = dict(item.reservations)
    quantity = reservations.pop(order_id)
    shipped = {**item.shipped, order_id: item.shipped.get(order_id, 0) + quantity}
    return item.model_copy(update={"reservations": reservations, "shipped": shipped})


def return_shipped(item: StockItem, order_id: str) -> StockItem:
    """Put the order's shipped quantity back on hand; no-op when nothing is shipped to it."""
    if order_id not in item.shipped:
        return item

    shipped = dict(item.shipped)
    quantity = shipped.pop(order_id)
    return item.model_copy(update={"on_hand": item.on_hand + quantity, "shipped": shipped})


def receive(item: StockItem, event_id: str, quantity: int) -> StockItem:
    """Add a supplier's delivery to on hand, once per event id; no-op for a known event id."""
    if quantity <= 0:
        raise ValueError(f"received quantity {quantity} must be positive (event {event_id!r})")
    if event_id in item.receipts:
        return item

    # NOTE: receipts grow by one id per delivery and are never trimmed; a long-lived store
    # item needs them pruned past the supplier's redelivery window.
    return item.model_copy(
        update={"on_hand": item.on_hand + quantity, "receipts": [*item.receipts, event_id]}
    )


def _holds_order(item: StockItem | None, order_id: str) -> bool:
    return item is not None and (order_id in item.reservations or order_id in item.shipped)
