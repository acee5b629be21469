"""Time from a carrier event enqueued on the broker to the saga step that acted on it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from benchmarks.taskhub import TaskHubReader, event_step_times

BROKER_FILE = "servicebus.sqlite3"
CARRIER_EVENTS = "carrier-events"


def enqueue_times(state_dir: Path, entity: str) -> dict[str, float]:
    """Return message id -> POSIX enqueue time of the entity's messages in the broker.

    The broker keeps (entity, message id, first seen) in its duplicate detection table for the
    entity's window (five minutes for carrier-events), after the message itself is completed
    and deleted, so this reads messages sent within that window.
    """
    uri = f"file:{state_dir / BROKER_FILE}?mode=ro"
    with sqlite3.connect(uri, uri=True) as connection:
        rows = connection.execute(
            "SELECT message_id, first_seen FROM duplicate WHERE path=?", (entity,)
        ).fetchall()
    return dict(rows)


def event_to_step_seconds(
    state_dir: Path, reader: TaskHubReader, sent: dict[str, tuple[str, str]],
    order_ids: set[str],
) -> tuple[list[float], int]:
    """Return the delay of every carrier event of the given orders, enqueue to saga step.

    Also returns how many of their events the sagas never recorded. The trigger takes
    carrier-events concurrently (in every host process), so a delivery can reach a saga before
    its dispatch. The saga then completes on the delivery, and the later dispatch finds it
    finished.
    """
    enqueued = enqueue_times(state_dir, CARRIER_EVENTS)
    by_order: dict[str, list[tuple[str, float]]] = {}
    for message_id, (order_id, event_type) in sent.items():
        if order_id in order_ids and message_id in enqueued:
            by_order.setdefault(order_id, []).append((event_type, enqueued[message_id]))

    delays = []
    unrecorded = 0
    for order_id, events in by_order.items():
        steps = event_step_times(reader.history(order_id))
        delays += [steps[kind] - at for kind, at in events if kind in steps]
        unrecorded += sum(1 for kind, _ in events if kind not in steps)
    return delays, unrecorded
