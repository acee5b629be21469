"""Reach the embedded Service Bus broker from the simulation's event loop.

The carrier and the supplier are outside systems: they talk to the app only through the
broker's queues, with the same envelope-to-message mapping the app's publishers use. The
broker client is synchronous SQLite, so its calls run in worker threads.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import AsyncIterator
from pathlib import Path

from adapters.messaging import message_properties
from devhost.servicebus.client import (
    ChangeWatcher,
    MessageLockLostError,
    OutgoingMessage,
    ReceivedMessage,
    ServiceBusClient,
)
from domain.messages import CloudEvent

log = logging.getLogger(__name__)

# The W3C traceparent of the message being handled. `Broker.send` copies it onto what it
# sends, so a reply joins the request's trace; tasks started while handling inherit it.
TRACEPARENT: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "traceparent", default=None
)

__all__ = ["Broker", "MessageLockLostError", "ReceivedMessage"]

BATCH_SIZE = 64
IDLE_CHECK_SECONDS = 0.005
"""Interval at which an idle receiver checks whether another process wrote to the broker."""
MAX_IDLE_SECONDS = 1.0
"""An idle receiver tries the entity at least this often, for scheduled messages and locks."""


class Broker:
    """Send envelopes to, and receive messages from, the broker file in a state folder."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir
        self.client = ServiceBusClient(state_dir)

    def close(self) -> None:
        self.client.close()

    async def send(self, envelope: CloudEvent) -> bool:
        """Send an envelope to its entity; return False when duplicate detection dropped it.

        The message carries the traceparent of the message being handled (TRACEPARENT), if any.
        """
        message = OutgoingMessage(**message_properties(envelope, TRACEPARENT.get()))
        sequence_numbers = await asyncio.to_thread(self.client.send, envelope.entity, message)
        return sequence_numbers[0] is not None

    async def receive(self, entity: str, stop: asyncio.Event) -> AsyncIterator[ReceivedMessage]:
        """Yield messages of an entity, locked for the caller to settle, until `stop` is set."""
        watcher = ChangeWatcher(self.state_dir)
        try:
            while not stop.is_set():
                batch = await asyncio.to_thread(self.client.receive, entity, BATCH_SIZE)
                for message in batch:
                    yield message
                if not batch:
                    await _wait_for_change(watcher, stop)
        finally:
            watcher.close()

    async def complete(self, message: ReceivedMessage) -> None:
        await asyncio.to_thread(self.client.complete, message)

    async def dead_letter(self, message: ReceivedMessage, reason: str, description: str) -> None:
        await asyncio.to_thread(self.client.dead_letter, message, reason, description)

    def dead_letters(self) -> dict[str, int]:
        """Return the dead-letter count of every entity that has any."""
        return {
            counts.path: counts.dead_letter
            for counts in self.client.counts()
            if counts.dead_letter
        }

    def is_empty(self, entity: str) -> bool:
        """Tell whether an entity holds no message, counting locked and scheduled ones."""
        return not self.client.peek(entity, 1)


async def _wait_for_change(watcher: ChangeWatcher, stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + MAX_IDLE_SECONDS
    while not stop.is_set() and loop.time() < deadline:
        await asyncio.sleep(IDLE_CHECK_SECONDS)
        if watcher.changed():
            return
