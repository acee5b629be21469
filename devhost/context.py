"""Host context handed to devhost extensions (the Service Bus broker, the gateway)."""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from devhost.invoker import Invoker
    from devhost.keys import HostKeys
    from devhost.loader import FunctionInfo


class Stoppable(Protocol):
    """A running extension that the host stops on shutdown."""

    async def stop(self) -> None: ...


@dataclass
class HostContext:
    """Everything an extension needs to serve the hosted app.

    An extension module exposes `async def start(host: HostContext) -> Stoppable | None` and
    returns None when the app has nothing for it to do.
    """

    app_dir: str
    state_dir: str
    functions: list[FunctionInfo]
    invoker: Invoker
    host_json: dict[str, Any]
    settings: dict[str, str]
    base_url: str
    args: argparse.Namespace
    keys: HostKeys
    logger: logging.Logger
    extras: dict[str, Any] = field(default_factory=dict)
