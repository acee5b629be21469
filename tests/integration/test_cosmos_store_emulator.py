"""The Cosmos DB document store against the Cosmos DB emulator: reads, writes, ETags, batches.

Each run creates its own database with the app's containers and partition keys and deletes it
at the end, so runs do not see each other's documents.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest
from azure.cosmos import CosmosClient, PartitionKey
from emulator_settings import COSMOS_ENDPOINT, COSMOS_KEY, require_settings

from adapters.composition import ORDERS, SHIPMENTS, STOCK
from adapters.cosmos_store import CosmosAccount, CosmosStore
from domain.errors import Conflict, NotFound, PreconditionFailed

pytestmark = require_settings(COSMOS_ENDPOINT, COSMOS_KEY)


@pytest.fixture(scope="module")
def account() -> Iterator[tuple[CosmosAccount, str]]:
    """An account on the emulator and a fresh database holding every container the app uses."""
    client = CosmosClient(os.environ[COSMOS_ENDPOINT], credential=os.environ[COSMOS_KEY])
    database_name = f"ajbikes-test-{uuid.uuid4().hex[:12]}"
    database = client.create_database(database_name)
    for spec in (ORDERS, STOCK, SHIPMENTS):
        database.create_container(
            spec.name, partition_key=PartitionKey(path=spec.partition_key_path)
        )

    yield CosmosAccount(os.environ[COSMOS_ENDPOINT], client_factory=lambda _: client), database_name

    client.delete_database(database_name)


@pytest.fixture
def orders(account) -> CosmosStore:
    cosmos_account, database_name = account
    return cosmos_account.container(database_name, ORDERS.name)


@pytest.fixture
def stock(account) -> CosmosStore:
    cosmos_account, database_name = account
    return cosmos_account.container(database_name, STOCK.name)


def new_id() -> str:
    return f"it-{uuid.uuid4().hex[:16]}"


def test_create_then_read_returns_body(orders):
    order_id = new_id()

    created = orders.create({"id": order_id, "status": "Pending"}, order_id)
    read = orders.read(order_id, order_id)

    assert read.body["status"] == "Pending"
    assert read.etag == created.etag


def test_create_existing_id_raises_conflict(orders):
    order_id = new_id()
    orders.create({"id": order_id}, order_id)

    with pytest.raises(Conflict):
        orders.create({"id": order_id}, order_id)


def test_read_missing_raises_not_found(orders):
    order_id = new_id()

    with pytest.raises(NotFound):
        orders.read(order_id, order_id)


def test_replace_with_current_etag_changes_etag(orders):
    order_id = new_id()
    created = orders.create({"id": order_id, "status": "Pending"}, order_id)

    replaced = orders.replace({"id": order_id, "status": "Shipped"}, order_id, created.etag)

    assert replaced.body["status"] == "Shipped"
    assert replaced.etag != created.etag


def test_replace_with_stale_etag_raises_precondition_failed(orders):
    order_id = new_id()
    created = orders.create({"id": order_id, "status": "Pending"}, order_id)
    orders.replace({"id": order_id, "status": "Shipped"}, order_id, created.etag)

    with pytest.raises(PreconditionFailed):
        orders.replace({"id": order_id, "status": "Cancelled"}, order_id, created.etag)


def test_replace_batch_changes_every_document(stock):
    store_id = new_id()
    first = stock.create({"id": "p1", "storeId": store_id, "onHand": 5}, store_id)
    second = stock.create({"id": "p2", "storeId": store_id, "onHand": 7}, store_id)

    stock.replace_batch(
        store_id,
        [
            ({"id": "p1", "storeId": store_id, "onHand": 4}, first.etag),
            ({"id": "p2", "storeId": store_id, "onHand": 6}, second.etag),
        ],
    )

    assert stock.read("p1", store_id).body["onHand"] == 4
    assert stock.read("p2", store_id).body["onHand"] == 6


def test_replace_batch_with_stale_etag_changes_nothing(stock):
    store_id = new_id()
    first = stock.create({"id": "p1", "storeId": store_id, "onHand": 5}, store_id)
    second = stock.create({"id": "p2", "storeId": store_id, "onHand": 7}, store_id)
    stock.replace({"id": "p2", "storeId": store_id, "onHand": 8}, store_id, second.etag)

    with pytest.raises(PreconditionFailed):
        stock.replace_batch(
            store_id,
            [
                ({"id": "p1", "storeId": store_id, "onHand": 4}, first.etag),
                ({"id": "p2", "storeId": store_id, "onHand": 6}, second.etag),
            ],
        )

    assert stock.read("p1", store_id).body["onHand"] == 5
