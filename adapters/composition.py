"""The composition root: build the app's ports from its settings, on Azure or embedded."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from adapters.settings import Settings
from domain.ports import DocumentStore, EventPublisher, Ports

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ContainerSpec:
    """A container of one service's database and its partition key path."""

    service: str
    name: str
    partition_key_path: str


ORDERS = ContainerSpec("orders", "orders", "/id")
STOCK = ContainerSpec("orders", "stock", "/storeId")
SHIPMENTS = ContainerSpec("shipments", "shipments", "/orderId")


def build_ports(settings: Settings) -> Ports:
    """Build the document stores and the publisher the settings select.

    Cosmos DB when `COSMOS__accountEndpoint` is set, else SQLite files in the state folder;
    Service Bus when `SERVICEBUS__fullyQualifiedNamespace` is set, else the embedded broker.
    """
    orders, stock, shipments = (
        _cosmos_stores(settings) if settings.uses_cosmos else _sqlite_stores(settings)
    )
    publisher = (
        _servicebus_publisher(settings)
        if settings.uses_servicebus
        else _embedded_publisher(settings.embedded_state_dir)
    )

    logger.info(
        "ports built: documents in %s, messages on %s",
        settings.cosmos_endpoint or f"SQLite under {settings.embedded_state_dir}",
        settings.servicebus_namespace or "the embedded broker",
    )
    return Ports(orders=orders, stock=stock, shipments=shipments, publisher=publisher)


def _cosmos_stores(settings: Settings) -> tuple[DocumentStore, DocumentStore, DocumentStore]:
    from adapters.cosmos_store import CosmosAccount

    account = CosmosAccount(settings.cosmos_endpoint or "")
    databases = {"orders": settings.orders_database, "shipments": settings.shipments_database}
    return tuple(  # type: ignore[return-value]
        account.container(databases[spec.service], spec.name) for spec in (ORDERS, STOCK, SHIPMENTS)
    )


def _sqlite_stores(settings: Settings) -> tuple[DocumentStore, DocumentStore, DocumentStore]:
    from adapters.sqlite_store import SqliteDatabase

    state_dir = settings.embedded_state_dir
    databases = {
        "orders": SqliteDatabase(state_dir / "orders.sqlite3"),
        "shipments": SqliteDatabase(state_dir / "shipments.sqlite3"),
    }
    return tuple(  # type: ignore[return-value]
        databases[spec.service].container(spec.name, spec.partition_key_path)
        for spec in (ORDERS, STOCK, SHIPMENTS)
    )


def _servicebus_publisher(settings: Settings) -> EventPublisher:
    from adapters.servicebus_publisher import ServiceBusPublisher

    return ServiceBusPublisher(settings.servicebus_namespace or "")


def _embedded_publisher(state_dir: Path) -> EventPublisher:
    try:
        from adapters.embedded_servicebus import EmbeddedPublisher
    except ModuleNotFoundError as exc:
        if exc.name != "adapters.embedded_servicebus":
            raise
        raise RuntimeError(
            "the embedded Service Bus publisher (module adapters.embedded_servicebus) is not "
            "installed; set SERVICEBUS__fullyQualifiedNamespace to use Azure Service Bus"
        ) from exc

    return EmbeddedPublisher(state_dir)
