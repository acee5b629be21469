"""Read the task hub of a running devhost, read-only: saga counts, completion times, histories.

The hub is a SQLite file in WAL mode, so a read-only connection sees every committed change
without taking a lock that would stall the host's writer.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import Any

TASK_HUB_FILE = "taskhub.sqlite"
FINISHED_STATUSES = ("Completed", "Failed", "Terminated", "Canceled")

# DurableTask history event types (EventType) the harness reads.
ORCHESTRATOR_STARTED = 12
TASK_SCHEDULED = 4
EVENT_RAISED = 15


def parse_timestamp(text: str) -> float:
    """Return the POSIX time of a history or instance timestamp such as 2026-12-04T21:00:00.1Z."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class TaskHubReader:
    """Queries over one state folder's task hub, through a read-only connection."""

    def __init__(self, state_dir: Path) -> None:
        uri = f"file:{state_dir / TASK_HUB_FILE}?mode=ro"
        self._connection = sqlite3.connect(uri, uri=True, check_same_thread=False)

    def close(self) -> None:
        self._connection.close()

    def finished_count(self) -> int:
        """Return how many instances have reached a final runtime status."""
        marks = ",".join("?" * len(FINISHED_STATUSES))
        row = self._connection.execute(
            f"SELECT COUNT(*) FROM instances WHERE status IN ({marks})", FINISHED_STATUSES
        ).fetchone()
        return int(row[0])

    def statuses(self, instance_ids: list[str]) -> dict[str, int]:
        """Return the count of each runtime status among the given instances."""
        counts: dict[str, int] = {}
        for _, status, _ in self._rows(instance_ids):
            counts[status] = counts.get(status, 0) + 1
        return counts

    def completion_times(self, instance_ids: list[str]) -> list[float]:
        """Return the sorted POSIX times at which the given finished instances last changed."""
        return sorted(
            parse_timestamp(updated)
            for _, status, updated in self._rows(instance_ids)
            if status in FINISHED_STATUSES
        )

    def history(self, instance_id: str) -> list[dict[str, Any]]:
        """Return an instance's history events in order."""
        rows = self._connection.execute(
            "SELECT event FROM history WHERE instance_id=? ORDER BY sequence", (instance_id,)
        )
        return [json.loads(text) for (text,) in rows]

    def history_texts(self, instance_id: str) -> list[str]:
        """Return an instance's history events as stored JSON text, in order."""
        rows = self._connection.execute(
            "SELECT event FROM history WHERE instance_id=? ORDER BY sequence", (instance_id,)
        )
        return [text for (text,) in rows]

    def input_text(self, instance_id: str) -> str | None:
        row = self._connection.execute(
            "SELECT input FROM instances WHERE instance_id=?", (instance_id,)
        ).fetchone()
        return row[0] if row else None

    def _rows(self, instance_ids: list[str]) -> list[tuple[str, str, str]]:
        rows: list[tuple[str, str, str]] = []
        for start in range(0, len(instance_ids), 500):
            chunk = instance_ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows += self._connection.execute(
                "SELECT instance_id, status, last_updated_time FROM instances"
                f" WHERE instance_id IN ({marks})",
                chunk,
            ).fetchall()
        return rows


def event_step_times(history: list[dict[str, Any]]) -> dict[str, float]:
    """Return, per raised event name, when the saga acted on it: the next activity scheduled.

    The step time is the Timestamp of the first TaskScheduled event recorded after the
    EventRaised event, which the engine writes in the episode that delivered the event to the
    orchestrator. An event followed by no activity (the saga's last one) falls back to the
    OrchestratorStarted event of that episode.
    """
    steps: dict[str, float] = {}
    pending: list[str] = []
    episode_start: float | None = None

    for event in history:
        kind = event["EventType"]
        if kind == ORCHESTRATOR_STARTED:
            for name in pending:
                steps.setdefault(name, episode_start or parse_timestamp(event["Timestamp"]))
            pending = []
            episode_start = parse_timestamp(event["Timestamp"])
        elif kind == EVENT_RAISED:
            pending.append(event["Name"])
        elif kind == TASK_SCHEDULED and pending:
            for name in pending:
                steps.setdefault(name, parse_timestamp(event["Timestamp"]))
            pending = []

    for name in pending:
        if episode_start is not None:
            steps.setdefault(name, episode_start)
    return steps
