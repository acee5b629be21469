"""The EventPublisher for Azure Service Bus: one sender per entity, identity-based auth."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from azure.servicebus import ServiceBusClient, ServiceBusMessage

from adapters.messaging import (
    current_traceparent,
    is_topic,
    message_properties,
    send_span,
)
from domain.messages import CloudEvent


def _default_client(namespace: str) -> ServiceBusClient:
    from azure.identity import DefaultAzureCredential

    return ServiceBusClient(
        fully_qualified_namespace=namespace, credential=DefaultAzureCredential()
    )


class ServiceBusPublisher:
    """Sends each event to its entity's sender, creating the client and senders on first use.

    A ServiceBusSender is not thread-safe, and activities publish from several threads, so each
    sender is used under its own lock.
    """

    def __init__(
        self,
        namespace: str,
        client_factory: Callable[[str], Any] = _default_client,
        traceparent: Callable[[], str | None] = current_traceparent,
    ) -> None:
        self.namespace = namespace
        self._client_factory = client_factory
        self._traceparent = traceparent
        self._client: Any = None
        self._senders: dict[str, tuple[Any, threading.Lock]] = {}
        self._lock = threading.Lock()

    def publish(self, event: CloudEvent) -> None:
        sender, lock = self._sender(event.entity)

        with send_span(event):
            message = ServiceBusMessage(**message_properties(event, self._traceparent()))
            with lock:
                sender.send_messages(message)

    def close(self) -> None:
        """Close every sender and the client."""
        with self._lock:
            for sender, _ in self._senders.values():
                sender.close()
            self._senders.clear()
            if self._client is not None:
                self._client.close()
                self._client = None

    def _sender(self, entity: str) -> tuple[Any, threading.Lock]:
        with self._lock:
            if entity not in self._senders:
                if self._client is None:
                    self._client = self._client_factory(self.namespace)
                sender = (
                    self._client.get_topic_sender(topic_name=entity)
                    if is_topic(entity)
                    else self._client.get_queue_sender(queue_name=entity)
                )
                self._senders[entity] = (sender, threading.Lock())
            return self._senders[entity]
