"""devhost's embedded Service Bus: a SQLite broker, its client and the trigger dispatch.

devhost loads this module as an extension: `start(host)` defines the entities from the Service
Bus emulator's Config.json and feeds the app's `serviceBusTrigger` functions. Other processes
use `devhost.servicebus.client`; operators use `python -m devhost servicebus`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from devhost.context import HostContext, Stoppable

# Trigger types this extension runs, for devhost's start-up table.
TRIGGER_TYPES = ("serviceBusTrigger",)


async def start(host: HostContext) -> Stoppable | None:
    """Start the trigger dispatch of the embedded broker; None without a Service Bus trigger."""
    from devhost.servicebus.host import start as start_host

    return await start_host(host)
