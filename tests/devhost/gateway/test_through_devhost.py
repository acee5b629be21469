"""The gateway in front of the saga app, both run by `python -m devhost start`."""

from __future__ import annotations

import json
import shutil

import pytest
import requests
from gateway_support import REPOSITORY, DevhostProcess

pytestmark = pytest.mark.slow

ALLOWED_ORIGIN = "http://localhost:3000"
ORDER = {
    "storeId": "1",
    "customerId": "259",
    "lines": [{"productId": "8", "quantity": 1, "unitPrice": 1799.99}],
    "shipTo": {
        "name": "Johnathan Velazquez",
        "street": "9680 E. Somerset Street",
        "city": "Fairport",
        "state": "NY",
        "postalCode": "14450",
    },
}


@pytest.fixture(scope="module")
def key_header(devhost) -> dict[str, str]:
    return {"Ocp-Apim-Subscription-Key": devhost.subscription_key()}


def test_start_up_prints_gateway_and_keys(devhost):
    output = "".join(devhost.output)

    assert f"API Management gateway on {devhost.gateway_url}" in output
    assert devhost.subscription_key() in output


def test_place_order_without_key_is_401(devhost):
    response = requests.post(f"{devhost.gateway_url}/orders", json=ORDER, timeout=10)

    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"


def test_wrong_key_is_401(devhost):
    response = requests.get(
        f"{devhost.gateway_url}/stores/1/stock/8",
        headers={"Ocp-Apim-Subscription-Key": "not-a-key"},
        timeout=10,
    )

    assert response.status_code == 401
    assert response.json()["detail"].startswith("Access denied due to invalid subscription key")


def test_header_key_passes(devhost, key_header):
    response = requests.get(
        f"{devhost.gateway_url}/orders/no-such-order", headers=key_header, timeout=10
    )

    assert response.status_code == 404
    assert response.json()["type"].endswith("/not-found")


def test_query_key_passes(devhost):
    url = (
        f"{devhost.gateway_url}/orders/no-such-order?subscription-key={devhost.subscription_key()}"
    )

    response = requests.get(url, timeout=10)

    assert response.status_code == 404
    assert response.json()["type"].endswith("/not-found")


def test_preflight_configured_origin_allowed(devhost):
    response = requests.options(
        f"{devhost.gateway_url}/orders",
        headers={"Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "POST"},
        timeout=10,
    )

    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN


def test_preflight_other_origin_gets_no_cors(devhost):
    response = requests.options(
        f"{devhost.gateway_url}/orders",
        headers={"Origin": "https://elsewhere.example", "Access-Control-Request-Method": "POST"},
        timeout=10,
    )

    assert response.status_code == 200
    assert "Access-Control-Allow-Origin" not in response.headers


def test_oversized_order_is_413(devhost, key_header):
    oversized = {**ORDER, "shipTo": {**ORDER["shipTo"], "name": "x" * 70_000}}

    response = requests.post(
        f"{devhost.gateway_url}/orders", json=oversized, headers=key_header, timeout=10
    )

    assert response.status_code == 413
    assert response.headers["Content-Type"] == "application/problem+json"


def test_rate_limit_gives_429_retry_after(tmp_path):
    host = DevhostProcess(tmp_path / "state", {"APIM_NAMED_VALUE_RATE_LIMIT_CALLS": "2"})
    host.start()
    try:
        headers = {"Ocp-Apim-Subscription-Key": host.subscription_key()}
        url = f"{host.gateway_url}/stores/1/stock/8"
        statuses = [requests.get(url, headers=headers, timeout=10).status_code for _ in range(2)]
        limited = requests.get(url, headers=headers, timeout=10)
    finally:
        host.stop()

    assert 429 not in statuses
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1


def test_placed_order_links_point_at_gateway(devhost, key_header):
    response = requests.post(
        f"{devhost.gateway_url}/orders", json=ORDER, headers=key_header, timeout=10
    )
    body = response.json()

    assert response.status_code == 202
    assert response.headers["Location"] == f"{devhost.gateway_url}/orders/{body['orderId']}"
    assert body["links"]["status"] == f"{devhost.gateway_url}/orders/{body['orderId']}/status"
    assert devhost.backend_url not in response.text


def test_order_links_work_at_gateway(devhost, key_header):
    placed = requests.post(
        f"{devhost.gateway_url}/orders", json=ORDER, headers=key_header, timeout=10
    )
    order_id = placed.json()["orderId"]

    order = requests.get(placed.headers["Location"], headers=key_header, timeout=10)
    status = requests.get(placed.json()["links"]["status"], headers=key_header, timeout=10)

    assert order.status_code == 200
    assert order.json()["id"] == order_id
    assert status.status_code == 200
    assert status.json()["orderId"] == order_id


def test_invalid_order_gives_app_400(devhost, key_header):
    response = requests.post(
        f"{devhost.gateway_url}/orders", json={"storeId": ""}, headers=key_header, timeout=10
    )

    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith("application/problem+json")
    assert response.json()["errors"]


def test_app_problem_instance_is_gateway_url(devhost, key_header):
    url = f"{devhost.gateway_url}/orders/no-such-order"

    response = requests.get(url, headers=key_header, timeout=10)

    assert response.json()["instance"] == url


def test_function_key_never_in_any_response(devhost, key_header):
    function_key = devhost.function_key()
    gateway = devhost.gateway_url
    calls = [
        ("POST", "/orders", {"json": ORDER, "headers": key_header}),
        ("POST", "/orders", {"data": b"{not json", "headers": key_header}),
        ("GET", "/orders/unknown-order", {"headers": key_header}),
        ("GET", "/orders/unknown-order/status", {"headers": key_header}),
        ("POST", "/orders/unknown-order/cancel", {"headers": key_header}),
        ("GET", "/shipments/shp-unknown", {"headers": key_header}),
        ("GET", "/stores/1/stock/8", {"headers": key_header}),
        ("GET", "/api/orders", {"headers": key_header}),
        ("GET", "/orders/unknown-order", {}),
        ("POST", "/orders", {"data": b"x" * 70_000, "headers": key_header}),
    ]

    for method, path, options in calls:
        response = requests.request(method, gateway + path, timeout=10, **options)
        headers = json.dumps(dict(response.headers))
        assert function_key not in headers, f"{method} {path} leaked it in a header"
        assert function_key not in response.text, f"{method} {path} leaked it in the body"
        assert response.status_code < 500, f"{method} {path} gave {response.status_code}"


def test_unimplemented_policy_stops_start(tmp_path):
    broken = tmp_path / "apim"
    shutil.copytree(REPOSITORY / "apim", broken)
    api_policy = broken / "policies" / "api.xml"
    api_policy.write_text(
        api_policy.read_text().replace(
            "<base />", '<base /><quota calls="10" renewal-period="60" />', 1
        )
    )
    host = DevhostProcess(tmp_path / "state", {"DEVHOST_APIM_DIR": str(broken)})

    with pytest.raises(RuntimeError) as raised:
        host.start()

    assert "start-up failed" in str(raised.value)
    assert "<quota>" in str(raised.value)
    assert host.process.returncode == 1
