"""The broker's SQLite file: entities, messages, locks, dead letters and duplicate detection.

Every operation is one short transaction, so any number of processes can share the file (WAL
mode). Times are seconds since the epoch (UTC). A message row belongs to one receiving entity,
which is a queue or one subscription of a topic. A topic fans a sent message out into one row
per subscription whose rules match, all with the topic's sequence number.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from devhost.servicebus.config import EntitySettings, Namespace
from devhost.servicebus.filters import MessageView, Rule, matches_any, parse_rule
from devhost.servicebus.messages import (
    STATE_ACTIVE,
    STATE_SCHEDULED,
    SYSTEM_PROPERTIES,
    OutgoingMessage,
    ReceivedMessage,
    to_datetime,
)

DATABASE_NAME = "servicebus.sqlite3"
DEAD_LETTER_SUFFIX = "/$DeadLetterQueue"
MAX_DELIVERY_REASON = "MaxDeliveryCountExceeded"
TTL_EXPIRED_REASON = "TTLExpiredException"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entity (
    path TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    topic TEXT,
    settings TEXT NOT NULL,
    rules TEXT NOT NULL DEFAULT '[]',
    last_sequence INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS message (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL,
    dead_letter INTEGER NOT NULL DEFAULT 0,
    sequence_number INTEGER NOT NULL,
    enqueued_sequence_number INTEGER NOT NULL,
    message_id TEXT NOT NULL,
    body BLOB NOT NULL,
    properties TEXT NOT NULL,
    application_properties TEXT NOT NULL,
    enqueued_at REAL NOT NULL,
    scheduled INTEGER NOT NULL DEFAULT 0,
    ttl REAL NOT NULL,
    expires_at REAL NOT NULL,
    delivery_count INTEGER NOT NULL DEFAULT 0,
    lock_token TEXT,
    locked_until REAL,
    lock_owner TEXT,
    dead_letter_reason TEXT,
    dead_letter_description TEXT
);
CREATE INDEX IF NOT EXISTS message_by_entity ON message (path, dead_letter, sequence_number);
CREATE UNIQUE INDEX IF NOT EXISTS message_by_lock ON message (lock_token);
CREATE TABLE IF NOT EXISTS duplicate (
    path TEXT NOT NULL,
    message_id TEXT NOT NULL,
    first_seen REAL NOT NULL,
    PRIMARY KEY (path, message_id)
) WITHOUT ROWID;
-- Each send deletes the entity's ids older than its window; without this index that delete
-- reads every id of the entity in the window (tens of thousands at 20 sends/s over 5 min).
CREATE INDEX IF NOT EXISTS duplicate_by_age ON duplicate (path, first_seen);
"""


class EntityNotFoundError(LookupError):
    """The entity path is not defined in the broker file."""


class MessageLockLostError(RuntimeError):
    """The lock token is unknown: the lock expired, or the message was settled already."""


@dataclass(frozen=True)
class Entity:
    """A queue, topic or subscription as recorded in the broker file."""

    path: str
    kind: str
    topic: str | None
    settings: EntitySettings
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class EntityCounts:
    """How many messages an entity holds, by kind."""

    path: str
    kind: str
    active: int
    scheduled: int
    dead_letter: int


def subscription_path(topic: str, subscription: str) -> str:
    return f"{topic}/Subscriptions/{subscription}"


def split_dead_letter(path: str) -> tuple[str, bool]:
    """Split `entity/$DeadLetterQueue` into (entity, True); any other path into (path, False)."""
    if path.lower().endswith(DEAD_LETTER_SUFFIX.lower()):
        return path[: -len(DEAD_LETTER_SUFFIX)], True
    return path, False


