"""The Cosmos DB adapter at the SDK boundary: the calls it makes and the errors it maps.

A recording container replaces azure.cosmos.ContainerProxy and raises the SDK's own
exception classes; no Cosmos DB account or emulator is contacted.
"""

import pytest
from azure.core import MatchConditions
from azure.cosmos import _base as cosmos_base
from azure.cosmos.exceptions import (
    CosmosBatchOperationError,
    CosmosHttpResponseError,
    CosmosResourceNotFoundError,
)

from adapters.cosmos_store import CosmosAccount, CosmosStore
from domain.errors import Conflict, NotFound, PreconditionFailed, Throttled


class RecordingContainer:
    """Records each ContainerProxy call, then returns a canned result or raises `error`."""

    def __init__(self, error: Exception | None = None):
        self.calls: list[tuple[str, dict]] = []
        self.error = error

    def _answer(self, method: str, result, **kwargs):
        self.calls.append((method, kwargs))
        if self.error is not None:
            raise self.error
        return result

    def read_item(self, **kwargs):
        return self._answer("read_item", {"id": kwargs["item"], "_etag": '"e1"'}, **kwargs)

    def create_item(self, **kwargs):
        return self._answer("create_item", {**kwargs["body"], "_etag": '"e1"'}, **kwargs)

    def replace_item(self, **kwargs):
        return self._answer("replace_item", {**kwargs["body"], "_etag": '"e2"'}, **kwargs)

    def execute_item_batch(self, **kwargs):
        results = [
            {"statusCode": 200, "eTag": f'"b{n}"', "resourceBody": {**op[1][1], "_etag": f'"b{n}"'}}
            for n, op in enumerate(kwargs["batch_operations"])
        ]
        return self._answer("execute_item_batch", results, **kwargs)


def store_over(container: RecordingContainer) -> CosmosStore:
    return CosmosStore("stock", lambda: container)


def http_error(status: int, headers: dict | None = None) -> CosmosHttpResponseError:
    error = CosmosHttpResponseError(status_code=status, message=f"status {status}")
    error.headers = headers or {}
    return error


ITEM = {"id": "a", "storeId": "1", "onHand": 2}


def test_read_passes_id_and_partition_key():
    container = RecordingContainer()

    document = store_over(container).read("a", "1")

    assert container.calls == [("read_item", {"item": "a", "partition_key": "1"})]
    assert document.etag == '"e1"'


def test_create_sends_body_with_its_partition_key_property():
    container = RecordingContainer()

    store_over(container).create(ITEM, "1")

    assert container.calls == [("create_item", {"body": ITEM})]


def test_replace_sends_etag_with_if_not_modified():
    container = RecordingContainer()

    document = store_over(container).replace(ITEM, "1", '"e1"')

    method, arguments = container.calls[0]
    assert method == "replace_item"
    assert arguments == {
        "item": "a",
        "body": ITEM,
        "etag": '"e1"',
        "match_condition": MatchConditions.IfNotModified,
    }
    assert document.etag == '"e2"'


def test_replace_batch_sends_replace_operations_with_if_match():
    container = RecordingContainer()
    other = {"id": "b", "storeId": "1", "onHand": 0}

    store_over(container).replace_batch("1", [(ITEM, '"e1"'), (other, '"e9"')])

    method, arguments = container.calls[0]
    assert method == "execute_item_batch"
    assert arguments["partition_key"] == "1"
    assert arguments["batch_operations"] == [
        ("replace", ("a", ITEM), {"if_match_etag": '"e1"'}),
        ("replace", ("b", other), {"if_match_etag": '"e9"'}),
    ]


def test_replace_batch_wire_operations_are_conditional():
    container = RecordingContainer()
    store_over(container).replace_batch("1", [(ITEM, '"e1"')])

    # The SDK's own formatter turns the tuples into the wire operations it sends.
    wire = cosmos_base._format_batch_operations(container.calls[0][1]["batch_operations"])

    assert wire == [
        {"operationType": "Replace", "id": "a", "resourceBody": ITEM, "ifMatch": '"e1"'}
    ]


def test_replace_batch_returns_new_etags_in_order():
    documents = store_over(RecordingContainer()).replace_batch(
        "1", [(ITEM, '"e1"'), ({"id": "b", "storeId": "1"}, '"e2"')]
    )

    assert [document.etag for document in documents] == ['"b0"', '"b1"']


def test_not_found_error_maps_to_not_found():
    container = RecordingContainer(CosmosResourceNotFoundError(status_code=404, message="gone"))

    with pytest.raises(NotFound, match="'a'"):
        store_over(container).read("a", "1")


def test_conflict_status_maps_to_conflict():
    with pytest.raises(Conflict):
        store_over(RecordingContainer(http_error(409))).create(ITEM, "1")


def test_precondition_status_maps_to_precondition_failed_with_etag():
    with pytest.raises(PreconditionFailed) as caught:
        store_over(RecordingContainer(http_error(412))).replace(ITEM, "1", '"old"')

    assert caught.value.etag == '"old"'


def test_throttled_status_maps_to_throttled_with_retry_after():
    error = http_error(429, {"x-ms-retry-after-ms": "1500"})

    with pytest.raises(Throttled) as caught:
        store_over(RecordingContainer(error)).read("a", "1")

    assert caught.value.retry_after_seconds == 1.5


def test_other_status_propagates_unchanged():
    error = http_error(503)

    with pytest.raises(CosmosHttpResponseError) as caught:
        store_over(RecordingContainer(error)).read("a", "1")

    assert caught.value is error


def test_batch_error_names_the_failing_document():
    error = CosmosBatchOperationError(
        error_index=1,
        headers={},
        status_code=412,
        message="precondition failed at index 1",
        operation_responses=[{"statusCode": 424}, {"statusCode": 412}],
    )
    other = {"id": "b", "storeId": "1"}

    with pytest.raises(PreconditionFailed) as caught:
        store_over(RecordingContainer(error)).replace_batch("1", [(ITEM, '"e1"'), (other, '"e2"')])

    assert (caught.value.document_id, caught.value.etag) == ("b", '"e2"')


def test_account_creates_no_client_until_first_request():
    created = []

    def factory(endpoint):
        created.append(endpoint)
        return ClientStub()

    account = CosmosAccount("https://example.documents.azure.com:443/", factory)
    store = account.container("orders", "stock")
    assert created == []

    store.read("a", "1")

    assert created == ["https://example.documents.azure.com:443/"]


def test_account_resolves_database_and_container_names():
    client = ClientStub()
    account = CosmosAccount("https://example.documents.azure.com:443/", lambda _: client)

    account.container("shipments-db", "shipments").read("x", "o1")

    assert client.requested == [("shipments-db", "shipments")]


class ClientStub:
    """Stands in for CosmosClient: records which database and container were asked for."""

    def __init__(self):
        self.requested = []

    def get_database_client(self, database):
        client = self

        class Database:
            def get_container_client(self, name):
                client.requested.append((database, name))
                return RecordingContainer()

        return Database()
