"""One request's passage through the gateway: the `context` that API Management policies see."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from multidict import CIMultiDict, MultiDict
from yarl import URL

if TYPE_CHECKING:
    from devhost.gateway.errors import ProxyError
    from devhost.gateway.openapi import Operation
    from devhost.gateway.subscriptions import Subscription


@dataclass
class GatewayResponse:
    """The response as the pipeline builds it: from the backend, a policy, or an error."""

    status: int
    reason: str
    headers: CIMultiDict[str] = field(default_factory=CIMultiDict)
    body: bytes = b""


@dataclass
class Exchange:
    """A request, its matched operation, and the response being built for it."""

    original_url: URL
    method: str
    api_path: str
    raw_api_path: str
    query: MultiDict[str]
    request_headers: CIMultiDict[str]
    request_body: bytes
    named_values: Mapping[str, str]
    operation: Operation | None = None
    subscription: Subscription | None = None
    backend_base_url: str | None = None
    response: GatewayResponse | None = None
    last_error: ProxyError | None = None
    variables: dict[str, Any] = field(default_factory=dict)
    cors_response_headers: dict[str, str] = field(default_factory=dict)

    @property
    def gateway_origin(self) -> str:
        """Return scheme://host:port of the URL the caller used."""
        url = self.original_url
        return f"{url.scheme}://{url.host}:{url.port}"
