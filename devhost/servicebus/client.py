"""Client for the embedded Service Bus: any process on the machine sends and receives through it.

The broker is a SQLite file (`<state>/servicebus.sqlite3`) shared by every process that opens it:
devhost's trigger dispatch, the app's embedded publisher, the carrier simulator and the
operator commands. Delivery is at least once. A receiver locks messages (peek-lock) and
completes, abandons or dead-letters them, and a lock that runs out makes the message
available again.

Receivers learn of new messages in three ways. A sender in the same process calls the
listeners registered with `add_listener` right after its commit. A sender in another process
sends one datagram to the wake-up socket `<state>/servicebus.wake` that devhost binds, when
that socket exists. And `ChangeWatcher` notices commits from other processes through SQLite's
`PRAGMA data_version`, a cheap in-memory check, for receivers without a socket.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from devhost.servicebus.config import Namespace, load_config
from devhost.servicebus.messages import OutgoingMessage, ReceivedMessage, to_datetime
from devhost.servicebus.store import (
    DATABASE_NAME,
    BrokerStore,
    EntityCounts,
    EntityNotFoundError,
    MessageLockLostError,
    subscription_path,
)
from devhost.wake import bind_datagram, drain

WAKE_SOCKET_NAME = "servicebus.wake"

__all__ = [
    "ChangeWatcher",
    "EntityNotFoundError",
    "MessageLockLostError",
    "OutgoingMessage",
    "ReceivedMessage",
    "ServiceBusClient",
    "WakeSocket",
    "add_listener",
    "remove_listener",
    "subscription_path",
]

_listeners: dict[Path, set[Callable[[], None]]] = {}
_listeners_lock = threading.Lock()


def add_listener(state_dir: str | Path, callback: Callable[[], None]) -> None:
    """Call `callback` (from the sending thread) after every send in this process to that broker."""
    with _listeners_lock:
        _listeners.setdefault(_database_path(state_dir), set()).add(callback)


def remove_listener(state_dir: str | Path, callback: Callable[[], None]) -> None:
    with _listeners_lock:
        _listeners.get(_database_path(state_dir), set()).discard(callback)


def _notify(database: Path) -> None:
    """Wake the receivers of this broker: in-process listeners, else devhost's wake-up socket."""
    with _listeners_lock:
        callbacks = list(_listeners.get(database, ()))
    for callback in callbacks:
        callback()
    if not callbacks:
        _send_wake_datagram(database.parent / WAKE_SOCKET_NAME)


_wake_sender: socket.socket | None = None


def _send_wake_datagram(path: Path) -> None:
    # A missing socket (no devhost running) or a full one (devhost is awake with datagrams
    # still queued) needs no wake-up, so every OSError is ignored.
    global _wake_sender
    try:
        if _wake_sender is None:
            _wake_sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            _wake_sender.setblocking(False)
        _wake_sender.sendto(b"\x01", str(path))
    except OSError:
        pass


class WakeSocket:
    """The datagram socket devhost binds in the state folder so senders can wake it at once.

    Binding fails when the socket path is longer than the system allows (about 107 bytes);
    `bind` then returns None and devhost relies on `ChangeWatcher` alone.
    """

    def __init__(self, path: Path, sock: socket.socket):
        self.path = path
        self.socket = sock

    @classmethod
    def bind(cls, state_dir: str | Path) -> WakeSocket | None:
        path = Path(state_dir).resolve() / WAKE_SOCKET_NAME
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
        sock = bind_datagram(str(path))
        return None if sock is None else cls(path, sock)

    def drain(self) -> None:
        """Read every queued datagram; their content carries nothing."""
        drain(self.socket)

    def close(self) -> None:
        self.socket.close()
        self.path.unlink(missing_ok=True)


def _database_path(state_dir: str | Path) -> Path:
    return (Path(state_dir) / DATABASE_NAME).resolve()


