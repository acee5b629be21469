"""Fixtures for the trigger tests: a loopback Durable extension, SQLite ports, the functions."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import azure.durable_functions as df
import pytest
import pytest_asyncio
from azure.durable_functions.models.utils import http_utils
from durable_extension import FakeDurableExtension

from adapters.sqlite_store import SqliteDatabase
from domain.messages import CloudEvent
from domain.ports import Ports


class RecordingPublisher:
    """An EventPublisher that keeps what it is given, in order."""

    def __init__(self) -> None:
        self.events: list[CloudEvent] = []

    def publish(self, event: CloudEvent) -> None:
        self.events.append(event)


@pytest_asyncio.fixture
async def durable() -> AsyncIterator[FakeDurableExtension]:
    extension = FakeDurableExtension()
    await extension.start()
    yield extension
    await extension.stop()
    # The SDK shares one aiohttp session per process, bound to the loop that opened it;
    # each test has its own loop, so the session is closed with the test.
    await http_utils._close_session()


@pytest.fixture
def ports(tmp_path) -> Ports:
    orders_db = SqliteDatabase(tmp_path / "orders.sqlite3")
    shipments_db = SqliteDatabase(tmp_path / "shipments.sqlite3")
    yield Ports(
        orders=orders_db.container("orders", "/id"),
        stock=orders_db.container("stock", "/storeId"),
        shipments=shipments_db.container("shipments", "/orderId"),
        publisher=RecordingPublisher(),
    )
    orders_db.close()
    shipments_db.close()


@pytest.fixture
def index() -> Callable[[df.Blueprint], dict[str, Any]]:
    """Index a blueprint as the worker does and return its user functions by name."""

    def functions_of(blueprint: df.Blueprint) -> dict[str, Any]:
        app = df.DFApp()
        app.register_functions(blueprint)
        return {
            function.get_function_name(): function.get_user_function()
            for function in app.get_functions()
        }

    return functions_of
