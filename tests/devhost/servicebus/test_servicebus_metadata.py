"""Trigger metadata built as the Functions host does, decoded by the azure.functions converter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import azure.functions as func
from azure.functions.servicebus import ServiceBusMessageInConverter

from devhost.servicebus.client import OutgoingMessage
from devhost.servicebus.metadata import (
    dotnet_datetime_offset,
    hh_mm_ss,
    trigger_data,
    trigger_metadata,
)


def decode(client, binding=None) -> func.ServiceBusMessage:
    received = client.receive("work")[0]
    metadata = trigger_metadata(received, "handle_work", datetime.now(UTC))
    return ServiceBusMessageInConverter.decode(
        trigger_data(received, binding or {}), trigger_metadata=metadata
    )


def send(client, **fields) -> None:
    fields.setdefault("message_id", "m1")
    client.send("work", OutgoingMessage(body=fields.pop("body", b'{"a": 1}'), **fields))


def test_decoded_message_carries_every_property(client, clock):
    send(
        client,
        correlation_id="order-1",
        subject="Placed",
        content_type="application/json",
        reply_to="replies",
        to="shipments",
        partition_key="pk",
        application_properties={"traceparent": "00-a-b-01", "n": 2},
    )

    message = decode(client)

    assert message.get_body() == b'{"a": 1}'
    assert message.message_id == "m1"
    assert message.correlation_id == "order-1"
    assert message.subject == "Placed"
    assert message.label == "Placed"
    assert message.content_type == "application/json"
    assert message.reply_to == "replies"
    assert message.to == "shipments"
    assert message.partition_key == "pk"
    assert message.delivery_count == 1
    assert message.sequence_number == 1
    assert message.enqueued_sequence_number == 1
    assert message.state == 0
    assert message.application_properties == {"traceparent": "00-a-b-01", "n": 2}
    assert message.user_properties == {"traceparent": "00-a-b-01", "n": 2}
    assert message.enqueued_time_utc == datetime.fromtimestamp(clock.now, tz=UTC)
    assert message.expires_at_utc == datetime.fromtimestamp(clock.now + 3600, tz=UTC)
    assert message.locked_until == datetime.fromtimestamp(clock.now + 10, tz=UTC)
    assert message.lock_token
    assert message.time_to_live == timedelta(hours=1)


def test_numbers_and_dates_are_json_datums(client):
    send(client)
    received = client.receive("work")[0]

    metadata = trigger_metadata(received, "handle_work", datetime.now(UTC))

    assert metadata["DeliveryCount"].type == "json"
    assert metadata["DeliveryCount"].value == "1"
    assert metadata["EnqueuedTimeUtc"].type == "json"
    assert metadata["EnqueuedTimeUtc"].value.endswith('0Z"')
    assert metadata["MessageId"].type == "string"


def test_date_offsets_have_zero_offset(client):
    send(client)
    received = client.receive("work")[0]

    metadata = trigger_metadata(received, "handle_work", datetime.now(UTC))

    for key in ("LockedUntil", "EnqueuedTime", "ExpiresAt"):
        assert metadata[key].type == "json"
        assert metadata[key].value.endswith('+00:00"'), key


def test_date_offset_drops_trailing_zeros():
    moment = datetime(2026, 12, 4, 20, 0, 0, 123400, tzinfo=UTC)

    assert dotnet_datetime_offset(moment) == "2026-12-04T20:00:00.1234+00:00"
    assert dotnet_datetime_offset(moment.replace(microsecond=0)) == "2026-12-04T20:00:00+00:00"


def test_date_offsets_match_utc_dates(client, clock):
    send(client)

    message = decode(client)

    assert datetime.fromisoformat(message.metadata["EnqueuedTime"]) == message.enqueued_time_utc
    assert datetime.fromisoformat(message.metadata["ExpiresAt"]) == message.expires_at_utc


def test_user_properties_present_without_application_properties(client):
    send(client)

    message = decode(client)

    assert message.user_properties == {}


def test_unset_properties_are_left_out(client):
    send(client)

    message = decode(client)

    assert "CorrelationId" not in message.metadata
    assert "DeadLetterReason" not in message.metadata


def test_sys_metadata_names_the_function(client):
    send(client)

    message = decode(client)

    assert message.metadata["sys"]["MethodName"] == "handle_work"


def test_binary_body_reaches_the_function_unchanged(client):
    send(client, body=b"\x00\xff")

    message = decode(client)

    assert message.get_body() == b"\x00\xff"


def test_binary_data_type_sends_bytes(client):
    send(client, body=b"text")
    received = client.receive("work")[0]

    datum = trigger_data(received, {"dataType": "binary"})

    assert datum.type == "bytes"


def test_time_to_live_formats_as_hh_mm_ss():
    assert hh_mm_ss(timedelta(hours=1, minutes=2, seconds=3)) == "01:02:03"
