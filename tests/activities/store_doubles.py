"""Test doubles for activity tests: a recording publisher and a store that loses ETag races."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

from domain.messages import CloudEvent
from domain.ports import Ports


class RecordingPublisher:
    """An EventPublisher that keeps every published envelope, in order."""

    def __init__(self) -> None:
        self.events: list[CloudEvent] = []
        self._lock = threading.Lock()

    def publish(self, event: CloudEvent) -> None:
        with self._lock:
            self.events.append(event)

    @property
    def ids(self) -> list[str]:
        return [event.id for event in self.events]


class RacingStore:
    """Wraps a DocumentStore and, for the next `races` reads, lets a competing writer change the
    document just after it was read, so the caller's ETag is stale when it writes."""

    def __init__(self, store: Any, compete: Any, races: int = 1) -> None:
        self._store = store
        self._compete = compete
        self.races = races
        self.name = store.name

    def read(self, document_id: str, partition_key: str):
        document = self._store.read(document_id, partition_key)
        if self.races > 0:
            self.races -= 1
            self._compete(self._store, document)
        return document

    def __getattr__(self, attribute: str):
        return getattr(self._store, attribute)


def with_racing_store(ports: Ports, field: str, compete: Any, races: int = 1) -> Ports:
    """Return `ports` with one store wrapped in a RacingStore."""
    return replace(ports, **{field: RacingStore(getattr(ports, field), compete, races)})
