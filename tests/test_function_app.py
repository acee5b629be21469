"""The Function App as the worker indexes it: every function, binding and setting in place."""

from __future__ import annotations

import importlib
import json
import sys

import pytest

from adapters import settings

ACTIVITIES = {
    "record_order",
    "reserve_stock",
    "reject_order",
    "commit_stock",
    "release_stock",
    "return_stock",
    "mark_order_shipped",
    "complete_order",
    "cancel_order",
    "return_order",
    "request_shipment",
    "record_dispatch",
    "record_delivery",
    "record_delivery_failure",
    "cancel_shipment",
}


@pytest.fixture
def function_app(tmp_path, monkeypatch):
    """Import function_app afresh with embedded adapters whose files live in tmp_path."""
    for name in settings.ALL:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv(settings.EMBEDDED_STATE_DIR, str(tmp_path))
    monkeypatch.setenv(settings.DISPATCH_DEADLINE, "45")
    monkeypatch.setenv(settings.RETRY_MAX_ATTEMPTS, "2")
    monkeypatch.delitem(sys.modules, "function_app", raising=False)

    module = importlib.import_module("function_app")
    yield module
    sys.modules.pop("function_app", None)


@pytest.fixture
def indexed(function_app) -> dict[str, dict]:
    """Index the app once, as the worker does, and return each function's bindings by name."""
    return {
        function.get_function_name(): json.loads(function.get_function_json())["bindings"]
        for function in function_app.app.get_functions()
    }


def trigger_types(indexed: dict[str, dict]) -> dict[str, str]:
    return {
        name: next(binding["type"] for binding in bindings if binding["type"].endswith("Trigger"))
        for name, bindings in indexed.items()
    }


def test_app_registers_the_saga(indexed):
    assert trigger_types(indexed)["order_saga"] == "orchestrationTrigger"


def test_app_registers_every_activity_the_saga_calls(indexed):
    kinds = trigger_types(indexed)
    activities = {name for name, kind in kinds.items() if kind == "activityTrigger"}

    assert activities == ACTIVITIES


def test_app_registers_the_http_routes(indexed):
    routes = {
        binding["route"]
        for bindings in indexed.values()
        for binding in bindings
        if binding["type"] == "httpTrigger"
    }

    assert routes == {
        "orders",
        "orders/{orderId}",
        "orders/{orderId}/status",
        "orders/{orderId}/cancel",
        "orders/{orderId}/shipment",
        "shipments/{shipmentId}",
        "stores/{storeId}/stock/{productId}",
    }


def test_app_registers_both_queue_triggers(indexed):
    queues = {
        binding["queueName"]
        for bindings in indexed.values()
        for binding in bindings
        if binding["type"] == "serviceBusTrigger"
    }

    assert queues == {"carrier-events", "supplier-events"}


def test_saga_options_come_from_the_settings(function_app):
    options = function_app.saga_options

    assert options.dispatch_deadline_seconds == 45
    assert options.retry_max_attempts == 2
    assert options.delivery_deadline_seconds == settings.FOURTEEN_DAYS
    assert options.retry_first_interval_ms == 1000


def test_embedded_stores_keep_their_files_in_the_state_folder(function_app, tmp_path):
    assert (tmp_path / "orders.sqlite3").exists()
