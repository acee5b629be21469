"""Serve the simulated carrier from a real embedded broker until a condition holds."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from devhost.servicebus.client import ServiceBusClient
from simulation.bus import Broker
from simulation.carrier import Carrier, CarrierProfile
from simulation.catalog import REPO_ROOT
from simulation.run import serve_carrier

CONFIG = REPO_ROOT / "infra" / "servicebus" / "Config.json"
FAST = CarrierProfile("test", (0.0, 0.01), (0.0, 0.01))


def create_broker(state_dir: Path) -> Path:
    """Create the broker's entities from the project's Config.json in `state_dir`."""
    ServiceBusClient(state_dir, config=CONFIG).close()
    return state_dir


async def serve_until(state_dir: Path, done: Callable[[], bool], timeout: float = 5.0) -> None:
    """Run the carrier against the broker in `state_dir` until `done()` or the timeout."""
    broker = Broker(state_dir)
    stop = asyncio.Event()
    carrier = Carrier(FAST, broker.send, seed=1)
    serving = asyncio.create_task(serve_carrier(carrier, broker, stop))
    try:
        async with asyncio.timeout(timeout):
            while not done():
                await asyncio.sleep(0.02)
    finally:
        stop.set()
        await serving
        await carrier.close()
        broker.close()
