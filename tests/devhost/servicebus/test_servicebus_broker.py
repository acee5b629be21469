"""The embedded broker against a real SQLite file: delivery, locks, dead letters, duplicates."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from devhost.servicebus.client import (
    ChangeWatcher,
    MessageLockLostError,
    OutgoingMessage,
    ServiceBusClient,
    WakeSocket,
    add_listener,
    remove_listener,
)
from devhost.servicebus.messages import STATE_ACTIVE, STATE_SCHEDULED

DLQ = "/$DeadLetterQueue"


def message(message_id: str, **fields: object) -> OutgoingMessage:
    return OutgoingMessage(body=b'{"n": 1}', message_id=message_id, **fields)


def received_ids(client: ServiceBusClient, entity: str) -> list[str]:
    return [m.message_id for m in client.receive(entity, max_count=10)]


def test_topic_fans_out_by_sql_and_correlation_filters(client):
    client.send(
        "events", message("placed-1", subject="Placed", application_properties={"storeId": 1})
    )
    client.send(
        "events", message("placed-2", subject="Placed", application_properties={"storeId": 2})
    )
    client.send("events", message("shipped-1", subject="Shipped"))

    assert received_ids(client, "events/Subscriptions/all") == ["placed-1", "placed-2", "shipped-1"]
    assert received_ids(client, "events/Subscriptions/shipped") == ["shipped-1"]
    assert received_ids(client, "events/Subscriptions/store-1") == ["placed-1"]


def test_topic_copies_share_the_topic_sequence_number(client):
    client.send("events", message("shipped-1", subject="Shipped"))

    first = client.receive("events/Subscriptions/all")[0]
    second = client.receive("events/Subscriptions/shipped")[0]

    assert first.sequence_number == second.sequence_number


def test_received_message_is_locked_from_other_receivers(client):
    client.send("work", message("m1"))

    assert received_ids(client, "work") == ["m1"]
    assert received_ids(client, "work") == []


def test_lock_expiry_redelivers_with_higher_delivery_count(client, clock):
    client.send("work", message("m1"))
    first = client.receive("work")[0]

    clock.advance(10.1)
    second = client.receive("work")[0]

    assert first.delivery_count == 1
    assert second.delivery_count == 2
    assert second.lock_token != first.lock_token


def test_complete_after_lock_expiry_raises_lock_lost(client, clock):
    client.send("work", message("m1"))
    received = client.receive("work")[0]

    clock.advance(10.1)

    with pytest.raises(MessageLockLostError):
        client.complete(received)


def test_renewed_lock_outlives_the_lock_duration(client, clock):
    client.send("work", message("m1"))
    received = client.receive("work")[0]

    clock.advance(8)
    client.renew_lock(received)
    clock.advance(8)
    client.complete(received)

    assert client.peek("work") == []


def test_completed_message_is_gone(client):
    client.send("work", message("m1"))
    client.complete(client.receive("work")[0])

    assert client.peek("work") == []


def test_abandoned_message_is_delivered_again_at_once(client):
    client.send("work", message("m1"))
    client.abandon(client.receive("work")[0])

    again = client.receive("work")[0]

    assert again.delivery_count == 2


def test_max_delivery_count_dead_letters_message(client):
    client.send("work", message("m1"))
    for _ in range(3):
        client.abandon(client.receive("work")[0])

    dead = client.peek("work" + DLQ)

    assert client.receive("work") == []
    assert [m.message_id for m in dead] == ["m1"]
    assert dead[0].dead_letter_reason == "MaxDeliveryCountExceeded"
    assert dead[0].dead_letter_error_description == (
        "Message could not be consumed after 3 delivery attempts."
    )


def test_lock_expiry_on_last_delivery_dead_letters(client, clock):
    client.send("work", message("m1"))
    for _ in range(3):
        client.receive("work")
        clock.advance(10.1)

    assert client.receive("work") == []
    assert client.peek("work" + DLQ)[0].dead_letter_reason == "MaxDeliveryCountExceeded"


def test_expired_message_is_dead_lettered_with_ttl_reason(client, clock):
    client.send("work", message("m1", time_to_live=timedelta(seconds=5)))

    clock.advance(5.1)

    assert client.receive("work") == []
    assert client.peek("work" + DLQ)[0].dead_letter_reason == "TTLExpiredException"


def test_expired_message_dropped_without_expiry_dead_lettering(client, clock):
    client.send("no-dlq-on-expiry", message("m1", time_to_live=timedelta(seconds=5)))

    clock.advance(5.1)

    assert client.receive("no-dlq-on-expiry") == []
    assert client.peek("no-dlq-on-expiry" + DLQ) == []


def test_message_ttl_is_capped_by_the_entity_default(client):
    client.send("work", message("m1", time_to_live=timedelta(days=2)))

    assert client.peek("work")[0].time_to_live == timedelta(hours=1)


def test_dead_letter_on_request_keeps_reason_and_description(client):
    client.send("work", message("m1"))
    client.dead_letter(client.receive("work")[0], "InvalidBody", "body is not JSON")

    dead = client.peek("work" + DLQ)[0]

    assert dead.dead_letter_reason == "InvalidBody"
    assert dead.dead_letter_error_description == "body is not JSON"


def test_duplicate_inside_window_is_dropped(client, clock):
    client.send("work", message("m1"))
    clock.advance(59)

    sequence_numbers = client.send("work", message("m1"))

    assert sequence_numbers == [None]
    assert len(client.peek("work")) == 1


def test_duplicate_outside_window_is_accepted(client, clock):
    client.send("work", message("m1"))
    clock.advance(61)

    client.send("work", message("m1"))

    assert len(client.peek("work")) == 2


def test_duplicate_to_topic_is_dropped_for_every_subscription(client):
    client.send("events", message("shipped-1", subject="Shipped"))
    client.send("events", message("shipped-1", subject="Shipped"))

    assert len(client.peek("events/Subscriptions/all")) == 1
    assert len(client.peek("events/Subscriptions/shipped")) == 1


def test_same_message_id_is_kept_without_duplicate_detection(client):
    client.send("no-duplicates", message("m1"))
    client.send("no-duplicates", message("m1"))

    assert len(client.peek("no-duplicates")) == 2


def test_scheduled_message_waits_for_its_enqueue_time(client, clock):
    enqueue_time = datetime.fromtimestamp(clock.now + 30, tz=UTC)
    client.schedule("work", message("later"), enqueue_time)

    early = client.receive("work")
    clock.advance(30)
    due = client.receive("work")

    assert early == []
    assert [m.message_id for m in due] == ["later"]
    assert due[0].scheduled_enqueue_time == enqueue_time
    assert due[0].enqueued_time == enqueue_time


def test_scheduled_message_is_counted_and_peeked_as_scheduled(client, clock):
    client.schedule("work", message("later"), datetime.fromtimestamp(clock.now + 30, tz=UTC))

    counts = {c.path: c for c in client.counts()}

    assert counts["work"].scheduled == 1
    assert counts["work"].active == 0
    assert client.peek("work")[0].state == STATE_SCHEDULED


def test_cancelled_scheduled_message_is_never_delivered(client, clock):
    sequence_number = client.schedule(
        "work", message("later"), datetime.fromtimestamp(clock.now + 30, tz=UTC)
    )

    cancelled = client.cancel_scheduled("work", sequence_number)
    clock.advance(30)

    assert cancelled is True
    assert client.receive("work") == []


def test_properties_round_trip_exactly(client, clock):
    application = {
        "traceparent": "00-abc-def-01",
        "count": 3,
        "ratio": 0.5,
        "flag": True,
        "none": None,
    }
    client.send(
        "work",
        OutgoingMessage(
            body=b"\x00\xffbinary",
            message_id="m1",
            correlation_id="order-1",
            subject="Placed",
            content_type="application/json",
            reply_to="replies",
            reply_to_session_id="reply-session",
            to="shipments",
            session_id="session-1",
            partition_key="pk-1",
            time_to_live=timedelta(minutes=5),
            application_properties=application,
        ),
    )

    received = client.receive("work")[0]

    assert received.body == b"\x00\xffbinary"
    assert received.message_id == "m1"
    assert received.correlation_id == "order-1"
    assert received.subject == "Placed"
    assert received.content_type == "application/json"
    assert received.reply_to == "replies"
    assert received.reply_to_session_id == "reply-session"
    assert received.to == "shipments"
    assert received.session_id == "session-1"
    assert received.partition_key == "pk-1"
    assert received.time_to_live == timedelta(minutes=5)
    assert received.application_properties == application
    assert received.enqueued_time == datetime.fromtimestamp(clock.now, tz=UTC)
    assert received.expires_at == datetime.fromtimestamp(clock.now + 300, tz=UTC)
    assert received.locked_until == datetime.fromtimestamp(clock.now + 10, tz=UTC)
    assert received.sequence_number == 1
    assert received.enqueued_sequence_number == 1
    assert received.delivery_count == 1
    assert received.state == STATE_ACTIVE
    assert received.lock_token


def test_property_of_unsupported_type_is_rejected(client):
    with pytest.raises(TypeError, match="when"):
        client.send("work", message("m1", application_properties={"when": datetime.now(UTC)}))


def test_sequence_numbers_increase_per_entity(client):
    assert client.send("work", [message("a"), message("b")]) == [1, 2]
    assert client.send("no-duplicates", message("c")) == [1]


def test_resubmit_one_returns_new_message(client):
    client.send("work", [message("m1"), message("m2")])
    for received in client.receive("work", max_count=2):
        client.dead_letter(received, "Broken", "to be fixed")

    moved = client.resubmit("work", "m1")
    again = client.receive("work")

    assert moved == 1
    assert [m.message_id for m in again] == ["m1"]
    assert again[0].delivery_count == 1
    assert again[0].dead_letter_reason is None
    assert again[0].sequence_number == 3
    assert [m.message_id for m in client.peek("work" + DLQ)] == ["m2"]


def test_resubmit_all_bypasses_duplicate_detection(client):
    client.send("work", message("m1"))
    client.dead_letter(client.receive("work")[0], "Broken", "to be fixed")

    moved = client.resubmit("work")

    assert moved == 1
    assert received_ids(client, "work") == ["m1"]


def test_resubmit_subscription_dead_letter_stays_in_that_subscription(client):
    client.send("events", message("shipped-1", subject="Shipped"))
    client.complete(client.receive("events/Subscriptions/all")[0])
    client.dead_letter(client.receive("events/Subscriptions/shipped")[0], "Broken", "fix")

    client.resubmit("events/Subscriptions/shipped")

    assert client.peek("events/Subscriptions/all") == []
    assert received_ids(client, "events/Subscriptions/shipped") == ["shipped-1"]


def test_sending_to_unknown_entity_names_the_known_ones(client):
    with pytest.raises(LookupError, match=r"'missing' is not defined.*work"):
        client.send("missing", message("m1"))


def test_locks_of_gone_process_are_released(tmp_path, namespace):
    client = ServiceBusClient(tmp_path, config=namespace)
    client.send("work", message("m1"))
    script = (
        "import sys; from devhost.servicebus.client import ServiceBusClient; "
        "c = ServiceBusClient(sys.argv[1]); print(len(c.receive('work')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, check=True
    )

    locked_by_other = client.receive("work")
    released = client.release_stale_locks()
    again = client.receive("work")
    client.close()

    assert result.stdout.strip() == "1"
    assert locked_by_other == []
    assert released == 1
    assert [m.delivery_count for m in again] == [2]


def test_listener_hears_a_send_in_the_same_process(tmp_path, client):
    calls = []

    def listener() -> None:
        calls.append(1)

    add_listener(tmp_path, listener)
    try:
        client.send("work", message("m1"))
    finally:
        remove_listener(tmp_path, listener)

    assert calls == [1]


def test_change_watcher_sees_a_send_from_another_process(tmp_path, client):
    watcher = ChangeWatcher(tmp_path)
    script = (
        "import sys; from devhost.servicebus.client import ServiceBusClient, OutgoingMessage; "
        "ServiceBusClient(sys.argv[1]).send('work', OutgoingMessage(b'x'))"
    )
    try:
        unchanged = watcher.changed()
        subprocess.run([sys.executable, "-c", script, str(tmp_path)], check=True)
        changed = watcher.changed()
    finally:
        watcher.close()

    assert unchanged is False
    assert changed is True


def test_message_over_the_size_limit_is_rejected(client):
    with pytest.raises(ValueError, match="maximum is 262144"):
        client.send("work", OutgoingMessage(body=b"x" * (256 * 1024 + 1), message_id="big"))


def test_send_wakes_a_bound_wake_socket(tmp_path, client):
    wake = WakeSocket.bind(tmp_path)
    try:
        client.send("work", message("m1"))
        datagram = wake.socket.recv(64)
    finally:
        wake.close()

    assert datagram
    assert not (tmp_path / "servicebus.wake").exists()
