"""devhost's trigger dispatch end to end: `python -m devhost start` with a small test app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from servicebus_host_support import DevhostProcess, read_lines, run_cli, wait_for

from devhost.servicebus.client import OutgoingMessage, ServiceBusClient

APP = Path(__file__).parent / "apps" / "retry_app"

pytestmark = pytest.mark.slow


@pytest.fixture
def devhost(tmp_path):
    host = DevhostProcess(APP, tmp_path / "state")
    host.start()
    yield host
    host.kill()


@pytest.fixture
def client(devhost):
    with ServiceBusClient(devhost.state_dir) as sb_client:
        yield sb_client


def handled(devhost: DevhostProcess, function: str) -> list[dict]:
    return [r for r in read_lines(devhost.state_dir / "handled.jsonl") if r["function"] == function]


def test_failing_trigger_is_dead_lettered_then_resubmitted(devhost, client):
    client.send("work", OutgoingMessage(json.dumps({"fail": True}), message_id="poison-1"))

    dead = wait_for(lambda: client.peek("work/$DeadLetterQueue"))
    attempts = [r["delivery_count"] for r in handled(devhost, "work-failed")]
    (devhost.state_dir / "fixed").touch()
    resubmitted = run_cli(APP, devhost.state_dir, "resubmit", "work", "--message-id", "poison-1")
    done = wait_for(lambda: handled(devhost, "work"))
    devhost.stop()

    assert [m.message_id for m in dead] == ["poison-1"]
    assert dead[0].dead_letter_reason == "MaxDeliveryCountExceeded"
    assert attempts == [1, 2, 3]
    assert resubmitted.returncode == 0, resubmitted.stderr
    assert [r["message_id"] for r in done] == ["poison-1"]
    assert client.peek("work") == []
    assert client.peek("work/$DeadLetterQueue") == []
    assert "Function 'work' failed on message poison-1" in devhost.logs()


def test_trigger_receives_properties_sent_by_another_process(devhost, client):
    client.send(
        "work",
        OutgoingMessage(
            "{}",
            message_id="m1",
            subject="Placed",
            correlation_id="order-1",
            application_properties={
                "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
            },
        ),
    )

    record = wait_for(lambda: handled(devhost, "work"))[0]

    assert record["subject"] == "Placed"
    assert record["correlation_id"] == "order-1"
    assert record["delivery_count"] == 1
    assert record["user_properties"] == {
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    }


def test_duplicate_message_id_is_handled_once(devhost, client):
    client.send("work", OutgoingMessage("{}", message_id="twice"))
    client.send("work", OutgoingMessage("{}", message_id="twice"))
    client.send("work", OutgoingMessage("{}", message_id="after"))

    wait_for(lambda: {"twice", "after"} <= {r["message_id"] for r in handled(devhost, "work")})

    assert [r["message_id"] for r in handled(devhost, "work")].count("twice") == 1


def test_host_killed_during_dispatch_loses_no_message(devhost, client):
    ids = [f"slow-{number}" for number in range(40)]
    client.send("slow", [OutgoingMessage("{}", message_id=message_id) for message_id in ids])
    wait_for(lambda: len(handled(devhost, "slow")) >= 8)

    devhost.kill()
    after_kill = {r["message_id"] for r in handled(devhost, "slow")}
    devhost.start()
    wait_for(lambda: {r["message_id"] for r in handled(devhost, "slow")} >= set(ids), timeout=30)

    assert len(after_kill) < len(ids)
    assert client.peek("slow") == []
    assert client.peek("slow/$DeadLetterQueue") == []
