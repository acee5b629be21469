"""Fixtures for the gateway tests: a recording backend and gateways in front of it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from aiohttp import web
from gateway_support import (
    REPOSITORY,
    DevhostProcess,
    RecordingBackend,
    backend_app,
    free_port,
    host_context,
)

from devhost import gateway


@pytest.fixture
async def backend() -> AsyncIterator[RecordingBackend]:
    port = free_port()
    record = RecordingBackend(url=f"http://127.0.0.1:{port}")
    runner = web.AppRunner(await backend_app(record))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield record
    await runner.cleanup()


@pytest.fixture
async def start_gateway(tmp_path: Path) -> AsyncIterator[Callable]:
    """Start gateways for the repository's apim/ folder; stop them after the test."""
    started = []

    async def start(
        base_url: str, settings: dict[str, str] | None = None, app_dir: Path = REPOSITORY
    ):
        running = await gateway.start(host_context(app_dir, tmp_path / "state", base_url, settings))
        if running is not None:
            started.append(running)
        return running

    yield start
    for running in started:
        await running.stop()


@pytest.fixture(scope="session")
def devhost(tmp_path_factory):
    """`python -m devhost start` for the saga app with its gateway, shared by the slow tests."""
    host = DevhostProcess(tmp_path_factory.mktemp("devhost-state"))
    host.start()
    yield host
    host.stop()
