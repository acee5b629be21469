"""The task hub store's writer thread: group commits and submitters that give up."""

import asyncio
import contextlib
import sqlite3
import threading
from pathlib import Path

from devhost.durable.store import TaskHubStore


async def test_cancelled_submit_is_skipped(tmp_path: Path) -> None:
    store = TaskHubStore(tmp_path / "taskhub.sqlite")
    entered, gate = threading.Event(), threading.Event()
    applied: list[str] = []

    def blocking(connection: sqlite3.Connection) -> str:
        entered.set()
        gate.wait(5)
        return "first"

    def abandoned(connection: sqlite3.Connection) -> None:
        applied.append("abandoned")

    try:
        first = asyncio.ensure_future(store.submit(blocking))
        assert await asyncio.to_thread(entered.wait, 5)
        second = asyncio.ensure_future(store.submit(abandoned))
        await asyncio.sleep(0.01)
        second.cancel()
        # Awaiting the cancelled task lets the cancellation reach the queued change first.
        with contextlib.suppress(asyncio.CancelledError):
            await second
        gate.set()

        first_result = await first
        third_result = await asyncio.wait_for(store.submit(lambda connection: "third"), 5)
    finally:
        gate.set()
        store.close()

    assert first_result == "first"
    assert third_result == "third"
    assert applied == []
