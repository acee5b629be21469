"""The order saga replayed against the app's real activities on SQLite stores.

These tests check the contract between the orchestrator and the activities: every input the
saga sends is one the activity accepts, and the documents and events end where the
architecture says they do.
"""

from __future__ import annotations

import json

import azure.durable_functions as df
import pytest
from durable_replay import OrchestrationReplay

from activities import orders, shipments
from adapters.sqlite_store import SqliteDatabase
from domain.messages import CloudEvent
from domain.ports import Ports
from domain.stock import StockItem
from orchestrators import order_saga

ORDER_ID = "3c2b1a09-8f7e-4d6c-9b5a-493827160514"
STORE_ID = "1"
ORDER = {
    "storeId": STORE_ID,
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
    },
}
ON_HAND = {"20": 5, "8": 2}


class RecordingPublisher:
    def __init__(self) -> None:
        self.events: list[CloudEvent] = []

    def publish(self, event: CloudEvent) -> None:
        self.events.append(event)


@pytest.fixture
def ports(tmp_path):
    orders_db = SqliteDatabase(tmp_path / "orders.sqlite3")
    shipments_db = SqliteDatabase(tmp_path / "shipments.sqlite3")
    ports = Ports(
        orders=orders_db.container("orders", "/id"),
        stock=orders_db.container("stock", "/storeId"),
        shipments=shipments_db.container("shipments", "/orderId"),
        publisher=RecordingPublisher(),
    )
    for product_id, quantity in ON_HAND.items():
        item = StockItem(id=product_id, store_id=STORE_ID, product_id=product_id, on_hand=quantity)
        ports.stock.create(item.to_document(), STORE_ID)
    yield ports
    orders_db.close()
    shipments_db.close()


@pytest.fixture
def app_functions(ports):
    """Index the saga and the activities as the worker does; return them by name."""
    app = df.DFApp()
    app.register_functions(order_saga.bp)
    app.register_functions(orders.blueprint(ports))
    app.register_functions(shipments.blueprint(ports))
    return {function.get_function_name(): function for function in app.get_functions()}


@pytest.fixture
def activities(app_functions):
    """Wrap each activity so it is called with its input binding, as the worker calls it."""

    def bind(function):
        trigger = json.loads(function.get_function_json())["bindings"][0]
        user_function = function.get_user_function()
        return lambda activity_input: user_function(**{trigger["name"]: activity_input})

    return {
        name: bind(function) for name, function in app_functions.items() if name != "order_saga"
    }


@pytest.fixture
def saga(app_functions, activities):
    replay = OrchestrationReplay(app_functions["order_saga"].get_user_function(), ORDER_ID)
    replay.start(
        "order_saga",
        {
            "orderId": ORDER_ID,
            "order": ORDER,
            "dispatchDeadlineSeconds": 60,
            "deliveryDeadlineSeconds": 600,
            "retryFirstIntervalMs": 1000,
            "retryMaxAttempts": 3,
        },
    )
    replay.run_activities(activities)
    return replay


def order_status(ports) -> str:
    return ports.orders.read(ORDER_ID, ORDER_ID).body["status"]


def shipment_status(ports) -> str:
    return ports.shipments.read(f"shp-{ORDER_ID}", ORDER_ID).body["status"]


def stock(ports, product_id: str) -> StockItem:
    return StockItem.model_validate(ports.stock.read(product_id, STORE_ID).body)


def published(ports) -> list[str]:
    return [event.type for event in ports.publisher.events]


def test_delivered_saga_completes_order_shipment_and_stock(saga, ports, activities):
    saga.raise_event(
        "ShipmentDispatched",
        {
            "shipmentId": f"shp-{ORDER_ID}",
            "orderId": ORDER_ID,
            "carrier": "Speedy",
            "trackingNumber": "SP-1",
            "dispatchedAt": "2026-12-04T20:01:00Z",
        },
    )
    saga.run_activities(activities)
    saga.raise_event(
        "ShipmentDelivered",
        {
            "shipmentId": f"shp-{ORDER_ID}",
            "orderId": ORDER_ID,
            "deliveredAt": "2026-12-04T22:00:00Z",
        },
    )
    saga.run_activities(activities)

    assert saga.output == {"orderId": ORDER_ID, "status": "Completed", "reason": None}
    assert order_status(ports) == "Completed"
    assert shipment_status(ports) == "Delivered"
    assert (stock(ports, "8").on_hand, stock(ports, "8").shipped) == (0, {ORDER_ID: 2})
    assert published(ports) == [
        "OrderPlaced",
        "ShipmentRequested",
        "OrderShipped",
        "OrderCompleted",
    ]


def test_customer_cancel_releases_stock_and_tells_the_carrier(saga, ports, activities):
    saga.raise_event("CancelRequested", {"reason": "ordered twice"})
    saga.run_activities(activities)

    assert saga.output["status"] == "Cancelled"
    assert order_status(ports) == "Cancelled"
    assert shipment_status(ports) == "Cancelled"
    assert stock(ports, "8").on_hand == ON_HAND["8"]
    assert stock(ports, "8").reservations == {}
    assert published(ports)[-2:] == ["ShipmentCancellationRequested", "OrderCancelled"]


def test_delivery_without_dispatch_completes_the_order(saga, ports, activities):
    saga.raise_event(
        "ShipmentDelivered",
        {
            "shipmentId": f"shp-{ORDER_ID}",
            "orderId": ORDER_ID,
            "deliveredAt": "2026-12-04T22:00:00Z",
            "carrier": "Speedy",
            "trackingNumber": "SP-1",
        },
    )
    saga.run_activities(activities)

    assert saga.output["status"] == "Completed"
    assert shipment_status(ports) == "Delivered"


def test_delivery_failure_returns_order_and_stock(saga, ports, activities):
    dispatched = {
        "shipmentId": f"shp-{ORDER_ID}",
        "orderId": ORDER_ID,
        "carrier": "Speedy",
        "trackingNumber": "SP-1",
        "dispatchedAt": "2026-12-04T20:01:00Z",
    }
    saga.raise_event("ShipmentDispatched", dispatched)
    saga.run_activities(activities)
    saga.raise_event(
        "ShipmentDeliveryFailed",
        {"shipmentId": f"shp-{ORDER_ID}", "orderId": ORDER_ID, "reason": "nobody home"},
    )
    saga.run_activities(activities)

    assert saga.output["status"] == "Returned"
    assert order_status(ports) == "Returned"
    assert shipment_status(ports) == "DeliveryFailed"
    assert (stock(ports, "8").on_hand, stock(ports, "8").shipped) == (ON_HAND["8"], {})
    assert published(ports)[-1] == "OrderReturned"


def test_short_stock_rejects_the_order(app_functions, activities, ports):
    replay = OrchestrationReplay(app_functions["order_saga"].get_user_function(), ORDER_ID)
    too_many = {**ORDER, "lines": [{"productId": "8", "quantity": 3, "unitPrice": 1799.99}]}
    replay.start(
        "order_saga",
        {
            "orderId": ORDER_ID,
            "order": too_many,
            "dispatchDeadlineSeconds": 60,
            "deliveryDeadlineSeconds": 600,
            "retryFirstIntervalMs": 1000,
            "retryMaxAttempts": 3,
        },
    )
    replay.run_activities(activities)

    assert replay.output["status"] == "Rejected"
    assert order_status(ports) == "Rejected"
    assert stock(ports, "8").on_hand == ON_HAND["8"]
    assert published(ports) == ["OrderPlaced", "OrderRejected"]
