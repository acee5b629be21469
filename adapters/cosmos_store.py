"""The DocumentStore for Azure Cosmos DB (NoSQL API), with identity-based auth.

Cosmos DB errors become domain errors: 404 NotFound, 409 Conflict, 412 PreconditionFailed and
429 Throttled with the server's retry-after. The SDK has already retried a 429 by then.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import HttpResponseError
from azure.cosmos import ContainerProxy, CosmosClient
from azure.cosmos.exceptions import CosmosBatchOperationError, CosmosHttpResponseError

from domain.errors import Conflict, NotFound, PreconditionFailed, Throttled
from domain.ports import Document

RETRY_AFTER_MS_HEADER = "x-ms-retry-after-ms"


class CosmosAccount:
    """A Cosmos DB account whose client is created on first use.

    Creating a CosmosClient reads the account's metadata over the network, so it is deferred
    until the first request instead of happening when the app is indexed.
    """

    def __init__(self, endpoint: str, client_factory: Callable[[str], Any] | None = None) -> None:
        self.endpoint = endpoint
        self._client_factory = client_factory or _default_client
        self._client: Any = None
        self._lock = threading.Lock()

    def container(self, database: str, name: str) -> CosmosStore:
        """Return the store of one container; nothing is contacted until its first request."""
        return CosmosStore(
            name,
            lambda: self._client_or_new().get_database_client(database).get_container_client(name),
        )

    def _client_or_new(self) -> Any:
        with self._lock:
            if self._client is None:
                self._client = self._client_factory(self.endpoint)
            return self._client


def _default_client(endpoint: str) -> CosmosClient:
    from azure.identity import DefaultAzureCredential

    return CosmosClient(endpoint, credential=DefaultAzureCredential())


class CosmosStore:
    """A DocumentStore over one Cosmos DB container."""

    def __init__(self, name: str, container_factory: Callable[[], ContainerProxy]) -> None:
        self.name = name
        self._container_factory = container_factory
        self._container: ContainerProxy | None = None
        self._lock = threading.Lock()

    def read(self, document_id: str, partition_key: str) -> Document:
        try:
            body = self._proxy().read_item(item=document_id, partition_key=partition_key)
        except CosmosHttpResponseError as exc:
            self._raise_domain_error(exc, document_id, partition_key)
            raise
        return _document(body)

    def create(self, body: dict[str, Any], partition_key: str) -> Document:
        # The SDK takes the partition key from the body's partition key property.
        try:
            created = self._proxy().create_item(body=body)
        except CosmosHttpResponseError as exc:
            self._raise_domain_error(exc, body["id"], partition_key)
            raise
        return _document(created)

    def replace(self, body: dict[str, Any], partition_key: str, etag: str) -> Document:
        try:
            replaced = self._proxy().replace_item(
                item=body["id"],
                body=body,
                etag=etag,
                match_condition=MatchConditions.IfNotModified,
            )
        except CosmosHttpResponseError as exc:
            self._raise_domain_error(exc, body["id"], partition_key, etag)
            raise
        return _document(replaced)

    def replace_batch(
        self, partition_key: str, changes: Sequence[tuple[dict[str, Any], str]]
    ) -> list[Document]:
        operations = [
            ("replace", (body["id"], body), {"if_match_etag": etag}) for body, etag in changes
        ]

        try:
            results = self._proxy().execute_item_batch(
                batch_operations=operations, partition_key=partition_key
            )
        except CosmosBatchOperationError as exc:
            body, etag = changes[exc.error_index]
            self._raise_domain_error(exc, body["id"], partition_key, etag)
            raise
        except CosmosHttpResponseError as exc:
            self._raise_domain_error(exc, changes[0][0]["id"], partition_key)
            raise

        return [
            _batch_document(result, body)
            for result, (body, _) in zip(results, changes, strict=True)
        ]

    def _proxy(self) -> ContainerProxy:
        with self._lock:
            if self._container is None:
                self._container = self._container_factory()
            return self._container

    def _raise_domain_error(
        self,
        exc: HttpResponseError,
        document_id: str,
        partition_key: str,
        etag: str | None = None,
    ) -> None:
        """Raise the domain error of a 404, 409, 412 or 429; return for any other status."""
        status = exc.status_code
        if status == 404:
            raise NotFound(self.name, document_id, partition_key) from exc
        if status == 409:
            raise Conflict(self.name, document_id, partition_key) from exc
        if status == 412:
            raise PreconditionFailed(self.name, document_id, partition_key, etag or "") from exc
        if status == 429:
            raise Throttled(self.name, _retry_after_seconds(exc)) from exc


def _retry_after_seconds(exc: HttpResponseError) -> float:
    headers = exc.headers or {}
    raw = headers.get(RETRY_AFTER_MS_HEADER)
    try:
        return int(raw) / 1000 if raw is not None else 1.0
    except ValueError:
        return 1.0


def _batch_document(result: dict[str, Any], sent: dict[str, Any]) -> Document:
    """Build the Document of one batch operation's result (statusCode, eTag, resourceBody)."""
    etag = result.get("eTag") or result["resourceBody"]["_etag"]
    body = result.get("resourceBody") or {**sent, "_etag": etag}
    return Document(body=dict(body), etag=etag)


def _document(body: dict[str, Any]) -> Document:
    return Document(body=dict(body), etag=body["_etag"])
