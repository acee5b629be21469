"""Describe the order saga's contract: its input, output, steps, external events and custom status.

The orchestrator, the HTTP starter and the Service Bus trigger share these names, so the
Durable status API, the logs and the messages all call each step and event the same thing.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from domain.orders import OrderStatus, PlaceOrder

ORCHESTRATION = "order_saga"
"""The orchestrator function's name; its instance id is the order id."""


class Step(StrEnum):
    """The saga's business steps, in the order they run."""

    RECORD_ORDER = "RecordOrder"
    """Store the order as Pending and announce it."""
    RESERVE_STOCK = "ReserveStock"
    """Reserve every line at the order's store, or none."""
    REJECT_ORDER = "RejectOrder"
    """Reject the order because a line is short."""
    REQUEST_SHIPMENT = "RequestShipment"
    """Create the shipment and ask the carrier to collect it."""
    AWAIT_DISPATCH = "AwaitDispatch"
    """Wait for the carrier's dispatch, a customer's cancellation, or the dispatch deadline."""
    SHIP_ORDER = "ShipOrder"
    """Record the dispatch, move the reserved stock to shipped, mark the order Shipped."""
    AWAIT_DELIVERY = "AwaitDelivery"
    """Wait for the delivery, a failed delivery, or the delivery deadline."""
    COMPLETE_ORDER = "CompleteOrder"
    """Record the delivery and complete the order."""
    RETURN_ORDER = "ReturnOrder"
    """Record the failed delivery, put the stock back and mark the order Returned."""
    COMPENSATE = "Compensate"
    """Undo the steps already done, newest first, and cancel the order."""
    FINISHED = "Finished"
    """The saga has ended; the order status is final."""


class SagaEvent(StrEnum):
    """External events the saga waits for; each name is the event type raised into it."""

    SHIPMENT_DISPATCHED = "ShipmentDispatched"
    """The carrier collected the parcel (raised from the carrier-events queue)."""
    SHIPMENT_DELIVERED = "ShipmentDelivered"
    """The carrier delivered the parcel, possibly without a dispatch event first."""
    SHIPMENT_DELIVERY_FAILED = "ShipmentDeliveryFailed"
    """The carrier gave up delivering; the parcel goes back to the store."""
    CANCEL_REQUESTED = "CancelRequested"
    """The customer asked to cancel (raised by the HTTP cancel route)."""


CARRIER_EVENTS = frozenset(
    {
        SagaEvent.SHIPMENT_DISPATCHED,
        SagaEvent.SHIPMENT_DELIVERED,
        SagaEvent.SHIPMENT_DELIVERY_FAILED,
    }
)
"""Event types the carrier-events trigger raises into the saga."""


class Deadline(StrEnum):
    """Durable timers the saga races against its external events."""

    DISPATCH = "DispatchDeadline"
    """The carrier must dispatch (or deliver) before it, else the order is cancelled."""
    DELIVERY = "DeliveryDeadline"
    """The carrier must deliver before it, else the order is returned."""


CANCELLABLE_STEPS = frozenset(
    {Step.RECORD_ORDER, Step.RESERVE_STOCK, Step.REQUEST_SHIPMENT, Step.AWAIT_DISPATCH}
)
"""Steps during which a CancelRequested event still changes the outcome."""


class _CamelModel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True)


@dataclass(frozen=True)
class SagaOptions:
    """The deadlines and retry options every saga runs with, taken from the app's settings."""

    dispatch_deadline_seconds: int
    delivery_deadline_seconds: int
    retry_first_interval_ms: int
    retry_max_attempts: int


class SagaInput(_CamelModel):
    """What the HTTP starter passes to `order_saga`: the order and the settings it runs with.

    The orchestrator must not read the environment, so deadlines and retry options travel
    in the input and stay fixed for the instance's lifetime.
    """

    order_id: str = Field(min_length=1)
    order: PlaceOrder
    dispatch_deadline_seconds: int = Field(gt=0)
    delivery_deadline_seconds: int = Field(gt=0)
    retry_first_interval_ms: int = Field(gt=0)
    retry_max_attempts: int = Field(ge=1)

    @classmethod
    def for_order(cls, order_id: str, order: PlaceOrder, options: SagaOptions) -> SagaInput:
        """Build the input of the saga that fulfils `order` under `options`."""
        return cls(order_id=order_id, order=order, **asdict(options))


class SagaOutput(_CamelModel):
    """The saga's result: the order's final status and why it ended there."""

    order_id: str
    status: OrderStatus
    reason: str | None = None


def custom_status(
    step: Step, order_status: OrderStatus, waiting_for: list[dict[str, str]] | None = None
) -> dict[str, Any]:
    """Build the custom status `{"step", "waitingFor", "orderStatus"}` the saga publishes."""
    return {
        "step": step.value,
        "waitingFor": waiting_for or [],
        "orderStatus": order_status.value,
    }


def waiting_for_event(event: SagaEvent) -> dict[str, str]:
    """Describe an external event the saga waits for, as a `waitingFor` entry."""
    return {"event": event.value}


def waiting_for_deadline(deadline: Deadline, fire_at_iso: str) -> dict[str, str]:
    """Describe a deadline timer the saga waits for, as a `waitingFor` entry."""
    return {"deadline": deadline.value, "at": fire_at_iso}


def accepts_cancellation(status: dict[str, Any] | None) -> bool:
    """Tell whether a saga showing this custom status can still be cancelled by the customer.

    A saga with no custom status yet has not run its first step, so it can be cancelled.
    """
    if not status:
        return True
    return status.get("step") in CANCELLABLE_STEPS