class ServiceBusClient:
    """Send, receive (peek-lock), settle and inspect messages of the broker in `state_dir`.

    Pass `config` (a Config.json path or a parsed Namespace) to define the entities; without
    it the client uses the entities devhost recorded when it started. `clock` returns seconds
    since the epoch; tests pass their own to move time without sleeping. Thread-safe.
    """

    def __init__(
        self,
        state_dir: str | Path,
        *,
        config: str | Path | Namespace | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.state_dir = Path(state_dir)
        self.owner = f"pid:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._clock = clock
        self._store = BrokerStore(self.state_dir)
        self._database = _database_path(self.state_dir)
        if config is not None:
            namespace = config if isinstance(config, Namespace) else load_config(Path(config))
            self._store.apply_namespace(namespace)

    def close(self) -> None:
        self._store.close()

    def __enter__(self) -> ServiceBusClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    @property
    def store(self) -> BrokerStore:
        return self._store

    def send(
        self, entity: str, messages: OutgoingMessage | list[OutgoingMessage]
    ) -> list[int | None]:
        """Send to a queue or topic; return sequence numbers, None for each dropped duplicate."""
        batch = messages if isinstance(messages, list) else [messages]
        sequence_numbers = self._store.send(entity, batch, self._clock())
        _notify(self._database)
        return sequence_numbers

    def schedule(self, entity: str, message: OutgoingMessage, enqueue_time: datetime) -> int | None:
        """Send a message that becomes receivable at enqueue_time (timezone-aware)."""
        message.scheduled_enqueue_time = enqueue_time
        return self.send(entity, message)[0]

    def cancel_scheduled(self, entity: str, sequence_number: int) -> bool:
        return self._store.cancel_scheduled(entity, sequence_number, self._clock()) > 0

    def receive(self, entity: str, max_count: int = 1) -> list[ReceivedMessage]:
        """Lock up to max_count messages; the path `entity/$DeadLetterQueue` reads dead letters."""
        return self._store.receive(entity, max_count, self.owner, self._clock())

    def complete(self, message: ReceivedMessage) -> None:
        self._store.complete(_lock_token(message), self._clock())

    def abandon(self, message: ReceivedMessage) -> None:
        self._store.abandon(_lock_token(message), self._clock())
        _notify(self._database)

    def dead_letter(
        self, message: ReceivedMessage, reason: str | None = None, description: str | None = None
    ) -> None:
        self._store.dead_letter(_lock_token(message), reason, description, self._clock())

    def renew_lock(self, message: ReceivedMessage) -> datetime:
        locked_until = self._store.renew_lock(_lock_token(message), self._clock())
        return to_datetime(locked_until)

    def peek(
        self, entity: str, max_count: int = 10, from_sequence: int = 0
    ) -> list[ReceivedMessage]:
        return self._store.peek(entity, max_count, self._clock(), from_sequence)

    def counts(self) -> list[EntityCounts]:
        return self._store.counts(self._clock())

    def resubmit(self, entity: str, message_id: str | None = None) -> int:
        """Move dead letters of entity (one message id, or all) back to it; return how many."""
        moved = self._store.resubmit(entity, message_id, self._clock())
        _notify(self._database)
        return moved

    def release_stale_locks(self) -> int:
        """Release locks held by processes that no longer run (a host that was killed)."""
        released = self._store.release_locks(_owner_is_gone, self._clock())
        if released:
            _notify(self._database)
        return released

    def next_due(self, entity: str) -> float | None:
        """Seconds until a scheduled message or a lock on entity falls due, or None."""
        due = self._store.next_due(entity, self._clock())
        return None if due is None else max(0.0, due - self._clock())


class ChangeWatcher:
    """Tells whether another connection committed to the broker file since the last check."""

    def __init__(self, state_dir: str | Path):
        self._connection = sqlite3.connect(_database_path(state_dir), isolation_level=None)
        self._version = self._read()

    def _read(self) -> int:
        return self._connection.execute("PRAGMA data_version").fetchone()[0]

    def changed(self) -> bool:
        version = self._read()
        changed = version != self._version
        self._version = version
        return changed

    def close(self) -> None:
        self._connection.close()


def _lock_token(message: ReceivedMessage) -> str:
    if message.lock_token is None:
        raise MessageLockLostError(
            f"Message {message.message_id} carries no lock token: it was peeked, not received, "
            "or its lock had expired. Receive it to settle it."
        )
    return message.lock_token


def _owner_is_gone(owner: str) -> bool:
    """Tell whether the process of an owner `pid:<pid>:<id>` no longer exists.

    NOTE: a process id the system has reused looks alive, so that lock waits for its expiry.
    """
    try:
        pid = int(owner.split(":")[1])
    except (IndexError, ValueError):
        return False
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False
