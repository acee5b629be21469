"""The order saga, replayed by the real azure-functions-durable SDK one episode at a time."""

from __future__ import annotations

import logging
from datetime import timedelta

import azure.durable_functions as df
import pytest
from durable_replay import OrchestrationReplay

from orchestrators import order_saga

ORDER_ID = "0b7f2c1e-5d4a-4c3b-9a8e-1f2d3c4b5a69"
DISPATCH_DEADLINE = 60
DELIVERY_DEADLINE = 600
RETRY_INTERVAL_MS = 1000
MAX_ATTEMPTS = 3

ORDER = {
    "storeId": "1",
    "customerId": "259",
    "lines": [
        {"productId": "20", "quantity": 1, "unitPrice": 599.99, "discount": 0.2},
        {"productId": "8", "quantity": 2, "unitPrice": 1799.99, "discount": 0.07},
    ],
    "shipTo": {
        "name": "Johnathan Velazquez",
        "street": "9680 E. Somerset Street",
        "city": "Pleasanton",
        "state": "CA",
        "postalCode": "94566",
        "country": "US",
    },
    "clientOrderId": None,
}

RESERVED = {"reserved": True, "shortLines": []}
SHORT = {
    "reserved": False,
    "shortLines": [{"productId": "8", "requested": 2, "available": 1}],
}
DISPATCHED = {
    "shipmentId": f"shp-{ORDER_ID}",
    "orderId": ORDER_ID,
    "carrier": "Speedy",
    "trackingNumber": "SP-1001",
    "dispatchedAt": "2026-12-04T20:00:30Z",
}
DELIVERED = {
    "shipmentId": f"shp-{ORDER_ID}",
    "orderId": ORDER_ID,
    "deliveredAt": "2026-12-04T21:00:00Z",
    "carrier": "Speedy",
    "trackingNumber": "SP-1001",
}
DELIVERY_FAILED = {
    "shipmentId": f"shp-{ORDER_ID}",
    "orderId": ORDER_ID,
    "reason": "nobody home",
}

UP_TO_DISPATCH_WAIT = ["record_order", "reserve_stock", "request_shipment"]
SHIP = ["record_dispatch", "commit_stock", "mark_order_shipped"]


@pytest.fixture(scope="module")
def handle():
    app = df.DFApp()
    app.register_functions(order_saga.bp)
    functions = {function.get_function_name(): function for function in app.get_functions()}
    return functions["order_saga"].get_user_function()


@pytest.fixture
def saga(handle) -> OrchestrationReplay:
    replay = OrchestrationReplay(handle, ORDER_ID)
    replay.start(
        "order_saga",
        {
            "orderId": ORDER_ID,
            "order": ORDER,
            "dispatchDeadlineSeconds": DISPATCH_DEADLINE,
            "deliveryDeadlineSeconds": DELIVERY_DEADLINE,
            "retryFirstIntervalMs": RETRY_INTERVAL_MS,
            "retryMaxAttempts": MAX_ATTEMPTS,
        },
    )
    return replay


def awaiting_dispatch(saga: OrchestrationReplay) -> OrchestrationReplay:
    saga.complete_activities({"reserve_stock": RESERVED})
    return saga


def awaiting_delivery(saga: OrchestrationReplay) -> OrchestrationReplay:
    awaiting_dispatch(saga)
    saga.raise_event("ShipmentDispatched", DISPATCHED)
    saga.complete_activities()
    return saga


def output(status: str, reason: str | None) -> dict:
    return {"orderId": ORDER_ID, "status": status, "reason": reason}


# --- the happy path -----------------------------------------------------------------------


def test_delivered_order_runs_every_step_in_order(saga):
    awaiting_delivery(saga)
    saga.raise_event("ShipmentDelivered", DELIVERED)
    saga.complete_activities()

    assert saga.activity_names() == [
        *UP_TO_DISPATCH_WAIT,
        *SHIP,
        "record_delivery",
        "complete_order",
    ]
    assert saga.is_done
    assert saga.output == output("Completed", None)
    assert saga.custom_status == {"step": "Finished", "waitingFor": [], "orderStatus": "Completed"}


def test_record_order_receives_the_order_and_its_id(saga):
    saga.complete_activity()

    assert saga.activity_inputs("record_order") == [{"orderId": ORDER_ID, "order": ORDER}]


def test_later_activities_receive_the_order_id(saga):
    awaiting_delivery(saga)

    for name in ["reserve_stock", "commit_stock"]:
        assert saga.activity_inputs(name) == [{"orderId": ORDER_ID}], name


