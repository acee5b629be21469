"""The API Management policy elements the gateway implements, each with APIM's semantics.

Only the attributes and values listed on each class are implemented; the parser in
policies.py rejects the rest at start-up.
"""

from __future__ import annotations

import logging
import math
import xml.etree.ElementTree as ElementTree
from http import HTTPStatus
from typing import TYPE_CHECKING

from multidict import CIMultiDict

from devhost.gateway.errors import GatewayConfigError, ProxyError
from devhost.gateway.exchange import Exchange, GatewayResponse
from devhost.gateway.expressions import compile_expression
from devhost.gateway.policies import (
    ACTIONS,
    PolicyElement,
    Source,
    Value,
    boolean,
    choice,
    integer,
    literal,
    parse_elements,
    register,
    resolve,
    texts_of,
    value_of,
)

if TYPE_CHECKING:
    from devhost.gateway.pipeline import Runtime

logger = logging.getLogger("devhost.gateway")

# API Management's upper bound for rate-limit renewal-period, in seconds.
MAX_RENEWAL_PERIOD = 300
TEXT_CONTENT_TYPES = ("application/json", "application/problem+json", "text/", "application/xml")


async def run_elements(
    elements: list[PolicyElement], exchange: Exchange, section: str, runtime: Runtime
) -> None:
    """Apply elements in order; a ProxyError stops the section and goes to on-error."""
    for element in elements:
        await element.apply(exchange, section, runtime)


def reason_phrase(status: int) -> str:
    """Return the standard reason phrase of an HTTP status code."""
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


class StopPipeline(Exception):
    """Respond to the caller with `response` now, skipping the rest of the pipeline."""

    def __init__(self, response: GatewayResponse) -> None:
        super().__init__(response.status)
        self.response = response


@register
class Cors(PolicyElement):
    """`cors`: respond to preflights and add CORS headers for the allowed origins."""

    name = "cors"
    attributes = frozenset({"allow-credentials", "terminate-unmatched-request"})
    sections = frozenset({"inbound"})
    children = frozenset(
        {"allowed-origins", "allowed-methods", "allowed-headers", "expose-headers"}
    )

    def __init__(
        self,
        allow_credentials: bool,
        terminate_unmatched: bool,
        origins: list[str],
        methods: list[str],
        max_age: int,
        headers: list[str],
        expose: list[str],
    ) -> None:
        self.allow_credentials = allow_credentials
        self.terminate_unmatched = terminate_unmatched
        self.origins = origins
        self.methods = methods
        self.max_age = max_age
        self.headers = headers
        self.expose = expose

    @classmethod
    def parse(cls, node: ElementTree.Element, source: Source, section: str) -> Cors:
        origins_node = _required_child(node, "allowed-origins", source)
        methods_node = node.find("allowed-methods")
        headers_node = node.find("allowed-headers")
        expose_node = node.find("expose-headers")
        for child in (origins_node, headers_node, expose_node):
            if child is not None:
                _check_child(child, set(), {"origin", "header"}, source)

        # Without <allowed-methods>, API Management allows GET and POST.
        methods, max_age = ["GET", "POST"], 0
        if methods_node is not None:
            _check_child(methods_node, {"preflight-result-max-age"}, {"method"}, source)
            methods = [method.upper() for method in texts_of(methods_node, "method", source)]
            max_age = integer(methods_node, "preflight-result-max-age", source, "0")

        headers = [] if headers_node is None else texts_of(headers_node, "header", source)
        expose = [] if expose_node is None else texts_of(expose_node, "header", source)
        return cls(
            allow_credentials=boolean(node, "allow-credentials", source, "false"),
            terminate_unmatched=boolean(node, "terminate-unmatched-request", source, "true"),
            origins=texts_of(origins_node, "origin", source),
            methods=methods,
            max_age=max_age,
            headers=[header.lower() for header in headers],
            expose=expose,
        )

    def allows_origin(self, origin: str) -> bool:
        return "*" in self.origins or origin in self.origins

    def preflight(self, exchange: Exchange) -> GatewayResponse:
        """Return the preflight response: 200 with CORS headers on a match, else an empty 200."""
        origin = exchange.request_headers.get("Origin", "")
        method = exchange.request_headers.get("Access-Control-Request-Method", "").upper()
        requested = exchange.request_headers.get("Access-Control-Request-Headers", "")
        requested_headers = [h.strip() for h in requested.split(",") if h.strip()]

        matches = (
            self.allows_origin(origin)
            and ("*" in self.methods or method in self.methods)
            and all("*" in self.headers or h.lower() in self.headers for h in requested_headers)
        )
        if not matches:
            return GatewayResponse(200, "OK")

        headers = CIMultiDict(
            {
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Methods": ", ".join(self.methods),
                "Vary": "Origin",
            }
        )
        if requested_headers:
            headers["Access-Control-Allow-Headers"] = ", ".join(requested_headers)
        if self.max_age:
            headers["Access-Control-Max-Age"] = str(self.max_age)
        if self.allow_credentials:
            headers["Access-Control-Allow-Credentials"] = "true"
        return GatewayResponse(200, "OK", headers)

    async def apply(self, exchange: Exchange, section: str, runtime: Runtime) -> None:
        origin = exchange.request_headers.get("Origin")
        if origin is None:
            return

        if self.allows_origin(origin):
            exchange.cors_response_headers["Access-Control-Allow-Origin"] = origin
            exchange.cors_response_headers["Vary"] = "Origin"
            if self.expose:
                exposed = ", ".join(self.expose)
                exchange.cors_response_headers["Access-Control-Expose-Headers"] = exposed
            if self.allow_credentials:
                exchange.cors_response_headers["Access-Control-Allow-Credentials"] = "true"
        elif self.terminate_unmatched and exchange.method in ("GET", "HEAD"):
            raise StopPipeline(GatewayResponse(200, "OK"))


