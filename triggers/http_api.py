"""Serve the HTTP API: place and cancel orders, and read orders, sagas, shipments and stock.

Routes are relative to the Functions route prefix (`/api`); API Management serves them
without it and injects the function key, so every route uses the FUNCTION auth level.
Links in responses are built from the request's own scheme, host and path prefix.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import azure.durable_functions as df
import azure.functions as func
from opentelemetry import trace

from domain.errors import FieldError, NotFound, ValidationFailed
from domain.orders import PlaceOrder, parse_place_order
from domain.ports import DocumentStore, Ports
from domain.saga import (
    ORCHESTRATION,
    SagaEvent,
    SagaInput,
    SagaOptions,
    accepts_cancellation,
)
from domain.shipments import shipment_id as shipment_id_of
from triggers import problems

logger = logging.getLogger(__name__)
tracer = trace.get_tracer(__name__)

IDEMPOTENCY_KEY = "Idempotency-Key"
MAX_IDEMPOTENCY_KEY_LENGTH = 255
MAX_CANCEL_REASON_LENGTH = 500
RETRY_AFTER_SECONDS = "1"

# Set on each route, because an app's own http_auth_level overrides a blueprint's default.
FUNCTION_KEY = func.AuthLevel.FUNCTION

# Order ids derived from an Idempotency-Key or a clientOrderId are uuid5 names in this
# namespace, so the same key always maps to the same order and saga instance.
ORDER_ID_NAMESPACE = uuid.UUID("7b0e5c2e-4a8f-5d1e-9c3b-2f6a1d8e4b70")

# Durable runtime statuses in which the saga still runs or waits.
ACTIVE_STATUSES = frozenset(
    {
        df.OrchestrationRuntimeStatus.Running,
        df.OrchestrationRuntimeStatus.Pending,
        df.OrchestrationRuntimeStatus.Suspended,
        df.OrchestrationRuntimeStatus.ContinuedAsNew,
    }
)


class _BadRequest(Exception):
    """A request the API rejects; carries the problem response to return."""

    def __init__(self, response: func.HttpResponse) -> None:
        super().__init__(response.get_body().decode())
        self.response = response


def blueprint(ports: Ports, saga_options: SagaOptions) -> df.Blueprint:
    """Register the HTTP routes, reading documents through `ports` and starting sagas."""
    bp = df.Blueprint()

    @bp.route(route="orders", methods=["POST"], auth_level=FUNCTION_KEY)
    @bp.durable_client_input(client_name="client")
    async def http_place_order(
        req: func.HttpRequest, client: df.DurableOrchestrationClient
    ) -> func.HttpResponse:
        return await place_order(req, client, saga_options)

    @bp.route(route="orders/{orderId}", methods=["GET"], auth_level=FUNCTION_KEY)
    @bp.durable_client_input(client_name="client")
    async def http_get_order(
        req: func.HttpRequest, client: df.DurableOrchestrationClient
    ) -> func.HttpResponse:
        return await get_order(req, client, ports.orders)

    @bp.route(route="orders/{orderId}/status", methods=["GET"], auth_level=FUNCTION_KEY)
    @bp.durable_client_input(client_name="client")
    async def http_get_order_status(
        req: func.HttpRequest, client: df.DurableOrchestrationClient
    ) -> func.HttpResponse:
        return await get_order_status(req, client)

    @bp.route(route="orders/{orderId}/cancel", methods=["POST"], auth_level=FUNCTION_KEY)
    @bp.durable_client_input(client_name="client")
    async def http_cancel_order(
        req: func.HttpRequest, client: df.DurableOrchestrationClient
    ) -> func.HttpResponse:
        return await cancel_order(req, client)

    @bp.route(route="orders/{orderId}/shipment", methods=["GET"], auth_level=FUNCTION_KEY)
    def http_get_order_shipment(req: func.HttpRequest) -> func.HttpResponse:
        return get_order_shipment(req, ports.orders, ports.shipments)

    @bp.route(route="shipments/{shipmentId}", methods=["GET"], auth_level=FUNCTION_KEY)
    def http_get_shipment(req: func.HttpRequest) -> func.HttpResponse:
        shipment_id = req.route_params["shipmentId"]
        order_id = shipment_id.removeprefix(shipment_id_of(""))
        return get_shipment(req, ports.shipments, shipment_id, order_id)

    @bp.route(route="stores/{storeId}/stock/{productId}", methods=["GET"], auth_level=FUNCTION_KEY)
    def http_get_stock(req: func.HttpRequest) -> func.HttpResponse:
        return get_stock(req, ports.stock)

    return bp


# --- POST orders ------------------------------------------------------------------------


async def place_order(
    req: func.HttpRequest, client: df.DurableOrchestrationClient, options: SagaOptions
) -> func.HttpResponse:
    """Validate the order, start its saga, and return 202 with the order's links.

    A repeat with the same Idempotency-Key (or clientOrderId) and the same order returns the
    same 202 and starts nothing. The same key with a different order gets a 422.
    """
    try:
        order = parse_place_order(_json_body(req, required=True))
        order_id, derived = _order_id(req, order)
    except _BadRequest as rejected:
        return rejected.response
    except ValidationFailed as invalid:
        return problems.invalid_request(req, "the order has invalid fields", invalid.errors)

    # NOTE: two first requests with the same key that arrive together can both find no
    # instance and both start one; the Durable extension then decides which start wins.
    if derived:
        existing = await client.get_status(order_id, show_input=True)
        if existing:
            return _repeat_response(req, order_id, order, existing)

    saga_input = SagaInput.for_order(order_id, order, options)
    # The Durable client sends this span's traceparent, so the saga's episodes join the trace.
    attributes = {"aj.order_id": order_id, "durable.instance_id": order_id}
    with tracer.start_as_current_span(f"start_new {ORCHESTRATION}", attributes=attributes):
        await client.start_new(
            ORCHESTRATION, order_id, saga_input.model_dump(mode="json", by_alias=True)
        )
    logger.info("order accepted %s", order_id, extra={"orderId": order_id, "instanceId": order_id})
    return _accepted(req, order_id, "orders")


def _order_id(req: func.HttpRequest, order: PlaceOrder) -> tuple[str, bool]:
    """Return the order id and whether it was derived from a key the client sent."""
    key = req.headers.get(IDEMPOTENCY_KEY)
    if key is not None:
        if not key.strip() or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
            detail = (
                f"{IDEMPOTENCY_KEY} must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters; "
                "send a fresh UUID for each new order"
            )
            raise _BadRequest(problems.invalid_request(req, detail))
        return str(uuid.uuid5(ORDER_ID_NAMESPACE, f"idempotency-key:{key}")), True

    if order.client_order_id is not None:
        name = f"client-order:{order.customer_id}:{order.client_order_id}"
        return str(uuid.uuid5(ORDER_ID_NAMESPACE, name)), True

    return str(uuid.uuid4()), False


def _repeat_response(
    req: func.HttpRequest,
    order_id: str,
    order: PlaceOrder,
    existing: df.DurableOrchestrationStatus,
) -> func.HttpResponse:
    if _started_with(existing).get("order") != order.to_document():
        return problems.problem(
            req,
            422,
            problems.IDEMPOTENCY_KEY_REUSED,
            "Idempotency key reused",
            f"order {order_id} was already placed with this {IDEMPOTENCY_KEY} or clientOrderId "
            "and a different body; send a new key for a new order",
        )

    logger.info("repeated order request %s", order_id, extra={"orderId": order_id})
    return _accepted(req, order_id, "orders")


def _accepted(req: func.HttpRequest, order_id: str, route: str) -> func.HttpResponse:
    links = order_links(req, route, order_id)
    return func.HttpResponse(
        json.dumps({"orderId": order_id, "links": links}),
        status_code=202,
        mimetype="application/json",
        headers={"Location": links["order"], "Retry-After": RETRY_AFTER_SECONDS},
    )


# --- GET orders/{orderId} and its status -----------------------------------------------


async def get_order(
    req: func.HttpRequest, client: df.DurableOrchestrationClient, orders: DocumentStore
) -> func.HttpResponse:
    """Return the order document with its saga's runtime status and current step."""
    order_id = req.route_params["orderId"]
    document, status = await asyncio.gather(
        asyncio.to_thread(_read_or_none, orders, order_id, order_id),
        client.get_status(order_id),
    )
    if document is None and not status:
        return problems.not_found(req, "order", order_id)

    body = document if document is not None else _order_from_saga_input(order_id, status)
    custom = (status.custom_status or {}) if status else {}
    body["saga"] = {
        "runtimeStatus": status.runtime_status.name if status else None,
        "step": custom.get("step"),
        "waitingFor": custom.get("waitingFor", []),
    }
    body["links"] = order_links(req, f"orders/{order_id}", order_id)
    return _json_response(body)


