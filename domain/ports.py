"""Ports: the storage and messaging interfaces activities and triggers use, as Protocols.

They are synchronous because activities run as sync functions on the worker's threads. Each
adapter raises the domain errors named below, whatever its backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from domain.messages import CloudEvent


@dataclass(frozen=True)
class Document:
    """A stored JSON document and its ETag, an opaque string that changes on every write."""

    body: dict[str, Any]
    etag: str


class DocumentStore(Protocol):
    """One container of JSON documents keyed by (partition key, id), like a Cosmos DB container.

    Bodies carry their own `id`; the partition key is passed alongside because the store does
    not interpret bodies.
    """

    name: str
    """The container's name, used in errors and logs."""

    def read(self, document_id: str, partition_key: str) -> Document:
        """Return the document; raises NotFound."""
        ...

    def create(self, body: dict[str, Any], partition_key: str) -> Document:
        """Insert a new document and return it with its ETag; raises Conflict if the id exists."""
        ...

    def replace(self, body: dict[str, Any], partition_key: str, etag: str) -> Document:
        """Overwrite a document if its ETag still matches `etag`.

        Raises PreconditionFailed on a stale ETag and NotFound if the document is gone.
        """
        ...

    def replace_batch(
        self, partition_key: str, changes: Sequence[tuple[dict[str, Any], str]]
    ) -> list[Document]:
        """Overwrite several documents of one partition, each guarded by its ETag, all or none.

        Raises PreconditionFailed (or NotFound) naming the first document that failed, in which
        case no document was changed. The result keeps the order of `changes`.
        """
        ...


class EventPublisher(Protocol):
    """Sends events to the Service Bus entity of their type."""

    def publish(self, event: CloudEvent) -> None:
        """Send one event; returns once the broker has accepted it."""
        ...


@dataclass(frozen=True)
class Ports:
    """The storage and messaging an app instance uses, built once at start-up."""

    orders: DocumentStore
    stock: DocumentStore
    shipments: DocumentStore
    publisher: EventPublisher