def test_shipment_request_carries_store_address_and_items(saga):
    awaiting_delivery(saga)

    [request] = saga.activity_inputs("request_shipment")

    assert request["orderId"] == ORDER_ID
    assert request["storeId"] == ORDER["storeId"]
    assert request["shipTo"] == ORDER["shipTo"]
    assert request["items"] == [
        {"productId": line["productId"], "quantity": line["quantity"]} for line in ORDER["lines"]
    ]


def test_shipped_order_carries_tracking(saga):
    awaiting_delivery(saga)

    assert saga.activity_inputs("mark_order_shipped") == [
        {"orderId": ORDER_ID, "carrier": "Speedy", "trackingNumber": "SP-1001"}
    ]


def test_dispatch_and_stock_commit_run_in_parallel(saga):
    awaiting_dispatch(saga)
    saga.raise_event("ShipmentDispatched", DISPATCHED)

    assert [call.name for call in saga.open_activities()] == ["record_dispatch", "commit_stock"]


def test_delivery_and_completion_run_in_parallel(saga):
    awaiting_delivery(saga)
    saga.raise_event("ShipmentDelivered", DELIVERED)

    assert [call.name for call in saga.open_activities()] == ["record_delivery", "complete_order"]


def test_order_is_returned_after_the_stock(saga):
    awaiting_delivery(saga)
    saga.raise_event("ShipmentDeliveryFailed", DELIVERY_FAILED)
    saga.complete_activities()

    assert saga.activity_names()[-1] == "return_order"


def test_dispatch_is_recorded_with_carrier_and_tracking_number(saga):
    awaiting_delivery(saga)

    assert saga.activity_inputs("record_dispatch") == [
        {
            "orderId": ORDER_ID,
            "carrier": "Speedy",
            "trackingNumber": "SP-1001",
            "dispatchedAt": "2026-12-04T20:00:30Z",
        }
    ]


def test_delivery_is_recorded_with_its_time(saga):
    awaiting_delivery(saga)
    saga.raise_event("ShipmentDelivered", DELIVERED)
    saga.complete_activities()

    assert saga.activity_inputs("record_delivery") == [
        {
            "orderId": ORDER_ID,
            "deliveredAt": "2026-12-04T21:00:00Z",
            "carrier": "Speedy",
            "trackingNumber": "SP-1001",
        }
    ]


def test_activities_use_input_retry_options(saga):
    awaiting_delivery(saga)
    saga.raise_event("ShipmentDelivered", DELIVERED)
    saga.complete_activities()

    expected = {"firstRetryIntervalInMilliseconds": RETRY_INTERVAL_MS, "maxNumberOfAttempts": 3}
    for call in saga.activities:
        assert call.retry_options == expected, call.name


# --- custom status at each wait -----------------------------------------------------------


