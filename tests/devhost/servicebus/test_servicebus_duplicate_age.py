"""Expiry of duplicate detection ids: old ids go on the next send, found through an index."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from devhost.servicebus.client import OutgoingMessage, ServiceBusClient
from devhost.servicebus.store import DATABASE_NAME


def _ids(state_dir: Path, entity: str) -> list[str]:
    with sqlite3.connect(state_dir / DATABASE_NAME) as connection:
        rows = connection.execute(
            "SELECT message_id FROM duplicate WHERE path=? ORDER BY message_id", (entity,)
        )
        return [message_id for (message_id,) in rows]


def test_send_forgets_ids_older_than_the_window(client: ServiceBusClient, clock,
                                                tmp_path: Path) -> None:
    client.send("work", OutgoingMessage(body=b"{}", message_id="m1"))
    clock.advance(61)

    client.send("work", OutgoingMessage(body=b"{}", message_id="m2"))

    assert _ids(tmp_path, "work") == ["m2"]


def test_expiry_searches_ids_by_age(client: ServiceBusClient, tmp_path: Path) -> None:
    client.send("work", OutgoingMessage(body=b"{}", message_id="m1"))

    with sqlite3.connect(tmp_path / DATABASE_NAME) as connection:
        plan = connection.execute(
            "EXPLAIN QUERY PLAN DELETE FROM duplicate WHERE path = ? AND first_seen <= ?",
            ("work", 0.0),
        ).fetchall()

    assert "duplicate_by_age" in " ".join(str(row[-1]) for row in plan)
