"""A property-based run of apim/openapi.yaml against the gateway in front of the saga app.

Schemathesis generates requests for every operation from the document. For valid requests
each response must not be a 5xx and must match the documented status codes, content types,
headers and schemas. For invalid requests (negative mode) no response may be a 5xx. The run
is bounded to a few examples per operation so it stays well under a minute.
"""

from __future__ import annotations

import pytest
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
