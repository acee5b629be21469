"""Waiting for an asyncio event with a timeout, in loops that must stop when cancelled."""

from __future__ import annotations

import asyncio
import contextlib


async def wait_for_event(event: asyncio.Event, timeout: float | None) -> None:
    """Return when `event` is set or `timeout` seconds have passed (None waits for the event).

    On Python 3.11, `asyncio.wait_for` can swallow a cancellation that arrives as the event is
    set, and a worker loop around it then never stops. `asyncio.timeout` distinguishes its own
    cancellation from the caller's, so a cancelled loop always ends.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await event.wait()