@register
class RateLimit(PolicyElement):
    """`rate-limit`: at most `calls` per subscription in a sliding `renewal-period`."""

    name = "rate-limit"
    attributes = frozenset({"calls", "renewal-period", "retry-after-header-name"})
    sections = frozenset({"inbound"})

    def __init__(self, calls: int, period: int, retry_after_header: str) -> None:
        self.calls = calls
        self.period = period
        self.retry_after_header = retry_after_header

    @classmethod
    def parse(cls, node: ElementTree.Element, source: Source, section: str) -> RateLimit:
        period = integer(node, "renewal-period", source)
        if not 0 < period <= MAX_RENEWAL_PERIOD:
            raise GatewayConfigError(
                f"{source.where(cls.name)}: renewal-period={period} must be 1 to "
                f"{MAX_RENEWAL_PERIOD} seconds, as in API Management"
            )
        header = literal(node, "retry-after-header-name", source, "Retry-After")
        return cls(integer(node, "calls", source), period, header)

    async def apply(self, exchange: Exchange, section: str, runtime: Runtime) -> None:
        subscription = exchange.subscription.id if exchange.subscription else "(anonymous)"
        key = (id(self), subscription)
        retry_after = runtime.limiter.acquire(key, self.calls, self.period)
        if retry_after is None:
            return

        seconds = max(1, math.ceil(retry_after))
        error = ProxyError(
            source="rate-limit",
            reason="RateLimitExceeded",
            message=f"Rate limit is exceeded. Try again in {seconds} seconds.",
            status=429,
            reason_phrase="Too Many Requests",
            headers={self.retry_after_header: str(seconds)},
        )
        raise error


@register
class SetHeader(PolicyElement):
    """`set-header`: on the request in inbound and backend, on the response elsewhere."""

    name = "set-header"
    attributes = frozenset({"name", "exists-action"})
    children = frozenset({"value"})

    def __init__(self, header: str, action: str, values: list[Value]) -> None:
        self.header = header
        self.action = action
        self.values = values

    @classmethod
    def parse(cls, node: ElementTree.Element, source: Source, section: str) -> SetHeader:
        action = choice(
            node, "exists-action", source, ("override", "skip", "append", "delete"), "override"
        )
        values = [value_of(child.text, source, "value") for child in node.findall("value")]
        return cls(literal(node, "name", source), action, values)

    async def apply(self, exchange: Exchange, section: str, runtime: Runtime) -> None:
        headers = _target_headers(exchange, section)
        if self.action == "delete":
            headers.popall(self.header, None)
            return
        if self.action == "skip" and self.header in headers:
            return
        # Evaluate first: an expression may read the header this element replaces.
        values = [str(resolve(value, exchange)) for value in self.values]
        if self.action == "override":
            headers.popall(self.header, None)
        for value in values:
            headers.add(self.header, value)


