"""The composition root picks Cosmos DB or SQLite, and Service Bus or the embedded broker."""

import sys

import pytest

from adapters.composition import build_ports
from adapters.cosmos_store import CosmosStore
from adapters.embedded_servicebus import EmbeddedPublisher
from adapters.servicebus_publisher import ServiceBusPublisher
from adapters.settings import load_settings
from adapters.sqlite_store import SqliteContainer


def azure_settings(tmp_path):
    return load_settings(
        {
            "COSMOS__accountEndpoint": "https://ajbikes.documents.azure.com:443/",
            "SERVICEBUS__fullyQualifiedNamespace": "ajbikes.servicebus.windows.net",
            "DEVHOST_STATE_DIR": str(tmp_path),
        }
    )


def test_azure_settings_build_cosmos_stores_without_contacting_azure(tmp_path):
    ports = build_ports(azure_settings(tmp_path))

    assert all(
        isinstance(store, CosmosStore) for store in (ports.orders, ports.stock, ports.shipments)
    )


def test_azure_settings_name_the_three_containers(tmp_path):
    ports = build_ports(azure_settings(tmp_path))

    assert (ports.orders.name, ports.stock.name, ports.shipments.name) == (
        "orders",
        "stock",
        "shipments",
    )


def test_azure_settings_build_the_service_bus_publisher(tmp_path):
    ports = build_ports(azure_settings(tmp_path))

    assert isinstance(ports.publisher, ServiceBusPublisher)
    assert ports.publisher.namespace == "ajbikes.servicebus.windows.net"


def test_empty_settings_build_sqlite_stores_per_service(tmp_path):
    ports = build_ports(load_settings({"DEVHOST_STATE_DIR": str(tmp_path)}))

    assert all(
        isinstance(store, SqliteContainer) for store in (ports.orders, ports.stock, ports.shipments)
    )
    assert sorted(path.name for path in tmp_path.glob("*.sqlite3")) == [
        "orders.sqlite3",
        "shipments.sqlite3",
    ]


def test_sqlite_stores_use_the_documented_partition_keys(tmp_path):
    ports = build_ports(load_settings({"DEVHOST_STATE_DIR": str(tmp_path)}))

    fields = [store.partition_key_field for store in (ports.orders, ports.stock, ports.shipments)]
    assert fields == ["id", "storeId", "orderId"]


def test_empty_settings_build_embedded_publisher(tmp_path):
    ports = build_ports(load_settings({"DEVHOST_STATE_DIR": str(tmp_path)}))

    assert isinstance(ports.publisher, EmbeddedPublisher)
    assert ports.publisher.state_dir == tmp_path


def test_missing_embedded_publisher_module_is_named(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "adapters.embedded_servicebus", None)

    with pytest.raises(RuntimeError, match=r"adapters\.embedded_servicebus"):
        build_ports(load_settings({"DEVHOST_STATE_DIR": str(tmp_path)}))
