"""Errors of the gateway: a configuration it cannot serve, and an error raised by a policy."""

from __future__ import annotations

from dataclasses import dataclass, field

from devhost.host import StartupError


class GatewayConfigError(StartupError):
    """The apim/ folder contains something the gateway cannot load or does not implement.

    It is a StartupError, so `devhost start` prints the message and exits non-zero.
    """


class GatewayStartError(StartupError):
    """The gateway cannot listen on its port."""


@dataclass
class ProxyError(Exception):
    """An error in the pipeline, as API Management exposes it in `context.LastError`.

    `status`, `reason_phrase` and `headers` are the response API Management sends for it before the
    on-error section runs.
    """

    source: str
    reason: str
    message: str
    status: int
    reason_phrase: str
    headers: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}: {self.message}"