def _order_from_saga_input(order_id: str, status: df.DurableOrchestrationStatus) -> dict:
    # The saga has not recorded the order yet: show the request it was started with.
    return {"id": order_id, **_started_with(status).get("order", {}), "status": None}


def _started_with(status: df.DurableOrchestrationStatus) -> dict[str, Any]:
    """Return the saga input an instance was started with, or {} if it has none."""
    # Instances started from Python keep their input as JSON text.
    stored = status.input_
    if isinstance(stored, str):
        stored = json.loads(stored)
    return stored if isinstance(stored, dict) else {}


async def get_order_status(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """Return the saga's Durable status without management URLs, input or history."""
    order_id = req.route_params["orderId"]
    status = await client.get_status(order_id)
    if not status:
        return problems.not_found(req, "order", order_id)

    return _json_response(
        {
            "orderId": order_id,
            "runtimeStatus": status.runtime_status.name if status.runtime_status else None,
            "customStatus": status.custom_status,
            "createdTime": _iso(status.created_time),
            "lastUpdatedTime": _iso(status.last_updated_time),
            "output": status.output,
        }
    )


# --- POST orders/{orderId}/cancel -------------------------------------------------------


async def cancel_order(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    """Ask the saga to cancel the order; 409 once the carrier has it or the saga has ended."""
    order_id = req.route_params["orderId"]
    try:
        reason = _cancel_reason(req)
    except _BadRequest as rejected:
        return rejected.response

    status = await client.get_status(order_id)
    if not status:
        return problems.not_found(req, "order", order_id)
    if status.runtime_status not in ACTIVE_STATUSES or not accepts_cancellation(
        status.custom_status
    ):
        return _not_cancellable(req, order_id, status)

    # NOTE: a dispatch that reaches the saga after this check wins over the cancellation, so
    # a 202 means "requested"; the order's status says whether it was cancelled.
    try:
        await client.raise_event(order_id, SagaEvent.CANCEL_REQUESTED.value, {"reason": reason})
    except Exception as error:  # the SDK raises a plain Exception for 404 and 410
        # The saga ended between the status read and the event: nothing left to cancel.
        logger.warning(
            "cancel of order %s not delivered: %s", order_id, error, extra={"orderId": order_id}
        )
        return _not_cancellable(req, order_id, await client.get_status(order_id))

    logger.info("cancel requested for order %s", order_id, extra={"orderId": order_id})
    return _accepted(req, order_id, f"orders/{order_id}/cancel")


def _cancel_reason(req: func.HttpRequest) -> str | None:
    body = _json_body(req, required=False)
    if body is None:
        return None
    if not isinstance(body, dict):
        raise _BadRequest(problems.invalid_request(req, "the body must be a JSON object"))

    reason = body.get("reason")
    if reason is not None and (
        not isinstance(reason, str) or not 0 < len(reason) <= MAX_CANCEL_REASON_LENGTH
    ):
        error = FieldError("reason", f"must be text of 1 to {MAX_CANCEL_REASON_LENGTH} characters")
        raise _BadRequest(problems.invalid_request(req, "the reason is invalid", [error]))
    return reason


def _not_cancellable(
    req: func.HttpRequest, order_id: str, status: df.DurableOrchestrationStatus | None
) -> func.HttpResponse:
    custom = (status.custom_status or {}) if status else {}
    order_status = custom.get("orderStatus", "unknown")
    return problems.problem(
        req,
        409,
        problems.NOT_CANCELLABLE,
        "Order cannot be cancelled",
        f"order {order_id} is {order_status} and past dispatch or finished; "
        "only an order that has not been dispatched can be cancelled",
    )


# --- shipments and stock ----------------------------------------------------------------


def get_shipment(
    req: func.HttpRequest, shipments: DocumentStore, shipment_id: str, order_id: str
) -> func.HttpResponse:
    """Return a shipment and its tracking; shipments are partitioned by order id."""
    document = _read_or_none(shipments, shipment_id, order_id) if order_id else None
    if document is None:
        return problems.not_found(req, "shipment", shipment_id)
    return _json_response(document)


def get_order_shipment(
    req: func.HttpRequest, orders: DocumentStore, shipments: DocumentStore
) -> func.HttpResponse:
    """Return the order's shipment, or 404 saying why the order has none."""
    order_id = req.route_params["orderId"]
    document = _read_or_none(shipments, shipment_id_of(order_id), order_id)
    if document is not None:
        return _json_response(document)

    order = _read_or_none(orders, order_id, order_id)
    if order is None:
        return problems.not_found(req, "order", order_id)

    status = order.get("status")
    reason = order.get("statusReason")
    detail = f"order {order_id!r} has no shipment; the order is {status}"
    if reason:
        detail += f": {reason}"
    return problems.problem(req, 404, problems.NOT_FOUND, "Shipment not found", detail)


def get_stock(req: func.HttpRequest, stock: DocumentStore) -> func.HttpResponse:
    """Return a product's on-hand, reserved and shipped quantities at a store."""
    store_id = req.route_params["storeId"]
    product_id = req.route_params["productId"]
    document = _read_or_none(stock, product_id, store_id)
    if document is None:
        return problems.not_found(req, "stock item", f"{store_id}/{product_id}")

    return _json_response(
        {
            "storeId": store_id,
            "productId": product_id,
            "onHand": document.get("onHand", 0),
            "reserved": sum(document.get("reservations", {}).values()),
            "shipped": sum(document.get("shipped", {}).values()),
        }
    )


# --- helpers ----------------------------------------------------------------------------


def order_links(req: func.HttpRequest, route: str, order_id: str) -> dict[str, str]:
    """Build the order's links from the request URL, keeping its scheme, host and prefix.

    `route` is the request's route after the prefix (e.g. `orders`). Cutting it off the
    request path leaves the prefix: `/api` on the Functions host, and the API's own path
    (possibly empty) behind the gateway.
    """
    parts = urlsplit(req.url)
    path = parts.path.rstrip("/")
    prefix = path.removesuffix("/" + route) if path.endswith("/" + route) else ""
    base = urlunsplit((parts.scheme, parts.netloc, prefix, "", ""))

    order = f"{base}/orders/{order_id}"
    return {
        "order": order,
        "status": f"{order}/status",
        "cancel": f"{order}/cancel",
        "shipment": f"{order}/shipment",
    }


def _json_body(req: func.HttpRequest, required: bool) -> Any:
    body = req.get_body()
    if not body:
        if required:
            raise _BadRequest(
                problems.invalid_request(req, "the body is empty; send a JSON object")
            )
        return None

    content_type = req.headers.get("Content-Type")
    if content_type and not _is_json_media_type(content_type):
        raise _BadRequest(
            problems.problem(
                req,
                415,
                problems.UNSUPPORTED_MEDIA_TYPE,
                "Unsupported media type",
                f"Content-Type {content_type!r} is not JSON; send application/json",
            )
        )

    try:
        return json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        detail = f"the body is not valid JSON: {error}"
        raise _BadRequest(problems.invalid_request(req, detail)) from None


def _is_json_media_type(content_type: str) -> bool:
    media_type = content_type.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def _read_or_none(store: DocumentStore, document_id: str, partition_key: str) -> dict | None:
    try:
        document = store.read(document_id, partition_key)
    except NotFound:
        return None
    # Store metadata such as Cosmos DB's `_etag` and `_ts` is not part of the API.
    return {key: value for key, value in document.body.items() if not key.startswith("_")}


def _json_response(body: Any, status_code: int = 200) -> func.HttpResponse:
    return func.HttpResponse(json.dumps(body), status_code=status_code, mimetype="application/json")


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
