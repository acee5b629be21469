"""Turn Service Bus messages into saga events: carrier events and supplier stock receipts.

The Python Service Bus binding completes a message when the function returns and abandons
it when the function raises, so Service Bus redelivers it and dead-letters it after the
queue's max delivery count. A message that cannot be used therefore raises an error naming
the problem and the message id; nothing is dropped without a log line.

NOTE: the plain Python binding (azure-functions 1.26) cannot dead-letter a message at once
or set the dead-letter reason. An unusable message is therefore tried max-delivery-count
times and dead-lettered with Service Bus's own reason (MaxDeliveryCountExceeded), and the
error log names the actual problem.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import azure.durable_functions as df
import azure.functions as func
from opentelemetry import trace

from domain.errors import InvalidMessage
from domain.messages import CARRIER_EVENT_TYPES, CARRIER_EVENTS, SUPPLIER_EVENTS, CloudEvent
from domain.messages import parse_envelope as parse_cloud_event
from domain.ports import Ports

logger = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

SERVICEBUS_CONNECTION = "SERVICEBUS"

# Applies a StockReceived envelope to the stock documents, once per event id.
ReceiveStock = Callable[[Ports, CloudEvent], object]


class UnusableMessage(Exception):
    """A message the trigger cannot apply; raising it makes Service Bus redeliver it."""

    def __init__(self, message_id: str | None, problem: str) -> None:
        self.message_id = message_id
        super().__init__(f"message {message_id}: {problem}")


def blueprint(ports: Ports, receive_stock: ReceiveStock | None = None) -> df.Blueprint:
    """Register the carrier-events trigger and, given `receive_stock`, the supplier-events one."""
    bp = df.Blueprint()

    @bp.service_bus_queue_trigger(
        arg_name="message", queue_name=CARRIER_EVENTS, connection=SERVICEBUS_CONNECTION
    )
    @bp.durable_client_input(client_name="client")
    async def on_carrier_event(
        message: func.ServiceBusMessage, client: df.DurableOrchestrationClient
    ) -> None:
        await raise_carrier_event(message, client)

    if receive_stock is not None:

        @bp.service_bus_queue_trigger(
            arg_name="message", queue_name=SUPPLIER_EVENTS, connection=SERVICEBUS_CONNECTION
        )
        def on_supplier_event(message: func.ServiceBusMessage) -> None:
            apply_stock_received(message, ports, receive_stock)

    return bp


async def raise_carrier_event(
    message: func.ServiceBusMessage, client: df.DurableOrchestrationClient
) -> None:
    """Raise the carrier event into the saga of its order (the envelope's subject).

    An event for a saga that has ended is a harmless duplicate: it is logged and completed.
    An invalid envelope, a type that is not a carrier event, or an unknown order raises.
    """
    event = _parse(message, CARRIER_EVENT_TYPES)
    order_id = event.subject
    context = {**_log_context(message, event), "orderId": order_id, "instanceId": order_id}

    attributes = {
        "aj.order_id": order_id,
        "durable.instance_id": order_id,
        "cloudevents.event_type": event.type,
        "messaging.message.id": message.message_id or "",
    }
    try:
        with tracer.start_as_current_span(f"raise_event {event.type}", attributes=attributes):
            await client.raise_event(order_id, event.type, event.data.to_document())
    except Exception as error:  # the SDK raises a plain Exception for 404 and 410
        status = await client.get_status(order_id)
        if not status:
            raise _unusable(
                message, f"no saga for order {order_id!r}; check the subject"
            ) from error
        if status.runtime_status in (None, *_RUNNING):
            raise
        logger.info(
            "carrier event for a finished saga completed without effect %s",
            context,
            extra={**context, "runtimeStatus": status.runtime_status.name},
        )
        return

    logger.info("carrier event raised %s", context, extra=context)


_RUNNING = (
    df.OrchestrationRuntimeStatus.Running,
    df.OrchestrationRuntimeStatus.Pending,
    df.OrchestrationRuntimeStatus.Suspended,
    df.OrchestrationRuntimeStatus.ContinuedAsNew,
)


def apply_stock_received(
    message: func.ServiceBusMessage, ports: Ports, receive_stock: ReceiveStock
) -> None:
    """Add a supplier's delivery to the store's stock; a repeated event id changes nothing."""
    event = _parse(message, frozenset({"StockReceived"}))
    receive_stock(ports, event)

    context = {**_log_context(message, event), "storeId": event.subject}
    logger.info("stock received %s", context, extra=context)


def _parse(message: func.ServiceBusMessage, accepted_types: frozenset[str]) -> CloudEvent:
    try:
        event = parse_cloud_event(message.get_body())
    except InvalidMessage as invalid:
        raise _unusable(message, f"invalid envelope: {invalid}") from None

    if event.type not in accepted_types:
        problem = f"event type {event.type!r} does not belong on this queue; expected one of " + (
            ", ".join(sorted(accepted_types))
        )
        raise _unusable(message, problem)
    return event


def _unusable(message: func.ServiceBusMessage, problem: str) -> UnusableMessage:
    error = UnusableMessage(message.message_id, problem)
    logger.error(
        "%s; Service Bus redelivers it and dead-letters it after the max delivery count",
        error,
        extra={"messageId": message.message_id, "deliveryCount": message.delivery_count},
    )
    return error


def _log_context(message: func.ServiceBusMessage, event: CloudEvent) -> dict[str, object]:
    return {
        "messageId": message.message_id,
        "eventType": event.type,
    }
