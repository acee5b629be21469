"""Feed the app's Service Bus triggers from the embedded broker, as the Functions host does.

One receiver per `serviceBusTrigger` function locks messages from its queue or subscription
and invokes the function through the worker's converters. It completes the message on success
and abandons it when the function raises, so the delivery count rises until the broker
dead-letters it. Each receiver runs at most `extensions.serviceBus.maxConcurrentCalls`
invocations at once (host.json, default 16) and renews locks of long invocations for up to
`maxAutoLockRenewalDuration` (default five minutes).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from devhost.servicebus.client import (
    ChangeWatcher,
    ServiceBusClient,
    WakeSocket,
    add_listener,
    remove_listener,
)
from devhost.servicebus.config import (
    ConfigError,
    Namespace,
    find_config,
    load_config,
    with_implicit_entities,
)
from devhost.servicebus.messages import OutgoingMessage, ReceivedMessage
from devhost.servicebus.metadata import trigger_data, trigger_metadata
from devhost.servicebus.store import MessageLockLostError, subscription_path
from devhost.waiting import wait_for_event

if TYPE_CHECKING:
    from azure.functions import meta

    from devhost.context import HostContext
    from devhost.invoker import Invoker
    from devhost.loader import FunctionInfo

logger = logging.getLogger("devhost.servicebus")

SERVICE_BUS_TRIGGER = "serviceBusTrigger"
SERVICE_BUS_OUTPUT = "serviceBus"
SERVICE_BUS_BINDINGS = (SERVICE_BUS_TRIGGER, SERVICE_BUS_OUTPUT)
DEFAULT_MAX_CONCURRENT_CALLS = 16
DEFAULT_LOCK_RENEWAL_SECONDS = 300.0
# How often the host checks the broker file for commits from other processes. The check is a
# read of SQLite's in-memory change counter, so a short interval costs little. With the
# wake-up socket bound, senders using the client wake the host at once and the check is only
# a safety net.
# NOTE: without the socket, a message from another process waits 1 ms on average.
WATCH_INTERVAL_SECONDS = 0.002
WATCH_INTERVAL_WITH_SOCKET_SECONDS = 0.05
# The maximum time a receiver sleeps without any signal, as a safety net.
IDLE_RECHECK_SECONDS = 1.0
# How long stop() waits for running invocations before cancelling them.
DRAIN_SECONDS = 5.0

T = TypeVar("T")


async def start(host: HostContext) -> ServiceBusHost | None:
    """Define the entities and start a receiver per Service Bus trigger; None without triggers.

    An invalid entity definition (a setting outside the emulator's limits, an unsupported
    filter) stops devhost's start-up with a message naming the entity and the rule.
    """
    from devhost.host import StartupError

    triggers = [f for f in host.functions if f.trigger_type == SERVICE_BUS_TRIGGER]
    bindings = [b for f in host.functions for b in f.bindings if b["type"] in SERVICE_BUS_BINDINGS]
    try:
        config_path = find_config(Path(host.app_dir), host.settings, dict(os.environ))
        if not bindings and config_path is None:
            return None
        namespace = load_config(config_path) if config_path else Namespace()
    except ConfigError as error:
        raise StartupError(str(error)) from error

    for function in triggers:
        check_supported(function, StartupError)
    namespace = with_implicit_entities(namespace, bindings)
    client = ServiceBusClient(host.state_dir, config=namespace)
    host.invoker.register_output(SERVICE_BUS_OUTPUT, OutputSender(client).send)
    released = client.release_stale_locks()
    if released:
        logger.info("Released %d message locks held by a host that is no longer running.", released)
    logger.info(
        "Service Bus broker at %s with entities from %s.",
        client.store.path,
        config_path or "the trigger bindings",
    )
    if not bindings:
        client.close()
        return None

    try:
        options = _service_bus_options(host.host_json)
    except ValueError as error:
        client.close()
        raise StartupError(str(error)) from error
    # With output bindings only, the host runs no receivers but keeps the client for sending.
    service = ServiceBusHost(client, triggers, host.invoker, options)
    service.start()
    return service


def check_supported(function: FunctionInfo, error: type[Exception]) -> None:
    """Reject trigger options whose behaviour devhost does not reproduce."""
    trigger = function.trigger
    if str(trigger.get("cardinality", "one")).lower() == "many":
        raise error(
            f"Service Bus trigger '{function.name}' uses cardinality 'many' (batches), which "
            "devhost does not run. Use cardinality 'one' (the default)."
        )
    if trigger.get("isSessionsEnabled"):
        raise error(
            f"Service Bus trigger '{function.name}' enables sessions, which devhost does not run. "
            "Set is_sessions_enabled=False."
        )


def _service_bus_options(host_json: dict[str, Any]) -> dict[str, float]:
    options = host_json.get("extensions", {}).get("serviceBus", {})
    renewal = options.get("maxAutoLockRenewalDuration")
    return {
        "max_concurrent_calls": int(
            options.get("maxConcurrentCalls", DEFAULT_MAX_CONCURRENT_CALLS)
        ),
        "lock_renewal_seconds": _timespan_seconds(renewal)
        if renewal
        else DEFAULT_LOCK_RENEWAL_SECONDS,
    }


_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d+):(\d+):(\d+(?:\.\d+)?)$")


def _timespan_seconds(text: str) -> float:
    """Parse a host.json TimeSpan such as `00:05:00` or `1.00:00:00` (d.hh:mm:ss) into seconds."""
    match = _TIMESPAN.match(str(text).strip())
    if match is None:
        raise ValueError(
            f"host.json extensions.serviceBus.maxAutoLockRenewalDuration={text!r} is not a "
            "TimeSpan; write it as hh:mm:ss, for example 00:05:00."
        )
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


class OutputSender:
    """The sender of the values a function sets on a `serviceBus` output binding."""

    def __init__(self, client: ServiceBusClient):
        self._client = client

    async def send(
        self, function: FunctionInfo, binding: dict[str, Any], datum: meta.Datum
    ) -> None:
        entity = binding.get("queueName") or binding.get("topicName")
        message = OutgoingMessage(body=datum.value)
        await asyncio.get_running_loop().run_in_executor(None, self._client.send, entity, message)


def trigger_entity(function: FunctionInfo) -> str:
    """Return the queue or `topic/Subscriptions/name` path a trigger receives from."""
    trigger = function.trigger
    if trigger.get("queueName"):
        return trigger["queueName"]
    return subscription_path(trigger["topicName"], trigger["subscriptionName"])


class ServiceBusHost:
    """The running trigger dispatch: receivers, the change watcher and the broker client."""

    def __init__(
        self,
        client: ServiceBusClient,
        functions: list[FunctionInfo],
        invoker: Invoker,
        options: dict[str, float],
    ):
        self.client = client
        # The dispatch makes every broker call on this one thread, so the event loop does not
        # wait on SQLite.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="servicebus")
        self._receivers = [
            TriggerReceiver(function, client, invoker, self._call, options)
            for function in functions
        ]
        self._tasks: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake_socket: WakeSocket | None = None

    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        add_listener(self.client.state_dir, self._wake_from_any_thread)
        self._wake_socket = WakeSocket.bind(self.client.state_dir)
        if self._wake_socket is not None:
            self._loop.add_reader(self._wake_socket.socket.fileno(), self._wake_from_socket)
        else:
            logger.warning(
                "Cannot bind the wake-up socket in %s (path too long?); messages from other "
                "processes are noticed by polling every %.0f ms.",
                self.client.state_dir,
                WATCH_INTERVAL_SECONDS * 1000,
            )
        for receiver in self._receivers:
            logger.info(
                "Service Bus trigger '%s' receives from '%s'.",
                receiver.function.name,
                receiver.entity,
            )
            self._tasks.append(
                asyncio.create_task(receiver.run(), name=f"servicebus:{receiver.entity}")
            )
        self._tasks.append(asyncio.create_task(self._watch(), name="servicebus:watch"))

    async def stop(self) -> None:
        """Stop receiving, let running invocations finish briefly, and release remaining locks."""
        remove_listener(self.client.state_dir, self._wake_from_any_thread)
        for receiver in self._receivers:
            receiver.stopping = True
        if self._wake_socket is not None:
            asyncio.get_running_loop().remove_reader(self._wake_socket.socket.fileno())
            self._wake_socket.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await asyncio.gather(*(receiver.drain(DRAIN_SECONDS) for receiver in self._receivers))

        owner = self.client.owner
        released = await self._call(self.client.store.release_locks, lambda o: o == owner, _now())
        if released:
            logger.info(
                "Released %d message locks of unfinished invocations at shutdown.", released
            )
        self._executor.shutdown(wait=True)
        self.client.close()

    async def _call(self, function: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    def _wake_all(self) -> None:
        for receiver in self._receivers:
            receiver.wake.set()

    def _wake_from_socket(self) -> None:
        self._wake_socket.drain()
        self._wake_all()

    def _wake_from_any_thread(self) -> None:
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake_all)

    async def _watch(self) -> None:
        watcher = ChangeWatcher(self.client.state_dir)
        # A commit made before the watcher took its baseline would go unnoticed; look once.
        self._wake_all()
        try:
            interval = (
                WATCH_INTERVAL_SECONDS
                if self._wake_socket is None
                else WATCH_INTERVAL_WITH_SOCKET_SECONDS
            )
            while True:
                await asyncio.sleep(interval)
                if watcher.changed():
                    self._wake_all()
        finally:
            watcher.close()


class TriggerReceiver:
    """The receiver of one function: it locks messages and settles each after the call."""

    def __init__(
        self,
        function: FunctionInfo,
        client: ServiceBusClient,
        invoker: Invoker,
        call: Callable[..., Any],
        options: dict[str, float],
    ):
        self.function = function
        self.entity = trigger_entity(function)
        self.wake = asyncio.Event()
        self._client = client
        self._invoker = invoker
        self._call = call
        self._max_concurrent = int(options["max_concurrent_calls"])
        self._lock_renewal_seconds = options["lock_renewal_seconds"]
        settings = client.store.entity(self.entity).settings
        self._lock_duration = settings.lock_duration
        self._max_delivery_count = settings.max_delivery_count
        self._inflight: set[asyncio.Task[None]] = set()
        self.stopping = False

    async def run(self) -> None:
        # The loop also checks `stopping`, because asyncio.wait_for in Python 3.11 can swallow
        # a cancellation that arrives just as the wake-up event is set.
        while not self.stopping:
            free = self._max_concurrent - len(self._inflight)
            received: list[ReceivedMessage] = []
            if free > 0:
                self.wake.clear()
                received = await self._call(self._client.receive, self.entity, free)
                for message in received:
                    task = asyncio.create_task(self._handle(message))
                    self._inflight.add(task)
                    task.add_done_callback(self._finished)
            if received and len(self._inflight) < self._max_concurrent:
                continue

            due = await self._call(self._client.next_due, self.entity)
            timeout = IDLE_RECHECK_SECONDS if due is None else min(due, IDLE_RECHECK_SECONDS)
            await wait_for_event(self.wake, timeout)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._inflight.discard(task)
        self.wake.set()

    async def drain(self, timeout: float) -> None:
        if not self._inflight:
            return
        _, pending = await asyncio.wait(set(self._inflight), timeout=timeout)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _handle(self, message: ReceivedMessage) -> None:
        context = {
            "function": self.function.name,
            "entity": self.entity,
            "message_id": message.message_id,
            "delivery_count": message.delivery_count,
        }
        try:
            await self._invoke(message)
        except Exception as error:
            cause = error.__cause__ or error
            logger.error(
                "Function '%s' failed on message %s from '%s' (delivery %d of %d): %s: %s. "
                "Abandoning the message.",
                self.function.name,
                message.message_id,
                self.entity,
                message.delivery_count,
                self._max_delivery_count,
                type(cause).__name__,
                cause,
                extra=context,
            )
            await self._settle(self._client.abandon, message, context)
            if message.delivery_count >= self._max_delivery_count:
                logger.warning(
                    "Message %s from '%s' moved to the dead-letter queue: MaxDeliveryCountExceeded "
                    "after %d deliveries. Fix the cause, then resubmit it with "
                    "`python -m devhost servicebus resubmit`.",
                    message.message_id,
                    self.entity,
                    message.delivery_count,
                    extra=context,
                )
            return
        await self._settle(self._client.complete, message, context)

    async def _invoke(self, message: ReceivedMessage) -> None:
        now = datetime.now(UTC)
        invocation = asyncio.ensure_future(
            self._invoker.invoke(
                self.function,
                trigger=trigger_data(message, self.function.trigger),
                trigger_metadata=trigger_metadata(message, self.function.name, now),
                trace_parent=str(message.application_properties.get("traceparent") or ""),
            )
        )
        renew_until = asyncio.get_running_loop().time() + self._lock_renewal_seconds
        try:
            while True:
                done, _ = await asyncio.wait({invocation}, timeout=self._lock_duration / 2)
                if done:
                    invocation.result()
                    return
                if asyncio.get_running_loop().time() < renew_until:
                    await self._call(self._client.renew_lock, message)
        finally:
            invocation.cancel()

    async def _settle(
        self,
        action: Callable[[ReceivedMessage], None],
        message: ReceivedMessage,
        context: dict[str, Any],
    ) -> None:
        try:
            await self._call(action, message)
        except MessageLockLostError as error:
            logger.warning(
                "Could not %s message %s from '%s': %s It will be delivered again.",
                action.__name__,
                message.message_id,
                self.entity,
                error,
                extra=context,
            )


def _now() -> float:
    return datetime.now(UTC).timestamp()
