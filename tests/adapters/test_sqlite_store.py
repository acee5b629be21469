"""The embedded SQLite document store: Cosmos DB semantics on one file, shared by threads."""

import sqlite3
import threading

import pytest

from adapters.sqlite_store import MAX_BATCH_OPERATIONS, SqliteDatabase
from domain.errors import Conflict, NotFound, PreconditionFailed


@pytest.fixture
def database(tmp_path):
    database = SqliteDatabase(tmp_path / "orders.sqlite3")
    yield database
    database.close()


@pytest.fixture
def stock(database):
    return database.container("stock", "/storeId")


def item(product_id: str, on_hand: int = 1, store_id: str = "1") -> dict:
    return {"id": product_id, "storeId": store_id, "productId": product_id, "onHand": on_hand}


def test_read_returns_created_body_and_etag(stock):
    created = stock.create(item("a", 5), "1")

    read = stock.read("a", "1")

    assert read.body["onHand"] == 5
    assert read.etag == created.etag


def test_read_adds_cosmos_system_properties(stock):
    stock.create(item("a"), "1")

    body = stock.read("a", "1").body

    assert body["_etag"] == stock.read("a", "1").etag
    assert isinstance(body["_ts"], int)


def test_read_unknown_id_raises_not_found(stock):
    with pytest.raises(NotFound, match="'a' not found in container 'stock'"):
        stock.read("a", "1")


def test_same_id_in_other_partition_is_another_document(stock):
    stock.create(item("a", 1, store_id="1"), "1")
    stock.create(item("a", 9, store_id="2"), "2")

    assert stock.read("a", "2").body["onHand"] == 9


def test_create_existing_id_raises_conflict(stock):
    stock.create(item("a"), "1")

    with pytest.raises(Conflict):
        stock.create(item("a"), "1")


def test_create_with_mismatched_partition_key_is_rejected(stock):
    with pytest.raises(ValueError, match="partition key"):
        stock.create(item("a", store_id="2"), "1")


def test_replace_changes_body_and_etag(stock):
    created = stock.create(item("a", 1), "1")

    replaced = stock.replace(item("a", 2), "1", created.etag)

    assert replaced.etag != created.etag
    assert stock.read("a", "1").body["onHand"] == 2


def test_replace_with_stale_etag_raises_precondition_failed(stock):
    created = stock.create(item("a", 1), "1")
    stock.replace(item("a", 2), "1", created.etag)

    with pytest.raises(PreconditionFailed):
        stock.replace(item("a", 3), "1", created.etag)


def test_replace_with_stale_etag_keeps_stored_body(stock):
    created = stock.create(item("a", 1), "1")
    stock.replace(item("a", 2), "1", created.etag)

    with pytest.raises(PreconditionFailed):
        stock.replace(item("a", 3), "1", created.etag)

    assert stock.read("a", "1").body["onHand"] == 2


def test_replace_missing_document_raises_not_found(stock):
    with pytest.raises(NotFound):
        stock.replace(item("a"), "1", '"any"')


def test_replace_ignores_system_properties_sent_back(stock):
    created = stock.create(item("a", 1), "1")
    body = dict(created.body, onHand=4)

    replaced = stock.replace(body, "1", created.etag)

    assert replaced.body["_etag"] == replaced.etag


def test_replace_batch_writes_every_document(stock):
    a = stock.create(item("a", 1), "1")
    b = stock.create(item("b", 1), "1")

    stock.replace_batch("1", [(item("a", 7), a.etag), (item("b", 8), b.etag)])

    assert [stock.read(i, "1").body["onHand"] for i in ("a", "b")] == [7, 8]


def test_replace_batch_with_one_stale_etag_writes_nothing(stock):
    a = stock.create(item("a", 1), "1")
    b = stock.create(item("b", 1), "1")
    stock.replace(item("b", 2), "1", b.etag)

    with pytest.raises(PreconditionFailed, match="'b'"):
        stock.replace_batch("1", [(item("a", 7), a.etag), (item("b", 8), b.etag)])

    assert stock.read("a", "1").body["onHand"] == 1


def test_replace_batch_with_missing_document_writes_nothing(stock):
    a = stock.create(item("a", 1), "1")

    with pytest.raises(NotFound):
        stock.replace_batch("1", [(item("a", 7), a.etag), (item("zz", 8), '"x"')])

    assert stock.read("a", "1").etag == a.etag


def test_replace_batch_over_cosmos_limit_is_rejected(stock):
    changes = [(item(str(n)), '"x"') for n in range(MAX_BATCH_OPERATIONS + 1)]

    with pytest.raises(ValueError, match="at most 100 operations"):
        stock.replace_batch("1", changes)


def test_invalid_container_name_is_rejected(database):
    with pytest.raises(ValueError, match="container name"):
        database.container('stock"; DROP TABLE x; --', "/storeId")


def test_documents_survive_reopening_the_file(tmp_path):
    first = SqliteDatabase(tmp_path / "orders.sqlite3")
    first.container("stock", "/storeId").create(item("a", 3), "1")
    first.close()

    second = SqliteDatabase(tmp_path / "orders.sqlite3")
    body = second.container("stock", "/storeId").read("a", "1").body
    second.close()

    assert body["onHand"] == 3


def test_database_uses_write_ahead_log(database):
    connection = sqlite3.connect(database.path)
    mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
    connection.close()

    assert mode == "wal"


def test_concurrent_increments_under_etags_lose_no_update(stock):
    stock.create(item("a", 0), "1")
    threads, increments = 8, 25

    def increment_many():
        for _ in range(increments):
            while True:
                current = stock.read("a", "1")
                body = dict(current.body, onHand=current.body["onHand"] + 1)
                try:
                    stock.replace(body, "1", current.etag)
                    break
                except PreconditionFailed:
                    continue

    workers = [threading.Thread(target=increment_many) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert stock.read("a", "1").body["onHand"] == threads * increments
