"""The policy expressions the gateway evaluates, each matched by its exact C# text.

API Management compiles any C# expression; this gateway does not. It implements the
expressions that apim/policies uses, compares an expression's text with them ignoring
whitespace outside string literals, and rejects any other expression at start-up.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from devhost.gateway.errors import GatewayConfigError
from devhost.gateway.exchange import Exchange

Expression = Callable[[Exchange], Any]

BACKEND_URL_NAMED_VALUE = "functions-base-url"
# Double-quoted C# strings, with their escapes, or a run of whitespace.
_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|\s+')


def normalize(text: str) -> str:
    """Drop the whitespace outside string literals, so formatting does not matter."""
    return _TOKEN.sub(lambda found: found.group(0) if found.group(0).startswith('"') else "", text)


def is_expression(text: str) -> bool:
    """Tell whether an attribute value or element text is a policy expression."""
    stripped = text.strip()
    return stripped.startswith("@(") or stripped.startswith("@{")


def compile_expression(text: str, where: str) -> Expression:
    """Return the implementation of the expression `text`, or raise naming it and `where`."""
    implementation = _IMPLEMENTED.get(normalize(text.strip()))
    if implementation is None:
        raise GatewayConfigError(
            f"{where}: the policy expression {text.strip()!r} is not implemented by the "
            "devhost gateway; use one of those listed in docs/gateway.md"
        )
    return implementation


def _error_source_is_validate_content(exchange: Exchange) -> bool:
    return exchange.last_error is not None and exchange.last_error.source == "validate-content"


def _response_has_location(exchange: Exchange) -> bool:
    return exchange.response is not None and "Location" in exchange.response.headers


def _location_at_gateway(exchange: Exchange) -> str:
    location = exchange.response.headers.get("Location", "") if exchange.response else ""
    backend_api_url = exchange.named_values[BACKEND_URL_NAMED_VALUE] + "/api"
    return location.replace(backend_api_url, exchange.gateway_origin)


def _problem_details(exchange: Exchange) -> str:
    response = exchange.response
    error = exchange.last_error
    problem = {
        "type": "about:blank",
        "title": response.reason if response else "",
        "status": response.status if response else 500,
        "detail": error.message if error else "",
        "instance": exchange.original_url.path,
    }
    return json.dumps(problem, indent=2)


_IMPLEMENTED: dict[str, Expression] = {
    normalize('@(context.LastError.Source == "validate-content")'): (
        _error_source_is_validate_content
    ),
    normalize('@(context.Response.Headers.ContainsKey("Location"))'): _response_has_location,
    normalize(
        '@(context.Response.Headers.GetValueOrDefault("Location", "")'
        '.Replace("{{functions-base-url}}/api", context.Request.OriginalUrl.Scheme + "://"'
        ' + context.Request.OriginalUrl.Host + ":" + context.Request.OriginalUrl.Port))'
    ): _location_at_gateway,
    normalize(
        '@(new JObject(new JProperty("type", "about:blank"),'
        ' new JProperty("title", context.Response.StatusReason),'
        ' new JProperty("status", context.Response.StatusCode),'
        ' new JProperty("detail", context.LastError.Message),'
        ' new JProperty("instance", context.Request.OriginalUrl.Path)).ToString())'
    ): _problem_details,
}

IMPLEMENTED_EXPRESSIONS = tuple(_IMPLEMENTED)
