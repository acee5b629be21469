"""Drive one order from placement to delivery: the order saga as a Durable orchestration.

The instance id is the order id. Business outcomes (a short line, a carrier's report) are
activity results or external events. An activity that still raises after its retries is a
fault, and the saga compensates the steps it has done. The carrier's dispatch is the saga's
pivot: before it every step has a compensation, after it the parcel is on its way and the
remaining steps can only move forward, so a fault there fails the instance for an operator.

The generator is replayed from the start on every episode, so it reads nothing but its
input and the Durable context: no clock, random numbers, I/O or environment.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Generator
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.durable_functions as df
from azure.durable_functions.models.Task import TaskState

from domain.orders import OrderStatus
from domain.saga import (
    Deadline,
    SagaEvent,
    SagaInput,
    SagaOutput,
    Step,
    custom_status,
    waiting_for_deadline,
    waiting_for_event,
)
from domain.shipments import shipment_request
from domain.stock import ShortLine, rejection_reason

logger = logging.getLogger(__name__)

bp = df.Blueprint()

# A saga step yields Durable tasks and returns the step's result.
Steps = Generator[Any, Any, Any]


class ActivityFailed(Exception):
    """An activity still raised after its last retry; the saga treats it as a fault."""

    def __init__(self, activity: str, error: Exception) -> None:
        self.activity = activity
        # The SDK's message is "<reason> \n <details>"; the first line names the error.
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else repr(error)
        super().__init__(f"activity {activity} failed after its retries: {first_line.strip()}")


@bp.orchestration_trigger(context_name="context")
def order_saga(context: df.DurableOrchestrationContext) -> Steps:
    """Run the saga of one order; the result is the order's final status and its reason."""
    saga = _Saga(context, SagaInput.model_validate(context.get_input()))

    try:
        return (yield from _place_and_fulfil(saga))
    except ActivityFailed as fault:
        saga.log_fault(fault)
        if not saga.can_compensate:
            # Past the pivot the order cannot be cancelled, and a failed undo cannot be undone.
            raise
        return (yield from saga.compensate(str(fault)))


def _place_and_fulfil(saga: _Saga) -> Steps:
    order_id = saga.order_id

    # Record the order first, so every later step and every query finds it.
    yield from saga.call(Step.RECORD_ORDER, "record_order", saga.record_order_input())
    saga.on_fault_undo("cancel_order")

    # Reserve all lines or none; a short line ends the saga before anything is promised.
    reservation = yield from saga.call(Step.RESERVE_STOCK, "reserve_stock", {"orderId": order_id})
    if not reservation["reserved"]:
        return (yield from _reject(saga, reservation["shortLines"]))
    saga.on_fault_undo("release_stock")

    # Ask the carrier to collect; from here a cancellation must tell the carrier too.
    yield from saga.call(Step.REQUEST_SHIPMENT, "request_shipment", saga.shipment_request_input())
    saga.on_fault_undo("cancel_shipment")

    # The carrier may dispatch, or report the delivery straight away; the customer may cancel.
    event, data = yield from saga.wait_for_first(
        Step.AWAIT_DISPATCH,
        [SagaEvent.SHIPMENT_DISPATCHED, SagaEvent.SHIPMENT_DELIVERED, SagaEvent.CANCEL_REQUESTED],
        Deadline.DISPATCH,
        saga.input.dispatch_deadline_seconds,
    )
    if event == SagaEvent.CANCEL_REQUESTED:
        return (yield from saga.compensate(_cancel_reason(data)))
    if event == Deadline.DISPATCH:
        return (yield from saga.compensate("the carrier did not dispatch before the deadline"))

    # The carrier has the parcel, so nothing can be undone: record the dispatch, commit the
    # stock and mark the order Shipped.
    saga.pass_pivot()
    yield from _ship(saga, data)

    # A delivery reported in place of the dispatch needs no second wait.
    if event != SagaEvent.SHIPMENT_DELIVERED:
        event, data = yield from saga.wait_for_first(
            Step.AWAIT_DELIVERY,
            [SagaEvent.SHIPMENT_DELIVERED, SagaEvent.SHIPMENT_DELIVERY_FAILED],
            Deadline.DELIVERY,
            saga.input.delivery_deadline_seconds,
        )

    if event == SagaEvent.SHIPMENT_DELIVERED:
        return (yield from _complete(saga, data))
    if event == SagaEvent.SHIPMENT_DELIVERY_FAILED:
        return (yield from _return(saga, _failure_reason(data)))
    return (yield from _return(saga, "the carrier did not deliver before the deadline"))