@register
class SetBackendService(PolicyElement):
    """`set-backend-service base-url`: the URL the request's API path is appended to."""

    name = "set-backend-service"
    attributes = frozenset({"base-url"})
    sections = frozenset({"inbound", "backend"})

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    @classmethod
    def parse(cls, node: ElementTree.Element, source: Source, section: str) -> SetBackendService:
        return cls(literal(node, "base-url", source))

    async def apply(self, exchange: Exchange, section: str, runtime: Runtime) -> None:
        exchange.backend_base_url = self.base_url


@register
class ValidateContent(PolicyElement):
    """`validate-content`: the request body size check (schema validation is not implemented)."""

    name = "validate-content"
    attributes = frozenset(
        {
            "unspecified-content-type-action",
            "max-size",
            "size-exceeded-action",
            "errors-variable-name",
        }
    )
    sections = frozenset({"inbound"})

    def __init__(self, max_size: int, action: str, variable: str | None) -> None:
        self.max_size = max_size
        self.action = action
        self.variable = variable

    @classmethod
    def parse(cls, node: ElementTree.Element, source: Source, section: str) -> ValidateContent:
        # NOTE: content types are not checked against the API schema, so only "ignore" is
        # accepted for unspecified-content-type-action.
        choice(node, "unspecified-content-type-action", source, ("ignore",))
        action = choice(node, "size-exceeded-action", source, ACTIONS)
        variable = node.get("errors-variable-name")
        return cls(integer(node, "max-size", source), action, variable)

    async def apply(self, exchange: Exchange, section: str, runtime: Runtime) -> None:
        declared = exchange.request_headers.get("Content-Length")
        size = int(declared) if declared and declared.isdigit() else len(exchange.request_body)
        if size <= self.max_size or self.action == "ignore":
            return

        details = (
            f"Request's body is {size} bytes long and it exceeds the configured limit of "
            f"{self.max_size} bytes."
        )
        if self.variable:
            error = {
                "Name": "",
                "Type": "RequestBody",
                "ValidationRule": "SizeLimit",
                "Details": details,
                "Action": self.action,
            }
            exchange.variables.setdefault(self.variable, []).append(error)
        if self.action == "detect":
            logger.info("request body size limit exceeded (detect only): %s", details)
            return

        raise ProxyError(
            source="validate-content",
            reason="Bad request",
            message=(
                f"Request's body is {size} bytes long and it exceeds the limit of "
                f"{self.max_size} bytes."
            ),
            status=400,
            reason_phrase="Bad Request",
        )


@register
class ForwardRequest(PolicyElement):
    """`forward-request`: send the request to the backend and take its response."""

    name = "forward-request"
    attributes = frozenset({"timeout"})
    sections = frozenset({"backend"})

    def __init__(self, timeout: int) -> None:
        self.timeout = timeout

    @classmethod
    def parse(cls, node: ElementTree.Element, source: Source, section: str) -> ForwardRequest:
        return cls(integer(node, "timeout", source, "300"))

    async def apply(self, exchange: Exchange, section: str, runtime: Runtime) -> None:
        await runtime.forward(exchange, self.timeout)


@register
class RedirectContentUrls(PolicyElement):
    """`redirect-content-urls`: rewrite backend URLs in the response body to the gateway's."""

    name = "redirect-content-urls"
    sections = frozenset({"outbound"})

    @classmethod
    def parse(cls, node: ElementTree.Element, source: Source, section: str) -> RedirectContentUrls:
        return cls()

    async def apply(self, exchange: Exchange, section: str, runtime: Runtime) -> None:
        response = exchange.response
        if response is None or not response.body or not exchange.backend_base_url:
            return
        content_type = response.headers.get("Content-Type", "")
        if "Content-Encoding" in response.headers:
            return
        if not any(content_type.startswith(kind) for kind in TEXT_CONTENT_TYPES):
            return

        backend = exchange.backend_base_url.encode()
        response.body = response.body.replace(backend, exchange.gateway_origin.encode())