class BrokerStore:
    """One connection to the broker file; thread-safe, every method one transaction."""

    def __init__(self, state_dir: str | Path):
        self.path = Path(state_dir) / DATABASE_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._connection = sqlite3.connect(
            self.path, isolation_level=None, check_same_thread=False, timeout=10.0
        )
        self._connection.row_factory = sqlite3.Row
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=NORMAL")
        self._connection.executescript(_SCHEMA)
        self._entities: dict[str, Entity] = {}

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield self._connection
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")

    # Entities

    def apply_namespace(self, namespace: Namespace) -> None:
        """Record every queue, topic and subscription; existing entities take the new settings."""
        rows = []
        for name, settings in namespace.queues.items():
            rows.append((name, "queue", None, settings, ()))
        for topic in namespace.topics.values():
            rows.append((topic.name, "topic", None, topic.settings, ()))
            for sub in topic.subscriptions.values():
                rows.append(
                    (
                        subscription_path(topic.name, sub.name),
                        "subscription",
                        topic.name,
                        sub.settings,
                        sub.rules,
                    )
                )

        with self._write() as db:
            for path, kind, topic_name, settings, rules in rows:
                db.execute(
                    "INSERT INTO entity (path, kind, topic, settings, rules) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (path) DO UPDATE SET "
                    "kind = excluded.kind, topic = excluded.topic, "
                    "settings = excluded.settings, rules = excluded.rules",
                    (
                        path,
                        kind,
                        topic_name,
                        json.dumps(settings.to_json()),
                        json.dumps([dict(rule.source) for rule in rules]),
                    ),
                )
        self._entities.clear()

    def entities(self) -> dict[str, Entity]:
        """Return every recorded entity by path, read from the file once and cached."""
        with self._lock:
            if not self._entities:
                for row in self._connection.execute("SELECT * FROM entity ORDER BY path"):
                    self._entities[row["path"]] = Entity(
                        row["path"],
                        row["kind"],
                        row["topic"],
                        EntitySettings.from_json(json.loads(row["settings"])),
                        tuple(parse_rule(rule) for rule in json.loads(row["rules"])),
                    )
            return self._entities

    def entity(self, path: str) -> Entity:
        entity = self.entities().get(path)
        if entity is None:
            self._entities.clear()
            entity = self.entities().get(path)
        if entity is None:
            known = ", ".join(sorted(self.entities())) or "none"
            raise EntityNotFoundError(
                f"Service Bus entity '{path}' is not defined in {self.path} (defined: {known}). "
                "Add it to the entity definition (Config.json) and start devhost, "
                "or check the name."
            )
        return entity

    def subscriptions(self, topic: str) -> list[Entity]:
        return [
            e for e in self.entities().values() if e.kind == "subscription" and e.topic == topic
        ]

    # Sending

    def send(self, path: str, messages: list[OutgoingMessage], now: float) -> list[int | None]:
        """Enqueue (or schedule) messages on a queue or topic in one transaction.

        Returns each message's sequence number, or None for a duplicate dropped by duplicate
        detection. A topic message that no subscription takes is dropped, as Service Bus does.
        """
        entity = self.entity(path)
        if entity.kind == "subscription":
            raise EntityNotFoundError(
                f"Cannot send to subscription '{path}'; send to its topic '{entity.topic}'."
            )
        for message in messages:
            message.check()
        # NOTE: a scheduled topic message meets the subscription rules now, at send time;
        # Service Bus applies them when the message is enqueued.
        targets = self.subscriptions(path) if entity.kind == "topic" else [entity]

        sequence_numbers: list[int | None] = []
        with self._write() as db:
            for message in messages:
                system = message.system_properties()
                if self._is_duplicate(db, entity, system["message_id"], now):
                    sequence_numbers.append(None)
                    continue
                sequence = self._next_sequence(db, path)
                view = _filter_view(system, message.application_properties)
                for target in targets:
                    if entity.kind == "queue" or matches_any(target.rules, view):
                        self._insert(db, target, message, system, sequence, now)
                sequence_numbers.append(sequence)
        return sequence_numbers

    def _is_duplicate(
        self, db: sqlite3.Connection, entity: Entity, message_id: str, now: float
    ) -> bool:
        settings = entity.settings
        if not settings.requires_duplicate_detection:
            return False

        window_start = now - settings.duplicate_detection_window
        row = db.execute(
            "SELECT first_seen FROM duplicate WHERE path = ? AND message_id = ?",
            (entity.path, message_id),
        ).fetchone()
        if row is not None and row["first_seen"] > window_start:
            return True

        db.execute(
            "INSERT OR REPLACE INTO duplicate (path, message_id, first_seen) VALUES (?, ?, ?)",
            (entity.path, message_id, now),
        )
        db.execute(
            "DELETE FROM duplicate WHERE path = ? AND first_seen <= ?", (entity.path, window_start)
        )
        return False

    def _next_sequence(self, db: sqlite3.Connection, path: str) -> int:
        row = db.execute(
            "UPDATE entity SET last_sequence = last_sequence + 1 WHERE path = ? "
            "RETURNING last_sequence",
            (path,),
        ).fetchone()
        return int(row[0])

    def _insert(
        self,
        db: sqlite3.Connection,
        target: Entity,
        message: OutgoingMessage,
        system: dict[str, str],
        sequence: int,
        now: float,
    ) -> None:
        ttl = target.settings.default_message_ttl
        if message.time_to_live is not None:
            ttl = min(ttl, message.time_to_live.total_seconds())
        scheduled = message.scheduled_enqueue_time is not None
        enqueued_at = message.scheduled_enqueue_time.timestamp() if scheduled else now
        enqueued_at = max(enqueued_at, now) if scheduled else now

        db.execute(
            "INSERT INTO message (path, sequence_number, enqueued_sequence_number, message_id, "
            "body, properties, application_properties, enqueued_at, scheduled, ttl, expires_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                target.path,
                sequence,
                sequence,
                system["message_id"],
                message.body_bytes(),
                json.dumps(system),
                json.dumps(message.application_properties),
                enqueued_at,
                int(scheduled),
                ttl,
                enqueued_at + ttl,
            ),
        )

    def cancel_scheduled(self, path: str, sequence_number: int, now: float) -> int:
        """Remove a scheduled message that is not yet enqueued; return how many rows went."""
        self.entity(path)
        with self._write() as db:
            cursor = db.execute(
                "DELETE FROM message WHERE sequence_number = ? AND scheduled = 1 "
                "AND enqueued_at > ? "
                "AND (path = ? OR path IN (SELECT path FROM entity WHERE topic = ?))",
                (sequence_number, now, path, path),
            )
            return cursor.rowcount

    # Receiving and settling

    def receive(self, path: str, max_count: int, owner: str, now: float) -> list[ReceivedMessage]:
        """Lock up to max_count available messages in sequence order (peek-lock)."""
        entity_path, dead_letter = split_dead_letter(path)
        entity = self._receiving_entity(entity_path)
        lock_until = now + entity.settings.lock_duration

        # A read first: a receiver woken by an unrelated commit then leaves the file untouched,
        # so its own empty receive does not wake other processes' receivers in turn.
        if not self._has_unlocked(entity.path, dead_letter, now):
            return []

        with self._write() as db:
            if not dead_letter:
                self._expire(db, entity, now)
            rows = db.execute(
                "SELECT id FROM message WHERE path = ? AND dead_letter = ? AND enqueued_at <= ? "
                "AND (locked_until IS NULL OR locked_until <= ?) ORDER BY sequence_number LIMIT ?",
                (entity.path, int(dead_letter), now, now, max_count),
            ).fetchall()
            received = []
            for row in rows:
                locked = db.execute(
                    "UPDATE message SET delivery_count = delivery_count + 1, lock_token = ?, "
                    "locked_until = ?, lock_owner = ? WHERE id = ? RETURNING *",
                    (str(uuid.uuid4()), lock_until, owner, row["id"]),
                ).fetchone()
                received.append(_to_received(locked, now))
        return received

    def _has_unlocked(self, path: str, dead_letter: bool, now: float) -> bool:
        with self._lock:
            row = self._connection.execute(
                "SELECT 1 FROM message WHERE path = ? AND dead_letter = ? AND enqueued_at <= ? "
                "AND (locked_until IS NULL OR locked_until <= ?) LIMIT 1",
                (path, int(dead_letter), now, now),
            ).fetchone()
        return row is not None

    def _receiving_entity(self, path: str) -> Entity:
        entity = self.entity(path)
        if entity.kind == "topic":
            raise EntityNotFoundError(
                f"Cannot receive from topic '{path}'; receive from one of its subscriptions "
                f"('{subscription_path(path, '<name>')}')."
            )
        return entity

    def _expire(self, db: sqlite3.Connection, entity: Entity, now: float) -> None:
        """Dead-letter unlocked messages past the max delivery count, then expired ones."""
        settings = entity.settings
        db.execute(
            "UPDATE message SET dead_letter = 1, lock_token = NULL, locked_until = NULL, "
            "lock_owner = NULL, dead_letter_reason = ?, dead_letter_description = ? "
            "WHERE path = ? AND dead_letter = 0 AND delivery_count >= ? "
            "AND (locked_until IS NULL OR locked_until <= ?)",
            (
                MAX_DELIVERY_REASON,
                f"Message could not be consumed after {settings.max_delivery_count} "
                "delivery attempts.",
                entity.path,
                settings.max_delivery_count,
                now,
            ),
        )
        unlocked_and_expired = (
            "path = ? AND dead_letter = 0 AND expires_at <= ? "
            "AND (locked_until IS NULL OR locked_until <= ?)"
        )
        if settings.dead_lettering_on_message_expiration:
            db.execute(
                "UPDATE message SET dead_letter = 1, lock_token = NULL, locked_until = NULL, "
                "lock_owner = NULL, dead_letter_reason = ?, dead_letter_description = ? "
                f"WHERE {unlocked_and_expired}",
                (
                    TTL_EXPIRED_REASON,
                    "The message expired and was dead lettered.",
                    entity.path,
                    now,
                    now,
                ),
            )
        else:
            db.execute(f"DELETE FROM message WHERE {unlocked_and_expired}", (entity.path, now, now))

    def complete(self, lock_token: str, now: float) -> None:
        with self._write() as db:
            cursor = db.execute(
                "DELETE FROM message WHERE lock_token = ? AND locked_until > ?", (lock_token, now)
            )
            _check_settled(cursor, lock_token)

    def abandon(self, lock_token: str, now: float) -> None:
        """Release the lock; a message that used its last delivery goes to the dead-letter queue."""
        with self._write() as db:
            row = db.execute(
                "UPDATE message SET lock_token = NULL, locked_until = NULL, lock_owner = NULL "
                "WHERE lock_token = ? AND locked_until > ? RETURNING path, dead_letter",
                (lock_token, now),
            ).fetchone()
            if row is None:
                raise _lock_lost(lock_token)
            if not row["dead_letter"]:
                self._expire(db, self.entity(row["path"]), now)

    def dead_letter(
        self, lock_token: str, reason: str | None, description: str | None, now: float
    ) -> None:
        with self._write() as db:
            cursor = db.execute(
                "UPDATE message SET dead_letter = 1, lock_token = NULL, locked_until = NULL, "
                "lock_owner = NULL, dead_letter_reason = ?, dead_letter_description = ? "
                "WHERE lock_token = ? AND locked_until > ? AND dead_letter = 0",
                (reason, description, lock_token, now),
            )
            _check_settled(cursor, lock_token)

    def renew_lock(self, lock_token: str, now: float) -> float:
        """Extend a held lock by the entity's lock duration; return the new locked-until time."""
        with self._write() as db:
            row = db.execute(
                "SELECT path FROM message WHERE lock_token = ? AND locked_until > ?",
                (lock_token, now),
            ).fetchone()
            if row is None:
                raise _lock_lost(lock_token)
            locked_until = now + self.entity(row["path"]).settings.lock_duration
            db.execute(
                "UPDATE message SET locked_until = ? WHERE lock_token = ?",
                (locked_until, lock_token),
            )
            return locked_until

    def release_locks(self, is_stale: Callable[[str], bool], now: float) -> int:
        """Release locks whose owner is stale (a process that is gone); return how many."""
        with self._write() as db:
            owners = [
                row["lock_owner"]
                for row in db.execute(
                    "SELECT DISTINCT lock_owner FROM message WHERE locked_until > ? "
                    "AND lock_owner IS NOT NULL",
                    (now,),
                )
            ]
            released = 0
            for owner in filter(is_stale, owners):
                cursor = db.execute(
                    "UPDATE message SET lock_token = NULL, locked_until = NULL, lock_owner = NULL "
                    "WHERE lock_owner = ? AND locked_until > ?",
                    (owner, now),
                )
                released += cursor.rowcount
            return released

    # Inspection and operations

    def peek(
        self, path: str, max_count: int, now: float, from_sequence: int = 0
    ) -> list[ReceivedMessage]:
        """Read messages without locking them, active and scheduled, in sequence order."""
        entity_path, dead_letter = split_dead_letter(path)
        entity = self._receiving_entity(entity_path)
        with self._lock:
            rows = self._connection.execute(
                "SELECT * FROM message WHERE path = ? AND dead_letter = ? AND sequence_number >= ? "
                "ORDER BY sequence_number LIMIT ?",
                (entity.path, int(dead_letter), from_sequence, max_count),
            ).fetchall()
        return [_to_received(row, now) for row in rows]

    def counts(self, now: float) -> list[EntityCounts]:
        with self._lock:
            rows = {
                row["path"]: row
                for row in self._connection.execute(
                    "SELECT path, SUM(dead_letter = 0 AND enqueued_at <= ?) AS active, "
                    "SUM(dead_letter = 0 AND enqueued_at > ?) AS scheduled, "
                    "SUM(dead_letter = 1) AS dead_letter FROM message GROUP BY path",
                    (now, now),
                )
            }
        result = []
        for entity in self.entities().values():
            row = rows.get(entity.path)
            values = (
                [int(row[key] or 0) for key in ("active", "scheduled", "dead_letter")]
                if row
                else [0, 0, 0]
            )
            result.append(EntityCounts(entity.path, entity.kind, *values))
        return result

    def resubmit(self, path: str, message_id: str | None, now: float) -> int:
        """Move dead letters (one message id, or all) back to their entity as new messages.

        They bypass duplicate detection, start with delivery count 0 and a fresh time to live,
        and keep their body and properties. A subscription's dead letters return to that
        subscription only, not to the topic's other subscriptions.
        """
        entity = self._receiving_entity(split_dead_letter(path)[0])
        sequence_owner = entity.topic or entity.path
        match_id = "" if message_id is None else " AND message_id = ?"
        parameters: tuple[Any, ...] = (
            (entity.path,) if message_id is None else (entity.path, message_id)
        )

        with self._write() as db:
            rows = db.execute(
                f"SELECT id, ttl FROM message WHERE path = ? AND dead_letter = 1{match_id} "
                "ORDER BY sequence_number",
                parameters,
            ).fetchall()
            for row in rows:
                db.execute(
                    "UPDATE message SET dead_letter = 0, sequence_number = ?, delivery_count = 0, "
                    "enqueued_at = ?, expires_at = ?, scheduled = 0, lock_token = NULL, "
                    "locked_until = NULL, lock_owner = NULL, dead_letter_reason = NULL, "
                    "dead_letter_description = NULL WHERE id = ?",
                    (self._next_sequence(db, sequence_owner), now, now + row["ttl"], row["id"]),
                )
            return len(rows)

    def next_due(self, path: str, now: float) -> float | None:
        """Return the earliest future time a message on path becomes receivable or unlocks."""
        with self._lock:
            row = self._connection.execute(
                "SELECT MIN(t) FROM (SELECT MIN(enqueued_at) AS t FROM message WHERE path = ? "
                "AND dead_letter = 0 AND enqueued_at > ? UNION ALL SELECT MIN(locked_until) FROM "
                "message WHERE path = ? AND dead_letter = 0 AND locked_until > ?)",
                (path, now, path, now),
            ).fetchone()
        return row[0]


