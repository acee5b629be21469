"""Messages as the embedded broker sends and delivers them."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

# Application property values the broker stores exactly (JSON types). Service Bus also allows
# dates, GUIDs and bytes; a caller converts those to strings first.
PROPERTY_TYPES = (str, int, float, bool, type(None))

# The emulator's and the Standard tier's maximum message size. The broker counts the body and
# the JSON of the properties, an estimate of the AMQP size Service Bus measures.
MAX_MESSAGE_BYTES = 256 * 1024

# ServiceBusReceivedMessage.State values, as the Functions host serialises the enum.
STATE_ACTIVE = 0
STATE_DEFERRED = 1
STATE_SCHEDULED = 2

# System properties a sender sets, with the names Service Bus SQL filters use for them.
SYSTEM_PROPERTIES = {
    "message_id": "MessageId",
    "correlation_id": "CorrelationId",
    "subject": "Label",
    "content_type": "ContentType",
    "reply_to": "ReplyTo",
    "reply_to_session_id": "ReplyToSessionId",
    "to": "To",
    "session_id": "SessionId",
    "partition_key": "PartitionKey",
}


@dataclass
class OutgoingMessage:
    """A message to send: the body, the system properties a sender sets and application properties.

    `time_to_live` is capped by the entity's DefaultMessageTimeToLive, as Service Bus does.
    """

    body: bytes | str
    message_id: str | None = None
    correlation_id: str | None = None
    subject: str | None = None
    content_type: str | None = None
    reply_to: str | None = None
    reply_to_session_id: str | None = None
    to: str | None = None
    session_id: str | None = None
    partition_key: str | None = None
    time_to_live: timedelta | None = None
    scheduled_enqueue_time: datetime | None = None
    application_properties: dict[str, Any] = field(default_factory=dict)

    def body_bytes(self) -> bytes:
        return self.body.encode("utf-8") if isinstance(self.body, str) else bytes(self.body)

    def system_properties(self) -> dict[str, str]:
        """Return the system properties the sender set, by attribute name, with a message id."""
        values = {name: getattr(self, name) for name in SYSTEM_PROPERTIES}
        values["message_id"] = values["message_id"] or uuid.uuid4().hex
        return {name: value for name, value in values.items() if value is not None}

    def check(self) -> None:
        """Raise TypeError or ValueError when the broker could not keep a property exactly."""
        for name, value in self.application_properties.items():
            if not isinstance(name, str) or not isinstance(value, PROPERTY_TYPES):
                raise TypeError(
                    f"Application property {name!r}={value!r} has type {type(value).__name__}; "
                    "use str, int, float, bool or None (convert dates and GUIDs to strings)."
                )
        size = len(self.body_bytes()) + len(json.dumps(self.application_properties))
        if size > MAX_MESSAGE_BYTES:
            raise ValueError(
                f"Message {self.message_id} is {size} bytes; the maximum is {MAX_MESSAGE_BYTES}. "
                "Send a reference to the data instead of the data."
            )
        if self.time_to_live is not None and self.time_to_live.total_seconds() <= 0:
            raise ValueError(f"time_to_live {self.time_to_live} must be positive.")
        if self.scheduled_enqueue_time is not None and self.scheduled_enqueue_time.tzinfo is None:
            raise ValueError("scheduled_enqueue_time must be timezone-aware (UTC).")


@dataclass(frozen=True)
class ReceivedMessage:
    """A delivered or peeked message with every property the broker keeps for it."""

    entity: str
    body: bytes
    message_id: str
    sequence_number: int
    enqueued_sequence_number: int
    enqueued_time: datetime
    expires_at: datetime
    time_to_live: timedelta
    delivery_count: int
    state: int
    correlation_id: str | None = None
    subject: str | None = None
    content_type: str | None = None
    reply_to: str | None = None
    reply_to_session_id: str | None = None
    to: str | None = None
    session_id: str | None = None
    partition_key: str | None = None
    scheduled_enqueue_time: datetime | None = None
    lock_token: str | None = None
    locked_until: datetime | None = None
    dead_letter_reason: str | None = None
    dead_letter_error_description: str | None = None
    dead_letter_source: str | None = None
    application_properties: dict[str, Any] = field(default_factory=dict)


def to_datetime(epoch_seconds: float | None) -> datetime | None:
    if epoch_seconds is None:
        return None
    return datetime.fromtimestamp(epoch_seconds, tz=UTC)
