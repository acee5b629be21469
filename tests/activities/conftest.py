"""Fixtures for activity tests: real SQLite stores in tmp_path and a recording publisher."""

from __future__ import annotations

import json
from typing import Any

import azure.durable_functions as df
import pytest
from store_doubles import RecordingPublisher

from activities import orders, shipments
from adapters.composition import ORDERS, SHIPMENTS, STOCK
from adapters.sqlite_store import SqliteDatabase
from domain.ports import Ports


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def ports(tmp_path, publisher):
    orders_db = SqliteDatabase(tmp_path / "orders.sqlite3")
    shipments_db = SqliteDatabase(tmp_path / "shipments.sqlite3")
    yield Ports(
        orders=orders_db.container(ORDERS.name, ORDERS.partition_key_path),
        stock=orders_db.container(STOCK.name, STOCK.partition_key_path),
        shipments=shipments_db.container(SHIPMENTS.name, SHIPMENTS.partition_key_path),
        publisher=publisher,
    )
    orders_db.close()
    shipments_db.close()


@pytest.fixture
def run(ports):
    """Call a registered activity by name as the worker would: JSON input in, JSON output out."""
    app = df.DFApp()
    app.register_functions(orders.blueprint(ports))
    app.register_functions(shipments.blueprint(ports))
    functions = {function.get_function_name(): function for function in app.get_functions()}

    def call(name: str, payload: dict[str, Any]) -> Any:
        user_function = functions[name].get_user_function()
        result = user_function(json.loads(json.dumps(payload)))
        return json.loads(json.dumps(result))

    call.functions = functions
    return call
