"""The trigger dispatch in-process: the options it checks and the concurrency it keeps."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import azure.functions as func
import pytest

from devhost.invoker import Invoker
from devhost.loader import FunctionInfo, index_functions
from devhost.servicebus.client import OutgoingMessage, ServiceBusClient
from devhost.servicebus.config import EntitySettings, Namespace
from devhost.servicebus.host import (
    ServiceBusHost,
    _timespan_seconds,
    check_supported,
    trigger_entity,
)


def trigger_function(**trigger: object) -> FunctionInfo:
    binding = {"type": "serviceBusTrigger", "name": "message", "direction": "IN", **trigger}
    return FunctionInfo(name="handle", trigger=binding, bindings=(binding,), func=lambda m: None)


def test_batch_trigger_fails_start_up_naming_the_function():
    function = trigger_function(queueName="q", cardinality="MANY")

    with pytest.raises(RuntimeError, match="'handle' uses cardinality 'many'"):
        check_supported(function, RuntimeError)


def test_session_trigger_fails_start_up_naming_the_function():
    function = trigger_function(queueName="q", isSessionsEnabled=True)

    with pytest.raises(RuntimeError, match="'handle' enables sessions"):
        check_supported(function, RuntimeError)


def test_topic_trigger_receives_from_its_subscription_path():
    function = trigger_function(topicName="order-events", subscriptionName="audit")

    assert trigger_entity(function) == "order-events/Subscriptions/audit"


async def test_dispatch_runs_at_most_max_concurrent_calls(tmp_path, namespace):
    app = func.FunctionApp()
    running: list[int] = []
    peak: list[int] = [0]
    handled: list[str] = []

    @app.service_bus_queue_trigger(arg_name="message", queue_name="work", connection="SB")
    async def work(message: func.ServiceBusMessage) -> None:
        running.append(1)
        peak[0] = max(peak[0], len(running))
        await asyncio.sleep(0.05)
        running.pop()
        handled.append(message.message_id)

    client = ServiceBusClient(tmp_path, config=namespace)
    invoker = Invoker(str(tmp_path), ThreadPoolExecutor(max_workers=4))
    options = {"max_concurrent_calls": 2, "lock_renewal_seconds": 300.0}
    service = ServiceBusHost(client, index_functions(app), invoker, options)
    service.start()
    sender = ServiceBusClient(tmp_path)
    sender.send("work", [OutgoingMessage("{}", message_id=f"m{n}") for n in range(6)])
    for _ in range(200):
        if len(handled) == 6:
            break
        await asyncio.sleep(0.01)
    await service.stop()
    remaining = sender.peek("work")
    sender.close()

    assert sorted(handled) == [f"m{n}" for n in range(6)]
    assert peak[0] == 2
    assert remaining == []


async def test_long_invocation_keeps_its_lock_by_renewal(tmp_path):
    # A lock far shorter than the emulator allows, so the test runs in half a second.
    namespace = Namespace(queues={"work": EntitySettings(lock_duration=0.2)})
    app = func.FunctionApp()
    deliveries: list[int] = []

    @app.service_bus_queue_trigger(arg_name="message", queue_name="work", connection="SB")
    async def work(message: func.ServiceBusMessage) -> None:
        deliveries.append(message.delivery_count)
        await asyncio.sleep(0.5)

    client = ServiceBusClient(tmp_path, config=namespace)
    invoker = Invoker(str(tmp_path), ThreadPoolExecutor(max_workers=2))
    options = {"max_concurrent_calls": 4, "lock_renewal_seconds": 300.0}
    service = ServiceBusHost(client, index_functions(app), invoker, options)
    service.start()
    sender = ServiceBusClient(tmp_path)
    sender.send("work", OutgoingMessage("{}", message_id="long"))
    for _ in range(100):
        if deliveries and not sender.peek("work"):
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)
    remaining = sender.peek("work")
    await service.stop()
    sender.close()

    assert deliveries == [1]
    assert remaining == []


@pytest.mark.parametrize(
    ("text", "seconds"), [("00:05:00", 300), ("1.00:00:30", 86430), ("00:00:01.5", 1.5)]
)
def test_lock_renewal_timespan_parses(text, seconds):
    assert _timespan_seconds(text) == seconds


def test_invalid_lock_renewal_timespan_names_the_setting():
    with pytest.raises(ValueError, match="maxAutoLockRenewalDuration='5 minutes'"):
        _timespan_seconds("5 minutes")