def _filter_view(system: dict[str, str], application: dict[str, Any]) -> MessageView:
    names = {attribute: name for attribute, name in SYSTEM_PROPERTIES.items()}
    return MessageView({names[key]: value for key, value in system.items()}, application)


def _to_received(row: sqlite3.Row, now: float) -> ReceivedMessage:
    system = json.loads(row["properties"])
    locked = row["locked_until"] is not None and row["locked_until"] > now
    scheduled = bool(row["scheduled"])
    waiting = scheduled and row["enqueued_at"] > now
    return ReceivedMessage(
        entity=row["path"] + (DEAD_LETTER_SUFFIX if row["dead_letter"] else ""),
        body=bytes(row["body"]),
        sequence_number=row["sequence_number"],
        enqueued_sequence_number=row["enqueued_sequence_number"],
        enqueued_time=to_datetime(row["enqueued_at"]),
        expires_at=to_datetime(row["expires_at"]),
        time_to_live=timedelta(seconds=row["ttl"]),
        delivery_count=row["delivery_count"],
        state=STATE_SCHEDULED if waiting else STATE_ACTIVE,
        scheduled_enqueue_time=to_datetime(row["enqueued_at"]) if scheduled else None,
        lock_token=row["lock_token"] if locked else None,
        locked_until=to_datetime(row["locked_until"]) if locked else None,
        dead_letter_reason=row["dead_letter_reason"],
        dead_letter_error_description=row["dead_letter_description"],
        application_properties=json.loads(row["application_properties"]),
        **system,
    )


def _lock_lost(lock_token: str) -> MessageLockLostError:
    return MessageLockLostError(
        f"The lock {lock_token} is lost: it expired or the message was settled already. "
        "Receive the message again."
    )


def _check_settled(cursor: sqlite3.Cursor, lock_token: str) -> None:
    if cursor.rowcount == 0:
        raise _lock_lost(lock_token)