@register
class Choose(PolicyElement):
    """`choose`: the first `when` whose condition is true, else `otherwise`."""

    name = "choose"
    children = frozenset({"when", "otherwise"})

    def __init__(self, branches: list, otherwise: list[PolicyElement]) -> None:
        self.branches = branches
        self.otherwise = otherwise

    @classmethod
    def parse(cls, node: ElementTree.Element, source: Source, section: str) -> Choose:
        branches = []
        for when in node.findall("when"):
            _check_child(when, {"condition"}, None, source)
            condition = when.get("condition")
            if condition is None:
                raise GatewayConfigError(f"{source.where('when')} needs a condition")
            expression = compile_expression(condition, source.where("when"))
            branches.append((expression, parse_elements(when, source, section)))

        otherwise_node = node.find("otherwise")
        otherwise = (
            [] if otherwise_node is None else parse_elements(otherwise_node, source, section)
        )
        return cls(branches, otherwise)

    async def apply(self, exchange: Exchange, section: str, runtime: Runtime) -> None:
        for condition, elements in self.branches:
            if condition(exchange):
                await run_elements(elements, exchange, section, runtime)
                return
        await run_elements(self.otherwise, exchange, section, runtime)


@register
class SetStatus(PolicyElement):
    """`set-status`: the response's status code and reason phrase."""

    name = "set-status"
    attributes = frozenset({"code", "reason"})
    sections = frozenset({"outbound", "backend", "on-error"})

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason

    @classmethod
    def parse(cls, node: ElementTree.Element, source: Source, section: str) -> SetStatus:
        code = integer(node, "code", source)
        return cls(code, literal(node, "reason", source, reason_phrase(code)))

    async def apply(self, exchange: Exchange, section: str, runtime: Runtime) -> None:
        if exchange.response is None:
            exchange.response = GatewayResponse(self.code, self.reason)
        exchange.response.status = self.code
        exchange.response.reason = self.reason


@register
class SetBody(PolicyElement):
    """`set-body` with a literal or an expression (Liquid templates are not implemented)."""

    name = "set-body"

    def __init__(self, value: Value) -> None:
        self.value = value

    @classmethod
    def parse(cls, node: ElementTree.Element, source: Source, section: str) -> SetBody:
        return cls(value_of(node.text, source, cls.name))

    async def apply(self, exchange: Exchange, section: str, runtime: Runtime) -> None:
        body = str(resolve(self.value, exchange)).encode()
        if section in ("inbound", "backend"):
            exchange.request_body = body
            return
        if exchange.response is None:
            exchange.response = GatewayResponse(200, "OK")
        exchange.response.body = body


def _target_headers(exchange: Exchange, section: str) -> CIMultiDict[str]:
    if section in ("inbound", "backend"):
        return exchange.request_headers
    if exchange.response is None:
        exchange.response = GatewayResponse(200, "OK")
    return exchange.response.headers


def _required_child(node: ElementTree.Element, name: str, source: Source) -> ElementTree.Element:
    child = node.find(name)
    if child is None:
        raise GatewayConfigError(f"{source.where(node.tag)} needs a <{name}> element")
    return child


def _check_child(
    node: ElementTree.Element, attributes: set[str], children: set[str] | None, source: Source
) -> None:
    """Reject attributes or children of a nested element that the gateway does not implement."""
    unknown = set(node.attrib) - attributes
    if children is not None:
        unknown |= {f"<{c.tag}>" for c in node if isinstance(c.tag, str) and c.tag not in children}
    if unknown:
        raise GatewayConfigError(
            f"{source.where(node.tag)}: {', '.join(sorted(unknown))} not implemented by the "
            "devhost gateway"
        )
