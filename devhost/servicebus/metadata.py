"""Build a Service Bus trigger's data and metadata as the Functions host sends them to the worker.

The host (Service Bus extension 5.x with the out-of-process worker) sends strings as `string`
datums. It sends every other value (numbers, dates, the state enum, dictionaries) as
Newtonsoft JSON in a `json` datum, so DeliveryCount arrives as `json "1"` and a DateTime as
`json "\"2026-12-04T20:00:00.1234567Z\""`. LockedUntil, EnqueuedTime and ExpiresAt are
DateTimeOffset properties of ServiceBusReceivedMessage, which Newtonsoft writes with an offset
and without trailing zeros in the fraction: `"2026-12-04T20:00:00.123456+00:00"`. The worker's
converter decodes both to the same aware UTC time, but it tries the `+00:00` formats first, so
a LockedUntil in this form costs it two failed strptime calls instead of five (azure-functions
1.26, `meta._parse_datetime`). UserProperties is always present, because the worker's converter
distinguishes a single message from a batch by it. TimeToLive is sent only when it fits HH:MM:SS,
because the converter parses nothing longer (a .NET `d.hh:mm:ss` raises).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.functions import meta

from devhost.servicebus.messages import ReceivedMessage

_STRING_FIELDS = {
    "MessageId": "message_id",
    "ContentType": "content_type",
    "CorrelationId": "correlation_id",
    "ReplyTo": "reply_to",
    "ReplyToSessionId": "reply_to_session_id",
    "To": "to",
    "Label": "subject",
    "Subject": "subject",
    "SessionId": "session_id",
    "PartitionKey": "partition_key",
    "LockToken": "lock_token",
    "DeadLetterSource": "dead_letter_source",
    "DeadLetterReason": "dead_letter_reason",
    "DeadLetterErrorDescription": "dead_letter_error_description",
}
_NUMBER_FIELDS = {
    "DeliveryCount": "delivery_count",
    "SequenceNumber": "sequence_number",
    "EnqueuedSequenceNumber": "enqueued_sequence_number",
    "State": "state",
}
_DATE_FIELDS = {
    "EnqueuedTimeUtc": "enqueued_time",
    "ExpiresAtUtc": "expires_at",
    "ScheduledEnqueueTimeUtc": "scheduled_enqueue_time",
}
_DATE_OFFSET_FIELDS = {
    "EnqueuedTime": "enqueued_time",
    "ExpiresAt": "expires_at",
    "LockedUntil": "locked_until",
}
ONE_DAY = timedelta(days=1)


def trigger_data(message: ReceivedMessage, binding: dict[str, Any]) -> meta.Datum:
    """Return the body datum: bytes for `dataType: binary` or a non-UTF-8 body, else a string."""
    if str(binding.get("dataType", "")).lower() == "binary":
        return meta.Datum(message.body, "bytes")
    try:
        return meta.Datum(message.body.decode("utf-8"), "string")
    except UnicodeDecodeError:
        return meta.Datum(message.body, "bytes")


def trigger_metadata(
    message: ReceivedMessage, function_name: str, now: datetime
) -> dict[str, meta.Datum]:
    """Build every metadata key the host sends for one message, leaving out null values."""
    metadata: dict[str, meta.Datum] = {}
    for key, attribute in _STRING_FIELDS.items():
        value = getattr(message, attribute)
        if value is not None:
            metadata[key] = meta.Datum(value, "string")
    for key, attribute in _NUMBER_FIELDS.items():
        metadata[key] = _json(getattr(message, attribute))
    for key, attribute in _DATE_FIELDS.items():
        value = getattr(message, attribute)
        if value is not None:
            metadata[key] = _json(dotnet_datetime(value))
    for key, attribute in _DATE_OFFSET_FIELDS.items():
        value = getattr(message, attribute)
        if value is not None:
            metadata[key] = _json(dotnet_datetime_offset(value))

    properties = _json(message.application_properties)
    metadata["ApplicationProperties"] = properties
    metadata["UserProperties"] = properties
    if message.time_to_live < ONE_DAY:
        metadata["TimeToLive"] = _json(hh_mm_ss(message.time_to_live))
    metadata["sys"] = _json(
        {"MethodName": function_name, "UtcNow": dotnet_datetime(now), "RandGuid": str(uuid.uuid4())}
    )
    return metadata


def dotnet_datetime(value: datetime) -> str:
    """Format a UTC time as .NET does: seven fractional digits and a Z."""
    utc = value.astimezone(UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def dotnet_datetime_offset(value: datetime) -> str:
    """Format a UTC time as Newtonsoft writes a DateTimeOffset: trimmed fraction, +00:00."""
    utc = value.astimezone(UTC)
    text = utc.strftime("%Y-%m-%dT%H:%M:%S")
    if utc.microsecond:
        text += f".{utc.microsecond:06d}".rstrip("0")
    return text + "+00:00"


def hh_mm_ss(value: timedelta) -> str:
    """Format a duration under one day as HH:MM:SS, whole seconds."""
    seconds = int(value.total_seconds())
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _json(value: Any) -> meta.Datum:
    return meta.Datum(json.dumps(value), "json")
