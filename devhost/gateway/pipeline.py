"""Run one request through the gateway: match, check the key, then the policy sections."""

from __future__ import annotations

import json
import logging
import time
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass, field

import aiohttp
from multidict import CIMultiDict, MultiDict
from yarl import URL

from devhost.gateway.config import GatewayConfig
from devhost.gateway.elements import Cors, StopPipeline, run_elements
from devhost.gateway.errors import ProxyError
from devhost.gateway.exchange import Exchange, GatewayResponse
from devhost.gateway.policies import PolicyDocument, find_first
from devhost.gateway.subscriptions import Subscription, find_subscription

# The messages API Management gives for its built-in steps, in context.LastError.Message.
MISSING_KEY_MESSAGE = (
    "Access denied due to missing subscription key. "
    "Make sure to include subscription key when making requests to an API."
)
INVALID_KEY_MESSAGE = (
    "Access denied due to invalid subscription key. "
    "Make sure to provide a valid key for an active subscription."
)
NO_OPERATION_MESSAGE = "Unable to match incoming request to an operation."
BACKEND_FAILURE_MESSAGE = "The backend service could not be reached or did not respond in time."

# Headers that describe one connection, not the message, so a proxy never copies them.
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)


class SlidingWindowLimiter:
    """Count calls per key in a sliding window, as API Management's rate-limit does."""

    def __init__(self) -> None:
        self._calls: dict[Hashable, deque[float]] = {}

    def acquire(self, key: Hashable, calls: int, period: float) -> float | None:
        """Record a call and return None, or return the seconds until one is allowed."""
        now = time.monotonic()
        window = self._calls.setdefault(key, deque())
        while window and window[0] <= now - period:
            window.popleft()

        if len(window) >= calls:
            return window[0] + period - now
        window.append(now)
        return None


@dataclass
class Runtime:
    """The gateway's state shared by all requests: config, keys, counters and the client."""

    config: GatewayConfig
    subscriptions: list[Subscription]
    session: aiohttp.ClientSession
    logger: logging.Logger
    limiter: SlidingWindowLimiter = field(default_factory=SlidingWindowLimiter)

    async def handle(self, exchange: Exchange) -> GatewayResponse:
        """Return the response for one request, as API Management would build it."""
        if _is_preflight(exchange):
            preflight = self._preflight(exchange)
            if preflight is not None:
                return preflight

        api = self.config.api
        exchange.operation = api.find(exchange.method, exchange.api_path)
        operation_id = exchange.operation.operation_id if exchange.operation else None
        policy = self.config.policy_for(operation_id)

        try:
            await self._run(exchange, policy)
        except StopPipeline as stop:
            return stop.response
        except ProxyError as error:
            await self._run_on_error(exchange, error, policy)
        return exchange.response

    async def forward(self, exchange: Exchange, timeout: float) -> None:
        """Send the request to the backend and make the backend's response the gateway's."""
        url = self._backend_url(exchange)
        headers = CIMultiDict(
            (name, value)
            for name, value in exchange.request_headers.items()
            if name.lower() not in HOP_BY_HOP
            and name.lower() != self.config.api.key_header_name.lower()
        )

        try:
            async with self.session.request(
                exchange.method,
                url,
                headers=headers,
                data=exchange.request_body,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as backend_response:
                body = await backend_response.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            self.logger.warning(
                "gateway: backend call failed for operation %s: %s: %s",
                exchange.operation.operation_id if exchange.operation else "-",
                type(exc).__name__,
                exc,
            )
            raise ProxyError(
                "forward-request",
                "BackendConnectionFailure",
                BACKEND_FAILURE_MESSAGE,
                500,
                "Internal Server Error",
            ) from None

        response_headers = CIMultiDict(
            (name, value)
            for name, value in backend_response.headers.items()
            if name.lower() not in HOP_BY_HOP
        )
        exchange.response = GatewayResponse(
            backend_response.status, backend_response.reason or "", response_headers, body
        )

    async def _run(self, exchange: Exchange, policy: PolicyDocument) -> None:
        if exchange.operation is None:
            raise ProxyError(
                "configuration", "OperationNotFound", NO_OPERATION_MESSAGE, 404, "Not Found"
            )

        self._authenticate(exchange)
        await run_elements(policy["inbound"], exchange, "inbound", self)
        await run_elements(policy["backend"], exchange, "backend", self)
        if exchange.response is None:
            raise ProxyError(
                "forward-request",
                "NoResponse",
                BACKEND_FAILURE_MESSAGE,
                500,
                "Internal Server Error",
            )
        await run_elements(policy["outbound"], exchange, "outbound", self)

    async def _run_on_error(
        self, exchange: Exchange, error: ProxyError, policy: PolicyDocument
    ) -> None:
        """Set the response API Management sends for the error, then run the on-error section."""
        exchange.last_error = error
        body = json.dumps({"statusCode": error.status, "message": error.message}).encode()
        headers = CIMultiDict({"Content-Type": "application/json", **error.headers})
        exchange.response = GatewayResponse(error.status, error.reason_phrase, headers, body)
        self.logger.debug(
            "gateway: %s on %s %s", error, exchange.method, exchange.original_url.path
        )

        try:
            await run_elements(policy["on-error"], exchange, "on-error", self)
        except ProxyError as nested:
            self.logger.warning("gateway: on-error section failed and was skipped: %s", nested)

    def _authenticate(self, exchange: Exchange) -> None:
        """Check the subscription key when the operation requires one (a built-in step)."""
        if not exchange.operation.subscription_required:
            return

        api = self.config.api
        key = exchange.request_headers.get(api.key_header_name) or exchange.query.get(
            api.key_query_name
        )
        if not key:
            raise ProxyError(
                "authorization", "SubscriptionKeyNotFound", MISSING_KEY_MESSAGE, 401, "Unauthorized"
            )

        exchange.subscription = find_subscription(self.subscriptions, key)
        if exchange.subscription is None:
            raise ProxyError(
                "authorization", "SubscriptionKeyInvalid", INVALID_KEY_MESSAGE, 401, "Unauthorized"
            )

    def _preflight(self, exchange: Exchange) -> GatewayResponse | None:
        """Answer a CORS preflight with the cors policy of the operation it asks about."""
        candidates = self.config.api.allows_path(exchange.api_path)
        if not candidates:
            return None

        requested = exchange.request_headers.get("Access-Control-Request-Method", "").upper()
        operation = next((op for op in candidates if op.method == requested), candidates[0])
        inbound = self.config.policy_for(operation.operation_id)["inbound"]
        cors = find_first(inbound, Cors)
        return cors.preflight(exchange) if isinstance(cors, Cors) else None

    def _backend_url(self, exchange: Exchange) -> URL:
        if not exchange.backend_base_url:
            raise ProxyError(
                "forward-request",
                "BackendNotSet",
                BACKEND_FAILURE_MESSAGE,
                500,
                "Internal Server Error",
            )
        query = MultiDict(
            (name, value)
            for name, value in exchange.query.items()
            if name != self.config.api.key_query_name
        )
        url = URL(exchange.backend_base_url + exchange.raw_api_path, encoded=True)
        return url.with_query(query) if query else url


def _is_preflight(exchange: Exchange) -> bool:
    headers = exchange.request_headers
    return (
        exchange.method == "OPTIONS"
        and "Origin" in headers
        and "Access-Control-Request-Method" in headers
    )
