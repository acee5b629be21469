"""The EventPublisher for devhost's embedded Service Bus broker, used when no namespace is set.

It builds each message with the same mapping as the Azure Service Bus publisher (message id =
event id, correlation id, subject = event type, content type, `traceparent`) and sends it
through devhost's broker client to the SQLite file in the state folder, where devhost's
trigger dispatch, the carrier simulator and the operator commands read it.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from adapters.messaging import current_traceparent, message_properties, send_span
from domain.messages import CloudEvent

logger = logging.getLogger(__name__)

APP_ROOT = Path(__file__).resolve().parents[1]
CONFIG_SETTING = "DEVHOST_SERVICEBUS_CONFIG"
DEFAULT_CONFIG = "infra/servicebus/Config.json"


class EmbeddedPublisher:
    """Sends each event to its entity in the embedded broker under `state_dir`.

    The entities are those devhost recorded at start-up. When the broker lacks an entity (the
    app runs without devhost, in a test or a script), the publisher defines the entities from
    the app's Config.json (the DEVHOST_SERVICEBUS_CONFIG setting, else the default path) once
    and sends again.
    """

    def __init__(
        self,
        state_dir: str | Path,
        traceparent: Callable[[], str | None] = current_traceparent,
        config: str | Path | None = None,
    ) -> None:
        self.state_dir = Path(state_dir)
        self._traceparent = traceparent
        self._config = Path(config) if config else _app_config()
        self._client: Any = None
        self._lock = threading.Lock()

    def publish(self, event: CloudEvent) -> None:
        """Send one event; returns once the broker file has committed it."""
        from devhost.servicebus.client import EntityNotFoundError, OutgoingMessage

        client = self._connect()
        with send_span(event):
            message = OutgoingMessage(**message_properties(event, self._traceparent()))
            try:
                sequence_number = client.send(event.entity, message)[0]
            except EntityNotFoundError:
                if self._config is None or not self._config.is_file():
                    raise
                self._define_entities(client)
                sequence_number = client.send(event.entity, message)[0]

        if sequence_number is None:
            context = {"messageId": event.id, "eventType": event.type, "entity": event.entity}
            logger.info("duplicate event dropped by the broker %s", context, extra=context)

    def close(self) -> None:
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None

    def _connect(self) -> Any:
        with self._lock:
            if self._client is None:
                from devhost.servicebus.client import ServiceBusClient

                self._client = ServiceBusClient(self.state_dir)
            return self._client

    def _define_entities(self, client: Any) -> None:
        from devhost.servicebus.config import load_config

        logger.warning(
            "the embedded broker in %s has no entities yet; defining them from %s",
            self.state_dir,
            self._config,
        )
        client.store.apply_namespace(load_config(self._config))


def _app_config() -> Path | None:
    configured = os.environ.get(CONFIG_SETTING)
    path = APP_ROOT / (configured or DEFAULT_CONFIG)
    return path if path.is_file() else None