def _reject(saga: _Saga, short_lines: list[dict[str, Any]]) -> Steps:
    # Same wording as the Rejected order's status reason, which reject_order writes.
    store_id = saga.input.order.store_id
    reason = rejection_reason(store_id, [ShortLine.model_validate(line) for line in short_lines])
    rejection = {"orderId": saga.order_id, "shortLines": short_lines}
    yield from saga.call(Step.REJECT_ORDER, "reject_order", rejection)
    return saga.finish(OrderStatus.REJECTED, reason)


def _ship(saga: _Saga, carrier_event: dict[str, Any]) -> Steps:
    tracking = {
        "carrier": carrier_event.get("carrier"),
        "trackingNumber": carrier_event.get("trackingNumber"),
    }
    dispatch = {
        "orderId": saga.order_id,
        **tracking,
        "dispatchedAt": carrier_event.get("dispatchedAt"),
    }
    # The shipment and the stock are separate documents, so both are updated at once.
    yield from saga.call_together(
        Step.SHIP_ORDER,
        {"record_dispatch": dispatch, "commit_stock": {"orderId": saga.order_id}},
    )
    yield from saga.call(
        Step.SHIP_ORDER, "mark_order_shipped", {"orderId": saga.order_id, **tracking}
    )
    saga.order_status = OrderStatus.SHIPPED


def _complete(saga: _Saga, delivered: dict[str, Any]) -> Steps:
    delivery = {
        "orderId": saga.order_id,
        "deliveredAt": delivered.get("deliveredAt"),
        "carrier": delivered.get("carrier"),
        "trackingNumber": delivered.get("trackingNumber"),
    }
    yield from saga.call_together(
        Step.COMPLETE_ORDER,
        {"record_delivery": delivery, "complete_order": {"orderId": saga.order_id}},
    )
    return saga.finish(OrderStatus.COMPLETED, None)


def _return(saga: _Saga, reason: str) -> Steps:
    failure = {"orderId": saga.order_id, "reason": reason}
    # The order turns Returned only once the stock is back on hand.
    yield from saga.call_together(
        Step.RETURN_ORDER,
        {"record_delivery_failure": failure, "return_stock": {"orderId": saga.order_id}},
    )
    yield from saga.call(Step.RETURN_ORDER, "return_order", failure)
    return saga.finish(OrderStatus.RETURNED, reason)


def _cancel_reason(data: Any) -> str:
    reason = data.get("reason") if isinstance(data, dict) else None
    return f"cancelled by the customer: {reason}" if reason else "cancelled by the customer"


def _failure_reason(data: Any) -> str:
    reason = data.get("reason") if isinstance(data, dict) else None
    return f"delivery failed: {reason}" if reason else "delivery failed"


