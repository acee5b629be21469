"""The gateway in front of a recording backend: keys, rate limit, CORS, size limit, links."""

from __future__ import annotations

import json

import aiohttp
import pytest
from gateway_support import FUNCTION_KEY, RecordingBackend, free_port

from devhost.gateway.pipeline import INVALID_KEY_MESSAGE, MISSING_KEY_MESSAGE

ORDER = {
    "storeId": "1",
    "customerId": "7",
    "lines": [{"productId": "8", "quantity": 1, "unitPrice": 10}],
    "shipTo": {"name": "A", "street": "B", "city": "C", "state": "NY", "postalCode": "14450"},
}
ALLOWED_ORIGIN = "http://localhost:3000"


@pytest.fixture
async def running(start_gateway, backend: RecordingBackend):
    return await start_gateway(backend.url)


@pytest.fixture
def key(running) -> str:
    return running.runtime.subscriptions[0].primary_key


async def call(method: str, url: str, **options) -> tuple[int, dict, bytes]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, allow_redirects=False, **options) as response,
    ):
        return response.status, dict(response.headers), await response.read()


async def test_missing_key_gives_apim_401(running):
    status, headers, body = await call("GET", f"{running.url}/orders/o-1")

    assert status == 401
    assert headers["Content-Type"] == "application/problem+json"
    assert json.loads(body)["detail"] == MISSING_KEY_MESSAGE


async def test_wrong_key_gives_apim_401(running):
    status, _, body = await call(
        "GET", f"{running.url}/orders/o-1", headers={"Ocp-Apim-Subscription-Key": "wrong"}
    )

    assert status == 401
    assert json.loads(body)["detail"] == INVALID_KEY_MESSAGE


async def test_header_key_forwards_function_key(running, key, backend):
    status, _, body = await call(
        "GET", f"{running.url}/orders/o-1", headers={"Ocp-Apim-Subscription-Key": key}
    )

    assert status == 200
    assert json.loads(body) == {"id": "o-1"}
    forwarded = backend.requests[-1]
    assert forwarded.headers["x-functions-key"] == FUNCTION_KEY
    assert "Ocp-Apim-Subscription-Key" not in forwarded.headers


async def test_query_key_not_forwarded(running, key, backend):
    status, _, _ = await call("GET", f"{running.url}/orders/o-1?subscription-key={key}&x=1")

    assert status == 200
    assert "subscription-key" not in backend.requests[-1].query
    assert backend.requests[-1].query["x"] == "1"


async def test_secondary_key_passes(running):
    secondary = running.runtime.subscriptions[0].secondary_key
    status, _, _ = await call(
        "GET", f"{running.url}/orders/o-1", headers={"Ocp-Apim-Subscription-Key": secondary}
    )

    assert status == 200


async def test_undefined_path_is_404_problem(running, key):
    status, headers, body = await call(
        "GET", f"{running.url}/api/orders/o-1", headers={"Ocp-Apim-Subscription-Key": key}
    )

    assert status == 404
    assert headers["Content-Type"] == "application/problem+json"
    assert json.loads(body)["status"] == 404


async def test_undefined_method_is_404(running, key):
    status, _, _ = await call(
        "DELETE", f"{running.url}/orders/o-1", headers={"Ocp-Apim-Subscription-Key": key}
    )

    assert status == 404


async def test_rate_limit_gives_429_retry_after(start_gateway, backend):
    limited = await start_gateway(backend.url, {"APIM_NAMED_VALUE_RATE_LIMIT_CALLS": "3"})
    headers = {"Ocp-Apim-Subscription-Key": limited.runtime.subscriptions[0].primary_key}
    statuses = [
        (await call("GET", f"{limited.url}/orders/o-1", headers=headers))[0] for _ in range(3)
    ]

    status, response_headers, body = await call("GET", f"{limited.url}/orders/o-1", headers=headers)

    assert statuses == [200, 200, 200]
    assert status == 429
    assert int(response_headers["Retry-After"]) >= 1
    assert json.loads(body)["detail"].startswith("Rate limit is exceeded. Try again in ")


