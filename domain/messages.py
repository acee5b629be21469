"""Message contracts: the CloudEvents 1.0 envelope, the typed payload of each event type,
the Service Bus entity each type travels on, and the parser for received bodies."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SerializeAsAny, ValidationError

from domain.base import (
    CamelModel,
    Identifier,
    Money,
    Quantity,
    ShipmentIdentifier,
    Text,
    Timestamp,
    field_path,
)
from domain.errors import InvalidMessage
from domain.orders import Address, OrderLine
from domain.stock import ShortLine

SPEC_VERSION = "1.0"
DATA_CONTENT_TYPE = "application/json"

# CloudEvents `source` of the events each service publishes.
ORDERS_SOURCE = "/ajbikes/orders"
SHIPMENTS_SOURCE = "/ajbikes/shipments"

# Service Bus entities, as declared in infra/servicebus/Config.json.
ORDER_EVENTS = "order-events"
CARRIER_REQUESTS = "carrier-requests"
CARRIER_EVENTS = "carrier-events"
SUPPLIER_EVENTS = "supplier-events"


class EventData(CamelModel):
    """Base of every event payload; the class name is the event type."""

    model_config = CamelModel.model_config | {"extra": "ignore"}


# Orders → anyone, on the order-events topic.


class OrderPlaced(EventData):
    """An order was recorded as Pending."""

    order_id: Identifier
    store_id: Identifier
    customer_id: Identifier
    lines: list[OrderLine]
    total: Money


class OrderRejected(EventData):
    """An order was refused because the store could not reserve these lines."""

    order_id: Identifier
    store_id: Identifier
    reason: str
    short_lines: list[ShortLine]


class OrderShipped(EventData):
    """An order left the store with the carrier."""

    order_id: Identifier
    shipment_id: ShipmentIdentifier
    carrier: str | None = None
    tracking_number: str | None = None


class OrderCompleted(EventData):
    """An order was delivered."""

    order_id: Identifier
    shipment_id: ShipmentIdentifier


class OrderCancelled(EventData):
    """An order was stopped before dispatch; its stock was released."""

    order_id: Identifier
    reason: str


class OrderReturned(EventData):
    """An order's delivery failed or was overdue; its stock went back on hand."""

    order_id: Identifier
    reason: str


# Shipments → carrier, on the carrier-requests queue.


class ShipmentItemData(CamelModel):
    """A product and quantity the carrier picks up."""

    product_id: Identifier
    quantity: Quantity


class ShipmentRequested(EventData):
    """The carrier is asked to pick up an order at its store and deliver it."""

    shipment_id: ShipmentIdentifier
    order_id: Identifier
    store_id: Identifier
    ship_to: Address
    items: list[ShipmentItemData]


class ShipmentCancellationRequested(EventData):
    """A request to the carrier not to pick up a shipment."""

    shipment_id: ShipmentIdentifier
    order_id: Identifier
    reason: str


# Carrier → Shipments, on the carrier-events queue.


class ShipmentDispatched(EventData):
    """The carrier picked up a shipment."""

    shipment_id: ShipmentIdentifier
    order_id: Identifier
    carrier: Text
    tracking_number: Text
    dispatched_at: Timestamp


class ShipmentDelivered(EventData):
    """The carrier delivered a shipment; carrier and tracking number come along in case the
    carrier never sent ShipmentDispatched."""

    shipment_id: ShipmentIdentifier
    order_id: Identifier
    delivered_at: Timestamp
    carrier: Text | None = None
    tracking_number: Text | None = None


class ShipmentDeliveryFailed(EventData):
    """The carrier gave up delivering a shipment."""

    shipment_id: ShipmentIdentifier
    order_id: Identifier
    reason: Text


# Supplier → Orders, on the supplier-events queue.


class ReceivedLine(CamelModel):
    """A product and the quantity a supplier delivered."""

    product_id: Identifier
    quantity: Quantity


class StockReceived(EventData):
    """A supplier delivered products to a store; applied once per event id."""

    store_id: Identifier
    lines: Annotated[list[ReceivedLine], Field(min_length=1)]


@dataclass(frozen=True)
class EventSpec:
    """The payload model, Service Bus entity and publishing source of one event type."""

    data: type[EventData]
    entity: str
    source: str | None
    """The `source` the app publishes it with; None for events from outside systems."""


EVENT_TYPES: dict[str, EventSpec] = {
    "OrderPlaced": EventSpec(OrderPlaced, ORDER_EVENTS, ORDERS_SOURCE),
    "OrderRejected": EventSpec(OrderRejected, ORDER_EVENTS, ORDERS_SOURCE),
    "OrderShipped": EventSpec(OrderShipped, ORDER_EVENTS, ORDERS_SOURCE),
    "OrderCompleted": EventSpec(OrderCompleted, ORDER_EVENTS, ORDERS_SOURCE),
    "OrderCancelled": EventSpec(OrderCancelled, ORDER_EVENTS, ORDERS_SOURCE),
    "OrderReturned": EventSpec(OrderReturned, ORDER_EVENTS, ORDERS_SOURCE),
    "ShipmentRequested": EventSpec(ShipmentRequested, CARRIER_REQUESTS, SHIPMENTS_SOURCE),
    "ShipmentCancellationRequested": EventSpec(
        ShipmentCancellationRequested, CARRIER_REQUESTS, SHIPMENTS_SOURCE
    ),
    "ShipmentDispatched": EventSpec(ShipmentDispatched, CARRIER_EVENTS, None),
    "ShipmentDelivered": EventSpec(ShipmentDelivered, CARRIER_EVENTS, None),
    "ShipmentDeliveryFailed": EventSpec(ShipmentDeliveryFailed, CARRIER_EVENTS, None),
    "StockReceived": EventSpec(StockReceived, SUPPLIER_EVENTS, None),
}

