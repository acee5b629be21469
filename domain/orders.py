"""Orders: the validated order request, the order document and its status rules."""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator

from domain.base import (
    CamelModel,
    Discount,
    Identifier,
    Money,
    Quantity,
    Text,
    Timestamp,
    field_path,
)
from domain.errors import FieldError, InvalidTransition, ValidationFailed

MAX_LINES = 100
CENT = Decimal("0.01")


class OrderStatus(StrEnum):
    """Where an order stands in the saga."""

    PENDING = "Pending"
    """Recorded; stock and shipment are being arranged."""
    REJECTED = "Rejected"
    """Refused because the store could not reserve every line."""
    SHIPPED = "Shipped"
    """Handed to the carrier; the stock is committed."""
    COMPLETED = "Completed"
    """Delivered to the customer."""
    CANCELLED = "Cancelled"
    """Stopped before dispatch by the customer, the dispatch deadline or a fault."""
    RETURNED = "Returned"
    """Delivery failed or was overdue; the stock went back on hand."""


# Each status and the statuses an order may move to from it. Statuses with no successor are final.
ALLOWED_TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING: frozenset(
        {OrderStatus.REJECTED, OrderStatus.SHIPPED, OrderStatus.CANCELLED}
    ),
    OrderStatus.SHIPPED: frozenset({OrderStatus.COMPLETED, OrderStatus.RETURNED}),
    OrderStatus.REJECTED: frozenset(),
    OrderStatus.COMPLETED: frozenset(),
    OrderStatus.CANCELLED: frozenset(),
    OrderStatus.RETURNED: frozenset(),
}


class OrderLine(CamelModel):
    """One product of an order, its quantity and its unit price before discount."""

    product_id: Identifier
    quantity: Quantity
    unit_price: Money
    discount: Discount = Decimal(0)

    @property
    def amount(self) -> Decimal:
        """Return the line's price after discount, unrounded."""
        return self.quantity * self.unit_price * (1 - self.discount)


class Address(CamelModel):
    """A delivery address in the United States, where the stores ship."""

    name: Text
    street: Text
    city: Annotated[str, Field(min_length=1, max_length=100)]
    state: Annotated[str, Field(pattern=r"^[A-Z]{2}$")]
    postal_code: Annotated[str, Field(pattern=r"^\d{5}(-\d{4})?$")]
    country: Annotated[str, Field(pattern=r"^US$")] = "US"


def _require_distinct_products(lines: list[OrderLine]) -> list[OrderLine]:
    seen: set[str] = set()
    for line in lines:
        if line.product_id in seen:
            raise ValueError(
                f"productId {line.product_id!r} appears on more than one line; "
                "put its whole quantity on one line"
            )
        seen.add(line.product_id)
    return lines


class PlaceOrder(CamelModel):
    """A customer's validated request to buy products from one store."""

    model_config = CamelModel.model_config | {"extra": "forbid"}

    store_id: Identifier
    customer_id: Identifier
    lines: Annotated[list[OrderLine], Field(min_length=1, max_length=MAX_LINES)]
    ship_to: Address
    client_order_id: Identifier | None = None

    _distinct_products = field_validator("lines")(_require_distinct_products)


class StatusChange(CamelModel):
    """One entry of an order's history: the status it moved to, when, and why."""

    status: OrderStatus
    at: Timestamp
    reason: str | None = None


class Order(CamelModel):
    """The order document in the `orders` container (partition key `/id`)."""

    id: Identifier
    store_id: Identifier
    customer_id: Identifier
    lines: list[OrderLine]
    ship_to: Address
    client_order_id: Identifier | None = None
    total: Money
    status: OrderStatus
    status_reason: str | None = None
    history: list[StatusChange]

    @property
    def is_final(self) -> bool:
        """Whether the order has reached a status it can never leave."""
        return not ALLOWED_TRANSITIONS[self.status]


def parse_place_order(raw: Any) -> PlaceOrder:
    """Validate a decoded JSON request body as a PlaceOrder.

    Raises ValidationFailed listing every invalid field by its camelCase path.
    """
    try:
        return PlaceOrder.model_validate(raw)
    except ValidationError as exc:
        errors = [
            FieldError(field=field_path(error["loc"]), message=error["msg"])
            for error in exc.errors(include_url=False)
        ]
        raise ValidationFailed(errors) from None


def order_total(lines: list[OrderLine]) -> Decimal:
    """Return the sum of the discounted line amounts, rounded half up to the cent."""
    exact = sum((line.amount for line in lines), Decimal(0))
    return exact.quantize(CENT, rounding=ROUND_HALF_UP)


def new_order(request: PlaceOrder, order_id: str, at: datetime) -> Order:
    """Build the Pending order for a request, with its total and first history entry."""
    return Order(
        id=order_id,
        store_id=request.store_id,
        customer_id=request.customer_id,
        lines=request.lines,
        ship_to=request.ship_to,
        client_order_id=request.client_order_id,
        total=order_total(request.lines),
        status=OrderStatus.PENDING,
        history=[StatusChange(status=OrderStatus.PENDING, at=at)],
    )


def change_status(
    order: Order, status: OrderStatus, at: datetime, reason: str | None = None
) -> Order:
    """Move an order to `status`, recording the change in its history.

    A status the order holds now or held before is a no-op that returns `order` itself, so a
    repeated or late step changes nothing; the first reason recorded stays. Any other change
    that ALLOWED_TRANSITIONS does not list raises InvalidTransition.
    """
    if status == order.status or any(change.status == status for change in order.history):
        return order

    if status not in ALLOWED_TRANSITIONS[order.status]:
        raise InvalidTransition("order", order.id, order.status, status)

    change = StatusChange(status=status, at=at, reason=reason)
    return order.model_copy(
        update={"status": status, "status_reason": reason, "history": [*order.history, change]}
    )
