"""Helpers every activity uses: ETag-guarded updates with a bounded retry, the clock, inputs."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from pydantic import ConfigDict, ValidationError

from domain.base import CamelModel, field_path
from domain.errors import Conflict, PreconditionFailed
from domain.messages import CloudEvent
from domain.ports import DocumentStore, Ports

logger = logging.getLogger(__name__)

T = TypeVar("T")
M = TypeVar("M", bound=CamelModel)

# How many times a read-change-write runs before a lost ETag race becomes a fault. Each lost
# race means another writer committed in between, so up to this many concurrent writers on one
# document all finish. With more writers the last one can fail, and then the Durable retry
# options (or the trigger's redelivery) run the activity again.
MAX_WRITE_ATTEMPTS = 5


class ActivityInput(CamelModel):
    """Base of activity inputs: camelCase JSON from the orchestrator; unknown keys are ignored."""

    model_config = CamelModel.model_config | ConfigDict(extra="ignore")


def parse_input(model: type[M], activity: str, payload: Any) -> M:
    """Validate an activity's input; raises ValueError naming the activity and the bad fields."""
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        problems = "; ".join(
            f"{field_path(error['loc'])}: {error['msg']}" for error in exc.errors(include_url=False)
        )
        raise ValueError(f"activity {activity} received an invalid input: {problems}") from None


def now() -> datetime:
    """Return the current time in UTC; activities, unlike orchestrators, may read the clock."""
    return datetime.now(UTC)


def with_write_retry(operation: Callable[[], T], what: str, **log_context: str) -> T:
    """Run a read-change-write `operation`, rerunning it when its write loses an ETag race.

    `operation` must read the documents afresh on every call. A Conflict (a concurrent create
    of the same id) is retried like a stale ETag, because the rerun reads the winner's document.
    After MAX_WRITE_ATTEMPTS lost races the last error propagates as the activity's fault.
    `log_context` (e.g. orderId) goes into the retry's log record.
    """
    for attempt in range(1, MAX_WRITE_ATTEMPTS + 1):
        try:
            return operation()
        except (PreconditionFailed, Conflict) as exc:
            if attempt == MAX_WRITE_ATTEMPTS:
                raise
            logger.info(
                "%s lost a write race on attempt %d, retrying: %s",
                what,
                attempt,
                exc,
                extra={**log_context, "attempt": attempt},
            )
    raise AssertionError("unreachable: the loop returns or raises")


def update_document(
    store: DocumentStore,
    document_id: str,
    partition_key: str,
    model: type[M],
    change: Callable[[M], M],
    what: str,
    **log_context: str,
) -> tuple[M, M]:
    """Read a document as `model`, apply `change` and write the result under the read's ETag.

    `change` returns its argument itself when there is nothing to do, and then nothing is
    written. A lost ETag race reruns the whole read-change-write (see with_write_retry).
    Returns the document as read by the attempt that succeeded and as it is after `change`.
    """

    def attempt() -> tuple[M, M]:
        document = store.read(document_id, partition_key)
        current = model.model_validate(document.body)

        changed = change(current)
        if changed is not current:
            store.replace(changed.to_document(), partition_key, document.etag)
        return current, changed

    return with_write_retry(attempt, what, **log_context)


def publish(ports: Ports, event: CloudEvent) -> None:
    """Publish an event and log it with its order id and message id."""
    ports.publisher.publish(event)
    logger.info(
        "published %s %s",
        event.type,
        event.id,
        extra={"orderId": event.subject, "eventType": event.type, "messageId": event.id},
    )
