"""Waiting for an event with a timeout: a loop around the wait ends when it is cancelled."""

import asyncio

import pytest

from devhost.waiting import wait_for_event


async def _wait_in_a_loop(event: asyncio.Event) -> None:
    while True:
        await wait_for_event(event, 10)
        event.clear()


async def test_cancel_racing_event_ends_loop() -> None:
    event = asyncio.Event()
    task = asyncio.create_task(_wait_in_a_loop(event))
    await asyncio.sleep(0.01)

    event.set()
    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 2)


async def test_timeout_returns_without_the_event() -> None:
    event = asyncio.Event()

    await wait_for_event(event, 0.01)

    assert not event.is_set()


async def test_set_event_returns_at_once() -> None:
    event = asyncio.Event()
    event.set()

    await asyncio.wait_for(wait_for_event(event, None), 1)

    assert event.is_set()
