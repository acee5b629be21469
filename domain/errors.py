"""Domain errors: what the ports, the rules and the message parser raise, each with its values."""

from __future__ import annotations

from dataclasses import dataclass


class DomainError(Exception):
    """Base of every error the domain and its ports raise."""


class NotFound(DomainError):
    """A document does not exist in its container under the given id and partition key."""

    def __init__(self, container: str, document_id: str, partition_key: str) -> None:
        self.container = container
        self.document_id = document_id
        self.partition_key = partition_key
        super().__init__(
            f"document {document_id!r} not found in container {container!r} "
            f"(partition key {partition_key!r}); check the id and the partition key"
        )


class Conflict(DomainError):
    """A document with the same id already exists in the partition."""

    def __init__(self, container: str, document_id: str, partition_key: str) -> None:
        self.container = container
        self.document_id = document_id
        self.partition_key = partition_key
        super().__init__(
            f"document {document_id!r} already exists in container {container!r} "
            f"(partition key {partition_key!r}); read it instead of creating it"
        )


class PreconditionFailed(DomainError):
    """A document changed after it was read: its ETag no longer matches."""

    def __init__(self, container: str, document_id: str, partition_key: str, etag: str) -> None:
        self.container = container
        self.document_id = document_id
        self.partition_key = partition_key
        self.etag = etag
        super().__init__(
            f"document {document_id!r} in container {container!r} (partition key "
            f"{partition_key!r}) changed since it was read with ETag {etag!r}; "
            "read it again and reapply the change"
        )


class Throttled(DomainError):
    """The store rejected a request because the request rate is too high (HTTP 429)."""

    def __init__(self, container: str, retry_after_seconds: float) -> None:
        self.container = container
        self.retry_after_seconds = retry_after_seconds
        super().__init__(
            f"container {container!r} is throttling requests; "
            f"retry after {retry_after_seconds:g} seconds or raise its throughput"
        )


class InvalidTransition(DomainError):
    """A status change that the entity's rules do not allow."""

    def __init__(self, entity: str, entity_id: str, current: str, requested: str) -> None:
        self.entity = entity
        self.entity_id = entity_id
        self.current = current
        self.requested = requested
        super().__init__(
            f"{entity} {entity_id!r} cannot change from {current} to {requested}; "
            f"a {current} {entity} does not accept that step"
        )


class InvalidMessage(DomainError):
    """A message body that is not a valid CloudEvents envelope of a known event type."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        self.reason = reason
        self.field = field
        super().__init__(reason)


@dataclass(frozen=True)
class FieldError:
    """One invalid field of a request: its camelCase path (e.g. `lines[0].quantity`) and why."""

    field: str
    message: str


class ValidationFailed(DomainError):
    """A request with one or more invalid fields."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        details = "; ".join(f"{error.field}: {error.message}" for error in errors)
        super().__init__(f"request is invalid: {details}")
