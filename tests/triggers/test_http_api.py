"""The HTTP API, called with real HttpRequests against SQLite ports and a loopback Durable API."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import azure.functions as func
import pytest

from domain.orders import OrderStatus, PlaceOrder, change_status, new_order
from domain.saga import SagaOptions
from domain.shipments import Shipment, ShipmentChange, ShipmentItem, ShipmentStatus
from domain.stock import StockItem
from triggers import http_api

API = "http://127.0.0.1:7071/api"
OPTIONS = SagaOptions(
    dispatch_deadline_seconds=30,
    delivery_deadline_seconds=300,
    retry_first_interval_ms=500,
    retry_max_attempts=4,
)
ORDER = {
    "storeId": "2",
    "customerId": "1212",
    "lines": [{"productId": "44", "quantity": 1, "unitPrice": 539.99, "discount": 0.1}],
    "shipTo": {
        "name": "Debra Burks",
        "street": "9273 Thorne Ave.",
        "city": "Orchard Park",
        "state": "NY",
        "postalCode": "14127",
    },
}
ORDER_ID = "5b1d7c8e-2f3a-4b5c-8d9e-0a1b2c3d4e5f"
AT = datetime(2026, 12, 4, 20, 0, tzinfo=UTC)


def http_request(
    method: str,
    url: str,
    route_params: dict[str, str] | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> func.HttpRequest:
    """Build the HttpRequest the worker passes; `body` is JSON-encoded unless it is bytes."""
    if body is None:
        raw = b""
    elif isinstance(body, bytes):
        raw = body
    else:
        raw = json.dumps(body).encode()

    all_headers = {"content-type": "application/json"} if raw else {}
    all_headers.update(headers or {})
    return func.HttpRequest(
        method=method,
        url=url,
        headers=all_headers,
        params={},
        route_params=route_params or {},
        body=raw,
    )


@pytest.fixture
def api(index, ports, durable):
    """Call an HTTP function by name, passing the durable client binding when it takes one."""
    functions = index(http_api.blueprint(ports, OPTIONS))

    async def call(name: str, request: func.HttpRequest) -> func.HttpResponse:
        function = functions[name]
        if "client" in function.__annotations__:
            return await function(req=request, client=durable.client_binding())
        return function(req=request)

    return call


def body_of(response: func.HttpResponse) -> Any:
    return json.loads(response.get_body())


def saga_input(order: dict | None = None) -> dict:
    return {"orderId": ORDER_ID, "order": PlaceOrder.model_validate(order or ORDER).to_document()}


def store_order(ports, order_id: str = ORDER_ID) -> None:
    order = new_order(PlaceOrder.model_validate(ORDER), order_id, AT)
    ports.orders.create(order.to_document(), order_id)


def store_shipment(ports, order_id: str = ORDER_ID) -> None:
    shipment = Shipment(
        id=f"shp-{order_id}",
        order_id=order_id,
        store_id="2",
        ship_to=ORDER["shipTo"],
        items=[ShipmentItem(product_id="44", quantity=1)],
        carrier="Speedy",
        tracking_number="SP-77",
        status=ShipmentStatus.DISPATCHED,
        history=[
            ShipmentChange(status=ShipmentStatus.REQUESTED, at=AT),
            ShipmentChange(status=ShipmentStatus.DISPATCHED, at=AT),
        ],
    )
    ports.shipments.create(shipment.to_document(), order_id)


def place(body: Any = ORDER, headers: dict | None = None, url: str = f"{API}/orders"):
    return http_request("POST", url, body=body, headers=headers)


def cancel(body: Any = None, order_id: str = ORDER_ID) -> func.HttpRequest:
    url = f"{API}/orders/{order_id}/cancel"
    return http_request("POST", url, {"orderId": order_id}, body=body)


# --- the function index -------------------------------------------------------------------


def http_triggers(ports, app: func.FunctionApp) -> list[dict]:
    """Index the API's blueprint in `app` and return each function's trigger binding JSON."""
    app.register_functions(http_api.blueprint(ports, OPTIONS))
    bindings = [
        json.loads(function.get_function_json())["bindings"] for function in app.get_functions()
    ]
    return [binding for group in bindings for binding in group if binding["type"] == "httpTrigger"]


def test_routes_match_the_documented_api(ports):
    triggers = http_triggers(ports, func.FunctionApp())

    routes = {(trigger["route"], tuple(trigger["methods"])) for trigger in triggers}

    assert routes == {
        ("orders", ("POST",)),
        ("orders/{orderId}", ("GET",)),
        ("orders/{orderId}/status", ("GET",)),
        ("orders/{orderId}/cancel", ("POST",)),
        ("orders/{orderId}/shipment", ("GET",)),
        ("shipments/{shipmentId}", ("GET",)),
        ("stores/{storeId}/stock/{productId}", ("GET",)),
    }


def test_routes_require_the_function_key(ports):
    triggers = http_triggers(ports, func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS))

    for trigger in triggers:
        assert trigger["authLevel"] == "FUNCTION", trigger["route"]


# --- POST orders --------------------------------------------------------------------------


async def test_place_order_starts_the_saga(api, durable):
    response = await api("http_place_order", place())

    order_id = body_of(response)["orderId"]
    assert response.status_code == 202
    assert [(start.name, start.instance_id) for start in durable.started] == [
        ("order_saga", order_id)
    ]


async def test_saga_input_carries_order_and_options(api, durable):
    response = await api("http_place_order", place())

    assert durable.started[0].input == {
        "orderId": body_of(response)["orderId"],
        "order": PlaceOrder.model_validate(ORDER).to_document(),
        "dispatchDeadlineSeconds": 30,
        "deliveryDeadlineSeconds": 300,
        "retryFirstIntervalMs": 500,
        "retryMaxAttempts": 4,
    }


async def test_accepted_order_links_follow_the_request_url(api):
    response = await api("http_place_order", place())

    order_id = body_of(response)["orderId"]
    order_url = f"{API}/orders/{order_id}"
    assert response.headers["Location"] == order_url
    assert body_of(response)["links"] == {
        "order": order_url,
        "status": f"{order_url}/status",
        "cancel": f"{order_url}/cancel",
        "shipment": f"{order_url}/shipment",
    }


async def test_accepted_order_tells_when_to_poll(api):
    response = await api("http_place_order", place())

    assert response.headers["Retry-After"] == "1"


async def test_links_keep_the_gateway_scheme_host_and_prefix(api):
    request = place(url="https://shop.example:8443/bikes/orders?code=secret")

    response = await api("http_place_order", request)

    order_id = body_of(response)["orderId"]
    assert response.headers["Location"] == f"https://shop.example:8443/bikes/orders/{order_id}"


async def test_orders_without_a_key_get_new_ids(api, durable):
    first = await api("http_place_order", place())
    second = await api("http_place_order", place())

    assert body_of(first)["orderId"] != body_of(second)["orderId"]
    assert len(durable.started) == 2


async def test_repeat_with_idempotency_key_returns_the_same_order(api, durable):
    key = {"Idempotency-Key": "4f9c1f3e-0d1b-4c55-9a57-6f0e8f0b2d11"}
    first = await api("http_place_order", place(headers=key))
    durable.instances[body_of(first)["orderId"]].runtime_status = "Running"

    second = await api("http_place_order", place(headers=key))

    assert second.status_code == 202
    assert body_of(second) == body_of(first)
    assert len(durable.started) == 1


async def test_idempotency_key_maps_to_a_uuid5_order_id(api):
    key = "4f9c1f3e-0d1b-4c55-9a57-6f0e8f0b2d11"

    response = await api("http_place_order", place(headers={"Idempotency-Key": key}))

    expected = uuid.uuid5(http_api.ORDER_ID_NAMESPACE, f"idempotency-key:{key}")
    assert body_of(response)["orderId"] == str(expected)


async def test_reused_idempotency_key_with_other_body_gives_422(api, durable):
    key = {"Idempotency-Key": "key-1"}
    await api("http_place_order", place(headers=key))
    other = {**ORDER, "lines": [{"productId": "44", "quantity": 3, "unitPrice": 539.99}]}

    response = await api("http_place_order", place(other, headers=key))

    assert response.status_code == 422
    assert body_of(response)["type"] == http_api.problems.IDEMPOTENCY_KEY_REUSED
    assert len(durable.started) == 1


async def test_repeat_with_client_order_id_returns_the_same_order(api, durable):
    order = {**ORDER, "clientOrderId": "po-2026-0042"}
    first = await api("http_place_order", place(order))
    second = await api("http_place_order", place(order))

    assert body_of(second)["orderId"] == body_of(first)["orderId"]
    assert len(durable.started) == 1


async def test_client_order_ids_of_two_customers_do_not_collide(api):
    first = await api("http_place_order", place({**ORDER, "clientOrderId": "po-1"}))
    other_customer = {**ORDER, "customerId": "77", "clientOrderId": "po-1"}
    second = await api("http_place_order", place(other_customer))

    assert body_of(second)["orderId"] != body_of(first)["orderId"]


async def test_blank_idempotency_key_gives_400(api, durable):
    response = await api("http_place_order", place(headers={"Idempotency-Key": "  "}))

    assert response.status_code == 400
    assert durable.started == []


async def test_invalid_fields_give_400_with_field_errors(api, durable):
    order = {**ORDER, "lines": [{"productId": "44", "quantity": 0, "unitPrice": 1}]}
    del order["shipTo"]

    response = await api("http_place_order", place(order))

    problem = body_of(response)
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert problem["type"] == http_api.problems.INVALID_REQUEST
    assert problem["status"] == 400
    assert problem["instance"] == f"{API}/orders"
    assert {(error["field"], error["pointer"]) for error in problem["errors"]} == {
        ("lines[0].quantity", "#/lines/0/quantity"),
        ("shipTo", "#/shipTo"),
    }
    assert durable.started == []


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b"null",
        b"[]",
        b'"an order"',
        b"42",
        b"\xff\xfe\x00",
        b'{"lines": "many"}',
        b'{"storeId": {"$gt": ""}}',
        b"[" * 5000,
    ],
    ids=[
        "empty",
        "truncated",
        "null",
        "array",
        "string",
        "number",
        "not-utf8",
        "wrong-types",
        "object-for-id",
        "deep-nesting",
    ],
)
async def test_malformed_order_body_gives_400_problem(api, durable, raw):
    response = await api("http_place_order", place(raw))

    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert body_of(response)["detail"]
    assert durable.started == []


async def test_non_json_content_type_gives_415(api, durable):
    request = place(b"storeId=2", headers={"content-type": "application/x-www-form-urlencoded"})

    response = await api("http_place_order", request)

    assert response.status_code == 415
    assert response.mimetype == "application/problem+json"
    assert durable.started == []


async def test_json_media_type_with_charset_is_accepted(api):
    request = place(headers={"content-type": "application/json; charset=utf-8"})

    response = await api("http_place_order", request)

    assert response.status_code == 202


# --- GET orders/{orderId} and its status --------------------------------------------------


def get(path: str, **route_params: str) -> func.HttpRequest:
    return http_request("GET", f"{API}/{path}", route_params)


async def test_order_shows_the_document_and_the_saga_step(api, ports, durable):
    store_order(ports)
    waiting = [{"event": "ShipmentDispatched"}]
    custom = {"step": "AwaitDispatch", "waitingFor": waiting, "orderStatus": "Pending"}
    durable.add_instance(ORDER_ID, saga_input(), custom_status=custom)

    response = await api("http_get_order", get(f"orders/{ORDER_ID}", orderId=ORDER_ID))

    order = body_of(response)
    assert response.status_code == 200
    assert order["id"] == ORDER_ID
    assert order["status"] == "Pending"
    assert order["total"] == 485.99
    assert order["saga"] == {
        "runtimeStatus": "Running",
        "step": "AwaitDispatch",
        "waitingFor": waiting,
    }
    assert order["links"]["status"] == f"{API}/orders/{ORDER_ID}/status"


async def test_order_hides_store_metadata(api, ports, durable):
    store_order(ports)
    durable.add_instance(ORDER_ID, saga_input())

    response = await api("http_get_order", get(f"orders/{ORDER_ID}", orderId=ORDER_ID))

    assert [key for key in body_of(response) if key.startswith("_")] == []


async def test_order_not_yet_recorded_shows_the_request(api, durable):
    durable.add_instance(ORDER_ID, saga_input(), runtime_status="Pending")

    response = await api("http_get_order", get(f"orders/{ORDER_ID}", orderId=ORDER_ID))

    order = body_of(response)
    assert response.status_code == 200
    assert order["status"] is None
    assert order["lines"] == saga_input()["order"]["lines"]
    assert order["saga"]["runtimeStatus"] == "Pending"


async def test_unknown_order_gives_404_problem(api):
    response = await api("http_get_order", get("orders/nope", orderId="nope"))

    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert body_of(response)["instance"] == f"{API}/orders/nope"


async def test_problem_instance_leaves_out_the_query(api):
    request = http_request("GET", f"{API}/orders/nope?code=secret", {"orderId": "nope"})

    response = await api("http_get_order", request)

    assert body_of(response)["instance"] == f"{API}/orders/nope"


async def test_order_status_shows_the_durable_status_only(api, durable):
    custom = {"step": "Finished", "waitingFor": [], "orderStatus": "Completed"}
    output = {"orderId": ORDER_ID, "status": "Completed", "reason": None}
    durable.add_instance(
        ORDER_ID, saga_input(), runtime_status="Completed", custom_status=custom, output=output
    )

    response = await api(
        "http_get_order_status", get(f"orders/{ORDER_ID}/status", orderId=ORDER_ID)
    )

    assert response.status_code == 200
    assert body_of(response) == {
        "orderId": ORDER_ID,
        "runtimeStatus": "Completed",
        "customStatus": custom,
        "createdTime": "2026-12-04T20:00:00Z",
        "lastUpdatedTime": "2026-12-04T20:00:05Z",
        "output": output,
    }


async def test_status_of_unknown_order_gives_404(api):
    response = await api("http_get_order_status", get("orders/nope/status", orderId="nope"))

    assert response.status_code == 404


# --- POST orders/{orderId}/cancel ---------------------------------------------------------


def awaiting(step: str, order_status: str = "Pending") -> dict:
    return {"step": step, "waitingFor": [], "orderStatus": order_status}


async def test_cancel_raises_cancel_requested_with_the_reason(api, durable):
    durable.add_instance(ORDER_ID, saga_input(), custom_status=awaiting("AwaitDispatch"))

    response = await api("http_cancel_order", cancel({"reason": "ordered twice"}))

    assert response.status_code == 202
    assert [(event.instance_id, event.name, event.data) for event in durable.raised] == [
        (ORDER_ID, "CancelRequested", {"reason": "ordered twice"})
    ]


async def test_cancel_answer_links_to_the_order(api, durable):
    durable.add_instance(ORDER_ID, saga_input(), custom_status=awaiting("AwaitDispatch"))

    response = await api("http_cancel_order", cancel())

    assert response.headers["Location"] == f"{API}/orders/{ORDER_ID}"


async def test_cancel_without_a_body_sends_no_reason(api, durable):
    durable.add_instance(ORDER_ID, saga_input(), runtime_status="Pending")

    response = await api("http_cancel_order", cancel())

    assert response.status_code == 202
    assert durable.raised[0].data == {"reason": None}


async def test_cancel_after_dispatch_gives_409(api, durable):
    durable.add_instance(ORDER_ID, saga_input(), custom_status=awaiting("AwaitDelivery", "Shipped"))

    response = await api("http_cancel_order", cancel())

    assert response.status_code == 409
    assert body_of(response)["type"] == http_api.problems.NOT_CANCELLABLE
    assert durable.raised == []


async def test_cancel_of_a_finished_saga_gives_409(api, durable):
    durable.add_instance(
        ORDER_ID,
        saga_input(),
        runtime_status="Completed",
        custom_status=awaiting("Finished", "Rejected"),
    )

    response = await api("http_cancel_order", cancel())

    assert response.status_code == 409
    assert "Rejected" in body_of(response)["detail"]


async def test_cancel_of_an_unknown_order_gives_404(api, durable):
    response = await api("http_cancel_order", cancel(order_id="nope"))

    assert response.status_code == 404
    assert durable.raised == []


@pytest.mark.parametrize(
    "raw",
    [b"{", b"[1]", b'{"reason": 42}', b'{"reason": ""}'],
    ids=["truncated", "array", "number-reason", "empty-reason"],
)
async def test_malformed_cancel_body_gives_400(api, durable, raw):
    durable.add_instance(ORDER_ID, saga_input(), custom_status=awaiting("AwaitDispatch"))

    response = await api("http_cancel_order", cancel(raw))

    assert response.status_code == 400
    assert durable.raised == []


# --- shipments and stock ------------------------------------------------------------------


async def test_order_shipment_shows_tracking(api, ports):
    store_shipment(ports)

    response = await api(
        "http_get_order_shipment", get(f"orders/{ORDER_ID}/shipment", orderId=ORDER_ID)
    )

    shipment = body_of(response)
    assert response.status_code == 200
    assert (shipment["carrier"], shipment["trackingNumber"]) == ("Speedy", "SP-77")
    assert shipment["status"] == "Dispatched"


async def test_shipment_is_found_by_its_id(api, ports):
    store_shipment(ports)
    shipment_id = f"shp-{ORDER_ID}"

    response = await api(
        "http_get_shipment", get(f"shipments/{shipment_id}", shipmentId=shipment_id)
    )

    assert body_of(response)["orderId"] == ORDER_ID


@pytest.mark.parametrize("shipment_id", ["shp-unknown", "not-a-shipment-id", "shp-"])
async def test_unknown_shipment_gives_404(api, shipment_id):
    response = await api(
        "http_get_shipment", get(f"shipments/{shipment_id}", shipmentId=shipment_id)
    )

    assert response.status_code == 404


async def test_shipment_of_unknown_order_names_the_order(api):
    response = await api("http_get_order_shipment", get("orders/nope/shipment", orderId="nope"))

    assert response.status_code == 404
    assert body_of(response)["detail"] == "no order has id 'nope'; check the id in the URL"


async def test_rejected_order_shipment_404_gives_the_reason(api, ports):
    order = new_order(PlaceOrder.model_validate(ORDER), ORDER_ID, AT)
    rejected = change_status(order, OrderStatus.REJECTED, AT, "not enough stock: 44")
    ports.orders.create(rejected.to_document(), ORDER_ID)

    response = await api(
        "http_get_order_shipment", get(f"orders/{ORDER_ID}/shipment", orderId=ORDER_ID)
    )

    assert response.status_code == 404
    assert body_of(response)["detail"] == (
        f"order '{ORDER_ID}' has no shipment; the order is Rejected: not enough stock: 44"
    )


async def test_stock_shows_on_hand_reserved_and_shipped(api, ports):
    item = StockItem(
        id="44",
        store_id="2",
        product_id="44",
        on_hand=7,
        reservations={"order-a": 2, "order-b": 1},
        shipped={"order-c": 4},
    )
    ports.stock.create(item.to_document(), "2")

    response = await api("http_get_stock", get("stores/2/stock/44", storeId="2", productId="44"))

    assert body_of(response) == {
        "storeId": "2",
        "productId": "44",
        "onHand": 7,
        "reserved": 3,
        "shipped": 4,
    }


async def test_unknown_stock_item_gives_404(api):
    response = await api("http_get_stock", get("stores/2/stock/999", storeId="2", productId="999"))

    assert response.status_code == 404
