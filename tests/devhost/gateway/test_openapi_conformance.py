"""A property-based run of apim/openapi.yaml against the gateway in front of the saga app.

Schemathesis generates requests for every operation from the document. For valid requests
each response must not be a 5xx and must match the documented status codes, content types,
headers and schemas. For invalid requests (negative mode) no response may be a 5xx. The run
is bounded to a few examples per operation so it stays well under a minute.
"""

from __future__ import annotations

import time

import pytest
import requests
import schemathesis
from gateway_support import REPOSITORY
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = 5
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]

DOCUMENT = REPOSITORY / "apim" / "openapi.yaml"


def load_schema(mode: GenerationMode) -> schemathesis.BaseSchema:
    loaded = schemathesis.openapi.from_path(DOCUMENT)
    loaded.config.generation.update(modes=[mode], max_examples=EXAMPLES_PER_OPERATION)
    return loaded


valid_requests = load_schema(GenerationMode.POSITIVE)
invalid_requests = load_schema(GenerationMode.NEGATIVE)


BOUNDED = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)


@valid_requests.parametrize()
@BOUNDED
def test_valid_request_conforms_to_openapi(case, devhost):
    headers = {"Ocp-Apim-Subscription-Key": devhost.subscription_key()}

    case.call_and_validate(base_url=devhost.gateway_url, headers=headers, checks=CHECKS)


@invalid_requests.parametrize()
@BOUNDED
def test_invalid_request_gives_no_server_error(case, devhost):
    headers = {"Ocp-Apim-Subscription-Key": devhost.subscription_key()}

    case.call_and_validate(
        base_url=devhost.gateway_url, headers=headers, checks=[not_a_server_error]
    )


def test_placed_order_responses_match_openapi(devhost):
    headers = {"Ocp-Apim-Subscription-Key": devhost.subscription_key()}
    gateway = devhost.gateway_url
    order = {
        "storeId": "1",
        "customerId": "259",
        "lines": [{"productId": "8", "quantity": 1, "unitPrice": 1799.99, "discount": 0.05}],
        "shipTo": {"name": "A. Rider", "street": "1 Main St", "city": "Fairport",
                   "state": "NY", "postalCode": "14450"},
    }  # fmt: skip
    placed = requests.post(f"{gateway}/orders", json=order, headers=headers, timeout=10)
    order_id = placed.json()["orderId"]
    time.sleep(1)  # let the saga record the order, so GET shows the stored document
    calls = {
        "placeOrder": placed,
        "getOrder": requests.get(f"{gateway}/orders/{order_id}", headers=headers, timeout=10),
        "getOrderStatus": requests.get(
            f"{gateway}/orders/{order_id}/status", headers=headers, timeout=10
        ),
        "getOrderShipment": requests.get(
            f"{gateway}/orders/{order_id}/shipment", headers=headers, timeout=10
        ),
        "getStock": requests.get(f"{gateway}/stores/1/stock/8", headers=headers, timeout=10),
        "cancelOrder": requests.post(
            f"{gateway}/orders/{order_id}/cancel", json={"reason": "changed my mind"},
            headers=headers, timeout=10,
        ),
    }  # fmt: skip

    for operation_id, response in calls.items():
        operation = valid_requests.find_operation_by_id(operation_id)
        assert response.status_code < 500, f"{operation_id}: {response.status_code}"
        assert operation.validate_response(response) is not False, operation_id