async def test_preflight_allowed_origin_answered(running, backend):
    status, headers, _ = await call(
        "OPTIONS",
        f"{running.url}/orders",
        headers={
            "Origin": ALLOWED_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Content-Type, Ocp-Apim-Subscription-Key",
        },
    )

    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert headers["Access-Control-Max-Age"] == "300"
    assert backend.requests == []


async def test_preflight_other_origin_no_cors(running):
    status, headers, _ = await call(
        "OPTIONS",
        f"{running.url}/orders",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )

    assert status == 200
    assert "Access-Control-Allow-Origin" not in headers


async def test_allowed_origin_sees_location(running, key):
    _, headers, _ = await call(
        "POST",
        f"{running.url}/orders",
        json=ORDER,
        headers={"Ocp-Apim-Subscription-Key": key, "Origin": ALLOWED_ORIGIN},
    )

    assert headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert "Location" in headers["Access-Control-Expose-Headers"]


async def test_oversized_body_gives_413(running, key, backend):
    oversized = {**ORDER, "padding": "x" * 70_000}

    status, headers, body = await call(
        "POST", f"{running.url}/orders", json=oversized, headers={"Ocp-Apim-Subscription-Key": key}
    )

    assert status == 413
    assert headers["Content-Type"] == "application/problem+json"
    assert "exceeds the limit of 65536 bytes" in json.loads(body)["detail"]
    assert backend.requests == []


async def test_links_point_at_gateway(running, key, backend):
    status, headers, body = await call(
        "POST", f"{running.url}/orders", json=ORDER, headers={"Ocp-Apim-Subscription-Key": key}
    )
    links = json.loads(body)["links"]

    assert status == 202
    assert headers["Location"] == f"{running.url}/orders/o-1"
    assert links["order"] == f"{running.url}/orders/o-1"
    assert links["status"] == f"{running.url}/orders/o-1/status"
    assert backend.url not in body.decode()


async def test_location_link_works_at_gateway(running, key):
    _, headers, _ = await call(
        "POST", f"{running.url}/orders", json=ORDER, headers={"Ocp-Apim-Subscription-Key": key}
    )

    status, _, body = await call(
        "GET", headers["Location"], headers={"Ocp-Apim-Subscription-Key": key}
    )

    assert status == 200
    assert json.loads(body) == {"id": "o-1"}


async def test_unreachable_backend_is_500_problem(start_gateway):
    orphan = await start_gateway(f"http://127.0.0.1:{free_port()}")
    key = orphan.runtime.subscriptions[0].primary_key

    status, headers, body = await call(
        "GET", f"{orphan.url}/orders/o-1", headers={"Ocp-Apim-Subscription-Key": key}
    )

    assert status == 500
    assert headers["Content-Type"] == "application/problem+json"
    assert FUNCTION_KEY not in body.decode()


async def test_function_key_never_in_any_response(start_gateway, backend):
    limited = await start_gateway(backend.url, {"APIM_NAMED_VALUE_RATE_LIMIT_CALLS": "4"})
    key = limited.runtime.subscriptions[0].primary_key
    with_key = {"Ocp-Apim-Subscription-Key": key}
    requests = [
        ("POST", "/orders", {"json": ORDER, "headers": with_key}),
        ("GET", "/orders/o-1", {"headers": with_key}),
        ("POST", "/orders", {"json": {"padding": "x" * 70_000}, "headers": with_key}),
        ("GET", "/nowhere", {"headers": with_key}),
        ("GET", "/orders/o-1", {}),
        ("GET", "/orders/o-1", {"headers": {"Ocp-Apim-Subscription-Key": "wrong"}}),
        ("GET", "/orders/o-1", {"headers": with_key}),
        ("GET", "/orders/o-1", {"headers": with_key}),
    ]

    statuses = []
    for method, path, options in requests:
        status, headers, body = await call(method, f"{limited.url}{path}", **options)
        statuses.append(status)
        assert FUNCTION_KEY not in json.dumps(headers), f"{method} {path} leaked it in a header"
        assert FUNCTION_KEY not in body.decode(), f"{method} {path} leaked it in the body"

    assert statuses == [202, 200, 413, 404, 401, 401, 200, 429]