def test_custom_status_awaiting_dispatch(saga):
    awaiting_dispatch(saga)

    timer = saga.timers[0]
    assert saga.custom_status == {
        "step": "AwaitDispatch",
        "waitingFor": [
            {"event": "ShipmentDispatched"},
            {"event": "ShipmentDelivered"},
            {"event": "CancelRequested"},
            {"deadline": "DispatchDeadline", "at": timer.fire_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")},
        ],
        "orderStatus": "Pending",
    }


def test_dispatch_deadline_follows_input_seconds(saga):
    awaiting_dispatch(saga)

    assert saga.timers[0].fire_at - saga.now == timedelta(seconds=DISPATCH_DEADLINE)


def test_custom_status_awaiting_delivery(saga):
    awaiting_delivery(saga)

    timer = saga.timers[1]
    assert saga.custom_status == {
        "step": "AwaitDelivery",
        "waitingFor": [
            {"event": "ShipmentDelivered"},
            {"event": "ShipmentDeliveryFailed"},
            {"deadline": "DeliveryDeadline", "at": timer.fire_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")},
        ],
        "orderStatus": "Shipped",
    }


def test_custom_status_names_running_step(saga):
    saga.complete_activity()

    assert saga.custom_status == {
        "step": "ReserveStock",
        "waitingFor": [],
        "orderStatus": "Pending",
    }


def test_dispatch_event_cancels_the_dispatch_deadline_timer(saga):
    awaiting_delivery(saga)

    assert saga.timers[0].cancelled


# --- rejection and cancellation -----------------------------------------------------------


def test_short_stock_rejects_the_order_and_ends_the_saga(saga):
    saga.complete_activities({"reserve_stock": SHORT})

    assert saga.activity_names() == ["record_order", "reserve_stock", "reject_order"]
    assert saga.activity_inputs("reject_order") == [
        {"orderId": ORDER_ID, "shortLines": SHORT["shortLines"]}
    ]
    assert saga.output == output("Rejected", "not enough stock: 8 (requested 2, available 1)")


def test_unstocked_product_rejection_names_the_store(saga):
    unstocked = {"productId": "8", "requested": 2, "available": 0, "stocked": False}
    saga.complete_activities({"reserve_stock": {"reserved": False, "shortLines": [unstocked]}})

    assert saga.output == output(
        "Rejected", "store '1' has never stocked 8; check the store id and the product ids"
    )


def test_customer_cancel_before_dispatch_compensates_in_reverse_order(saga):
    awaiting_dispatch(saga)
    saga.raise_event("CancelRequested", {"reason": "found it cheaper"})
    saga.complete_activities()

    assert saga.activity_names() == [
        *UP_TO_DISPATCH_WAIT,
        "cancel_shipment",
        "release_stock",
        "cancel_order",
    ]
    assert saga.output == output("Cancelled", "cancelled by the customer: found it cheaper")


def test_compensations_receive_the_cancellation_reason(saga):
    awaiting_dispatch(saga)
    saga.raise_event("CancelRequested", {"reason": "found it cheaper"})
    saga.complete_activities()

    reason = "cancelled by the customer: found it cheaper"
    for name in ["cancel_shipment", "release_stock", "cancel_order"]:
        assert saga.activity_inputs(name) == [{"orderId": ORDER_ID, "reason": reason}], name


def test_cancel_without_a_reason_still_cancels(saga):
    awaiting_dispatch(saga)
    saga.raise_event("CancelRequested", {"reason": None})
    saga.complete_activities()

    assert saga.output == output("Cancelled", "cancelled by the customer")


def test_dispatch_deadline_cancels_the_order_and_releases_stock(saga):
    awaiting_dispatch(saga)
    saga.fire_timer()
    saga.complete_activities()

    assert saga.activity_names() == [
        *UP_TO_DISPATCH_WAIT,
        "cancel_shipment",
        "release_stock",
        "cancel_order",
    ]
    assert saga.output == output("Cancelled", "the carrier did not dispatch before the deadline")


def test_cancel_after_dispatch_is_ignored(saga):
    awaiting_delivery(saga)
    scheduled = saga.activity_names()

    saga.raise_event("CancelRequested", {"reason": "too late"})

    assert saga.activity_names() == scheduled
    assert not saga.is_done


# --- delivery outcomes --------------------------------------------------------------------


def test_delivery_without_dispatch_ships_then_completes(saga):
    awaiting_dispatch(saga)
    saga.raise_event("ShipmentDelivered", DELIVERED)
    saga.complete_activities()

    assert saga.activity_names() == [
        *UP_TO_DISPATCH_WAIT,
        *SHIP,
        "record_delivery",
        "complete_order",
    ]
    assert saga.output == output("Completed", None)


def test_delivery_without_dispatch_takes_tracking_from_the_delivery(saga):
    awaiting_dispatch(saga)
    saga.raise_event("ShipmentDelivered", DELIVERED)
    saga.complete_activities()

    assert saga.activity_inputs("record_dispatch") == [
        {
            "orderId": ORDER_ID,
            "carrier": "Speedy",
            "trackingNumber": "SP-1001",
            "dispatchedAt": None,
        }
    ]


def test_delivery_without_dispatch_starts_no_delivery_deadline(saga):
    awaiting_dispatch(saga)
    saga.raise_event("ShipmentDelivered", DELIVERED)
    saga.complete_activities()

    assert len(saga.timers) == 1


def test_failed_delivery_returns_the_stock_and_the_order(saga):
    awaiting_delivery(saga)
    saga.raise_event("ShipmentDeliveryFailed", DELIVERY_FAILED)
    saga.complete_activities()

    assert saga.activity_names() == [
        *UP_TO_DISPATCH_WAIT,
        *SHIP,
        "record_delivery_failure",
        "return_stock",
        "return_order",
    ]
    assert saga.output == output("Returned", "delivery failed: nobody home")


def test_failed_delivery_passes_the_reason_to_the_return_steps(saga):
    awaiting_delivery(saga)
    saga.raise_event("ShipmentDeliveryFailed", DELIVERY_FAILED)
    saga.complete_activities()

    failure = {"orderId": ORDER_ID, "reason": "delivery failed: nobody home"}
    assert saga.activity_inputs("record_delivery_failure") == [failure]
    assert saga.activity_inputs("return_order") == [failure]


def test_delivery_deadline_returns_the_order(saga):
    awaiting_delivery(saga)
    saga.fire_timer()
    saga.complete_activities()

    assert saga.activity_names()[-3:] == ["record_delivery_failure", "return_stock", "return_order"]
    assert saga.output == output("Returned", "the carrier did not deliver before the deadline")


# --- duplicates and early events ----------------------------------------------------------


def test_duplicate_dispatch_event_schedules_nothing(saga):
    awaiting_delivery(saga)
    scheduled = saga.activity_names()

    with pytest.warns(UserWarning, match="ShipmentDispatched"):
        saga.raise_event("ShipmentDispatched", DISPATCHED)

    assert saga.activity_names() == scheduled
    assert saga.custom_status["step"] == "AwaitDelivery"


def test_duplicate_delivery_event_is_consumed_once(saga):
    awaiting_delivery(saga)
    saga.raise_event("ShipmentDelivered", DELIVERED)
    saga.raise_event("ShipmentDelivered", DELIVERED)
    saga.complete_activities()

    assert saga.activity_names().count("record_delivery") == 1
    assert saga.output == output("Completed", None)


def test_dispatch_reported_before_the_wait_is_still_seen(saga):
    saga.complete_activity()
    saga.complete_activity(RESERVED)
    saga.raise_event("ShipmentDispatched", DISPATCHED)
    saga.complete_activities()

    assert saga.activity_names() == [*UP_TO_DISPATCH_WAIT, *SHIP]
    assert saga.custom_status["step"] == "AwaitDelivery"


# --- faults -------------------------------------------------------------------------------


def test_activity_retried_after_a_failure_lets_the_saga_continue(saga):
    saga.complete_activity()
    saga.fail_activity("store busy", failures=1, max_attempts=MAX_ATTEMPTS)
    saga.complete_activities({"reserve_stock": RESERVED})

    assert saga.activity_names() == UP_TO_DISPATCH_WAIT
    assert saga.custom_status["step"] == "AwaitDispatch"


def test_fault_after_retries_compensates_done_steps_in_reverse_order(saga):
    saga.complete_activity()
    saga.complete_activity(RESERVED)
    saga.fail_activity(
        "carrier queue unavailable", failures=MAX_ATTEMPTS, max_attempts=MAX_ATTEMPTS
    )
    saga.complete_activities()

    assert saga.activity_names() == [*UP_TO_DISPATCH_WAIT, "release_stock", "cancel_order"]
    assert saga.output == output(
        "Cancelled", "activity request_shipment failed after its retries: carrier queue unavailable"
    )


def test_fault_in_the_first_step_cancels_with_nothing_to_undo(saga):
    saga.fail_activity("orders store down", failures=MAX_ATTEMPTS, max_attempts=MAX_ATTEMPTS)

    assert saga.activity_names() == ["record_order"]
    assert saga.output["status"] == "Cancelled"


def test_fault_after_dispatch_fails_the_instance_without_undoing(saga):
    awaiting_dispatch(saga)
    saga.raise_event("ShipmentDispatched", DISPATCHED)
    saga.complete_activity(name="record_dispatch")
    saga.fail_activity(
        "stock store down", failures=MAX_ATTEMPTS, max_attempts=MAX_ATTEMPTS, name="commit_stock"
    )

    assert saga.activity_names() == [*UP_TO_DISPATCH_WAIT, "record_dispatch", "commit_stock"]
    assert saga.failed
    assert "commit_stock failed after its retries" in saga.error


def test_fault_in_a_compensation_fails_the_instance(saga):
    awaiting_dispatch(saga)
    saga.raise_event("CancelRequested", {"reason": "changed my mind"})
    saga.fail_activity(
        "carrier queue unavailable", failures=MAX_ATTEMPTS, max_attempts=MAX_ATTEMPTS
    )

    assert saga.activity_names() == [*UP_TO_DISPATCH_WAIT, "cancel_shipment"]
    assert saga.failed
    assert "cancel_shipment failed after its retries" in saga.error


# --- logging ------------------------------------------------------------------------------


def test_outcome_is_logged_once_across_replays(saga, caplog):
    caplog.set_level(logging.INFO, logger="orchestrators.order_saga")
    awaiting_delivery(saga)
    saga.raise_event("ShipmentDelivered", DELIVERED)
    saga.complete_activities()

    finished = [
        record for record in caplog.records if record.getMessage().startswith("saga finished")
    ]
    assert len(finished) == 1
    assert finished[0].orderId == ORDER_ID