CARRIER_EVENT_TYPES = frozenset(
    name for name, spec in EVENT_TYPES.items() if spec.entity == CARRIER_EVENTS
)


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 envelope in JSON form, with the typed payload of its event type.

    `subject` is the order id, except for StockReceived where it is the store id.
    """

    model_config = ConfigDict(frozen=True, extra="ignore")

    specversion: Literal["1.0"] = SPEC_VERSION
    id: Annotated[str, Field(min_length=1, max_length=128)]
    source: Annotated[str, Field(min_length=1)]
    type: str
    subject: Annotated[str, Field(min_length=1)]
    time: Timestamp
    datacontenttype: Literal["application/json"] = DATA_CONTENT_TYPE
    data: SerializeAsAny[EventData]

    @property
    def entity(self) -> str:
        """Return the Service Bus queue or topic this event travels on."""
        return entity_for(self.type)

    def to_json(self) -> dict[str, Any]:
        """Return the envelope as a JSON-compatible dict, payload in camelCase."""
        body = self.model_dump(mode="json", exclude={"data"})
        body["data"] = self.data.to_document()
        return body

    def to_bytes(self) -> bytes:
        """Return the envelope as compact UTF-8 JSON, the message body on the wire."""
        return json.dumps(self.to_json(), separators=(",", ":")).encode()


def event_type(data: EventData) -> str:
    """Return the event type of a payload, which is its class name."""
    return type(data).__name__


def event_id(order_id: str, type_name: str) -> str:
    """Return the deterministic id of an event the saga publishes: `<orderId>/<type>`."""
    return f"{order_id}/{type_name}"


def entity_for(type_name: str) -> str:
    """Return the Service Bus entity an event type travels on; KeyError names unknown types."""
    try:
        return EVENT_TYPES[type_name].entity
    except KeyError:
        raise KeyError(f"unknown event type {type_name!r}; known: {sorted(EVENT_TYPES)}") from None


def saga_event(data: EventData, time: datetime) -> CloudEvent:
    """Wrap a payload the saga publishes in its envelope, with id `<orderId>/<type>`.

    The id depends only on the order and the type, so a retried activity sends the same id
    and Service Bus duplicate detection drops the repeat.
    """
    type_name = event_type(data)
    spec = EVENT_TYPES[type_name]
    if spec.source is None:
        raise ValueError(f"{type_name} is sent by an outside system, not published by the saga")

    order_id = data.order_id  # type: ignore[attr-defined]
    return CloudEvent(
        id=event_id(order_id, type_name),
        source=spec.source,
        type=type_name,
        subject=order_id,
        time=time,
        data=data,
    )


def parse_envelope(body: bytes | str) -> CloudEvent:
    """Parse a received message body into a typed envelope.

    Raises InvalidMessage naming the problem: an empty body, a body that is not UTF-8 JSON or
    not an object, a missing or invalid envelope field, an unknown event type, or an invalid
    payload field (named by its path, e.g. `data.orderId`).
    """
    raw = _decode_json(body)

    try:
        envelope = _RawEnvelope.model_validate(raw)
    except ValidationError as exc:
        raise _invalid("envelope", exc) from None

    spec = EVENT_TYPES.get(envelope.type)
    if spec is None:
        raise InvalidMessage(
            f"unknown event type {envelope.type!r}; known types: {', '.join(EVENT_TYPES)}",
            field="type",
        )

    try:
        data = spec.data.model_validate(envelope.data)
    except ValidationError as exc:
        raise _invalid(f"{envelope.type} payload", exc, prefix="data") from None

    return CloudEvent(
        id=envelope.id,
        source=envelope.source,
        type=envelope.type,
        subject=envelope.subject,
        time=envelope.time,
        data=data,
    )


class _RawEnvelope(BaseModel):
    """The envelope fields, checked before the payload is typed."""

    model_config = ConfigDict(extra="ignore")

    specversion: Literal["1.0"]
    id: Annotated[str, Field(min_length=1, max_length=128)]
    source: Annotated[str, Field(min_length=1)]
    type: Annotated[str, Field(min_length=1)]
    subject: Annotated[str, Field(min_length=1)]
    time: Timestamp
    datacontenttype: Literal["application/json"] = DATA_CONTENT_TYPE
    data: dict[str, Any]


def _decode_json(body: bytes | str) -> Any:
    if not body:
        raise InvalidMessage("message body is empty; send a CloudEvents JSON envelope")

    try:
        text = body.decode("utf-8") if isinstance(body, bytes | bytearray) else body
        raw = json.loads(text)
    except UnicodeDecodeError as exc:
        raise InvalidMessage(
            f"message body is not UTF-8: {exc.reason} at byte {exc.start}"
        ) from None
    except json.JSONDecodeError as exc:
        raise InvalidMessage(f"message body is not JSON: {exc.msg} at position {exc.pos}") from None

    if not isinstance(raw, dict):
        raise InvalidMessage(
            f"message body is a JSON {type(raw).__name__}, not an object; "
            "send a CloudEvents JSON envelope"
        )
    return raw


def _invalid(what: str, exc: ValidationError, prefix: str | None = None) -> InvalidMessage:
    error = exc.errors(include_url=False)[0]
    location = (prefix, *error["loc"]) if prefix else error["loc"]
    field = field_path(location)

    if error["type"] == "missing":
        return InvalidMessage(f"{what} is missing field {field!r}", field=field)
    return InvalidMessage(f"{what} field {field!r} is invalid: {error['msg']}", field=field)