class _Saga:
    """One run of the saga: its context, input, order status and compensation stack."""

    def __init__(self, context: df.DurableOrchestrationContext, saga_input: SagaInput) -> None:
        self.context = context
        self.input = saga_input
        self.order_id = saga_input.order_id
        self.order_status = OrderStatus.PENDING
        self.retry = df.RetryOptions(
            first_retry_interval_in_milliseconds=saga_input.retry_first_interval_ms,
            max_number_of_attempts=saga_input.retry_max_attempts,
        )
        # Compensating activities for the steps done so far, oldest first.
        self.undo: list[str] = []
        self.past_pivot = False
        self.compensating = False
        self.events: dict[SagaEvent, Any] = {}

    def record_order_input(self) -> dict[str, Any]:
        return {"orderId": self.order_id, "order": self.input.order.to_document()}

    def shipment_request_input(self) -> dict[str, Any]:
        request = shipment_request(self.input.order, self.order_id)
        return request.to_document()

    def call(self, step: Step, activity: str, activity_input: dict[str, Any]) -> Steps:
        """Run one activity with the saga's retry options; a last failure is a fault."""
        self.context.set_custom_status(custom_status(step, self.order_status))

        try:
            return (
                yield self.context.call_activity_with_retry(activity, self.retry, activity_input)
            )
        except Exception as error:  # the SDK fails a task with a plain Exception
            raise ActivityFailed(activity, error) from error

    def call_together(self, step: Step, calls: dict[str, dict[str, Any]]) -> Steps:
        """Run independent activities in parallel; any last failure is a fault.

        Used only past the pivot, where a fault fails the instance, so an activity that
        succeeded beside a failed one needs no undo.
        """
        self.context.set_custom_status(custom_status(step, self.order_status))
        tasks = {
            activity: self.context.call_activity_with_retry(activity, self.retry, activity_input)
            for activity, activity_input in calls.items()
        }

        try:
            return (yield self.context.task_all(list(tasks.values())))
        except Exception as error:  # the SDK fails a task with a plain Exception
            failed = [name for name, task in tasks.items() if task.state is TaskState.FAILED]
            raise ActivityFailed(" and ".join(failed), error) from error

    def on_fault_undo(self, activity: str) -> None:
        """Push the activity that compensates the step just done."""
        self.undo.append(activity)

    @property
    def can_compensate(self) -> bool:
        """Whether a fault can still be handled by undoing the steps done."""
        return not (self.past_pivot or self.compensating)

    def pass_pivot(self) -> None:
        """Drop the compensations: the carrier has the parcel, so the saga only moves forward."""
        self.undo.clear()
        self.past_pivot = True

    def wait_for_first(
        self, step: Step, events: list[SagaEvent], deadline: Deadline, seconds: int
    ) -> Steps:
        """Wait for the first of `events` or the deadline; return its name and data.

        An event task stays open across waits, so a carrier event that arrived while the
        saga waited for something else is still seen by the next wait.
        """
        fire_at = self.context.current_utc_datetime + timedelta(seconds=seconds)
        waiting = [waiting_for_event(event) for event in events]
        waiting.append(waiting_for_deadline(deadline, _iso(fire_at)))
        self.context.set_custom_status(custom_status(step, self.order_status, waiting))

        timer = self.context.create_timer(fire_at)
        tasks = {event: self._event_task(event) for event in events}
        winner = yield self.context.task_any([*tasks.values(), timer])

        if winner is timer:
            self._log("deadline passed", deadline=deadline.value)
            return deadline, None

        timer.cancel()
        event = next(name for name, task in tasks.items() if task is winner)
        del self.events[event]
        self._log("external event received", eventType=event.value)
        return event, _event_data(winner.result)

    def compensate(self, reason: str) -> Steps:
        """Undo the steps done, newest first, then end with the order Cancelled.

        NOTE: a compensating activity that fails after its retries fails the orchestration,
        because no further undo is possible; an operator then restarts or rewinds the instance.
        """
        self.compensating = True
        self._log("compensating", reason=reason, undo=list(reversed(self.undo)))
        for activity in reversed(self.undo):
            activity_input = {"orderId": self.order_id, "reason": reason}
            yield from self.call(Step.COMPENSATE, activity, activity_input)
        self.undo.clear()
        return self.finish(OrderStatus.CANCELLED, reason)

    def finish(self, order_status: OrderStatus, reason: str | None) -> dict[str, Any]:
        self.order_status = order_status
        self.context.set_custom_status(custom_status(Step.FINISHED, order_status))
        self._log("saga finished", orderStatus=order_status.value, reason=reason)
        output = SagaOutput(order_id=self.order_id, status=order_status, reason=reason)
        return output.model_dump(mode="json", by_alias=True)

    def log_fault(self, fault: ActivityFailed) -> None:
        self._log("activity fault", activity=fault.activity, error=str(fault), level=logging.ERROR)

    def _event_task(self, event: SagaEvent) -> Any:
        if event not in self.events:
            self.events[event] = self.context.wait_for_external_event(event.value)
        return self.events[event]

    def _log(self, message: str, level: int = logging.INFO, **fields: Any) -> None:
        # Replays re-run this code; only the episode that reaches it first logs it.
        if self.context.is_replaying:
            return
        context = {"orderId": self.order_id, "instanceId": self.context.instance_id, **fields}
        logger.log(level, "%s %s", message, context, extra=context)


def _event_data(raw: Any) -> Any:
    """Decode an external event's data, which may arrive as a string of JSON text.

    NOTE: `DurableOrchestrationClient.raise_event` (azure-functions-durable 1.x) JSON-encodes
    the data before posting it as JSON, so the orchestrator receives a JSON string where the
    caller passed an object. Decoding it here accepts both forms.
    """
    if isinstance(raw, str):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
