"""Task hub records: inbox messages, in-memory instances, and the SQL that writes them."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from devhost.durable import history as h
from devhost.durable.episode import Bookkeeping

KIND_START, KIND_EVENT, KIND_COMPLETION = "start", "event", "completion"
KIND_TIMER, KIND_CONTROL = "timer", "control"


@dataclass
class Message:
    """An inbox message of one instance, as kept in memory after it is committed."""

    message_id: int
    execution_id: str | None
    kind: str
    task_id: int | None
    visible_at: float
    event: dict[str, Any]


@dataclass
class InstanceRuntime:
    """A non-terminal instance held in memory by the owning host."""

    instance_id: str
    name: str
    execution_id: str
    status: str
    input: str | None
    parent: tuple[str, str, int] | None
    bookkeeping: Bookkeeping
    history_length: int = 0
    replay: list[str] = field(default_factory=list)  # stored events sent to the SDK
    inbox: list[Message] = field(default_factory=list)
    # W3C traceparent the instance was started with, and that of its latest episode span.
    trace_parent: str = ""
    episode_trace_parent: str = ""
    # Epoch of this process's lease on the instance's partition when the instance was loaded.
    # Every commit for the instance checks that the lease still has this epoch.
    lease_epoch: int = 0

    def has_ready_messages(self, now: float) -> bool:
        """Tell whether an episode would consume something (a suspended one takes only controls)."""
        return any(
            m.visible_at <= now and (self.status != "Suspended" or m.kind == KIND_CONTROL)
            for m in self.inbox
        )


def compact_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def played_text(event: dict[str, Any]) -> str:
    return compact_json({**event, "IsPlayed": True})


def instance_status(connection: sqlite3.Connection, instance_id: str) -> str | None:
    row = connection.execute(
        "SELECT status FROM instances WHERE instance_id=?", (instance_id,)
    ).fetchone()
    return row[0] if row else None


def insert_message(connection: sqlite3.Connection, instance_id: str, execution_id: str | None,
                    kind: str, task_id: int | None, visible_at: float,
                    event: dict[str, Any]) -> int:
    cursor = connection.execute(
        "INSERT INTO inbox (instance_id, execution_id, kind, task_id, visible_at, event)"
        " VALUES (?,?,?,?,?,?)",
        (instance_id, execution_id, kind, task_id, visible_at, compact_json(event)),
    )
    return cursor.lastrowid


def delete_messages(connection: sqlite3.Connection, message_ids: list[int]) -> None:
    connection.executemany("DELETE FROM inbox WHERE message_id=?", [(i,) for i in message_ids])


def append_history(connection: sqlite3.Connection, instance_id: str, execution_id: str,
                    start: int, played: list[str]) -> None:
    connection.executemany(
        "INSERT INTO history (instance_id, sequence, execution_id, event) VALUES (?,?,?,?)",
        [(instance_id, start + offset, execution_id, text) for offset, text in enumerate(played)],
    )


def update_instance(connection: sqlite3.Connection, instance_id: str, status: str,
                     output: Any, custom_status: str | None, bookkeeping: str,
                     timestamp: str) -> None:
    connection.execute(
        "UPDATE instances SET status=?, output=?, bookkeeping=?, last_updated_time=?,"
        " custom_status=COALESCE(?, custom_status) WHERE instance_id=?",
        (status, None if output is None else compact_json(output), bookkeeping, timestamp,
         custom_status, instance_id),
    )


def create_instance(connection: sqlite3.Connection, instance_id: str, name: str,
                     execution_id: str, input_text: str | None, parent: tuple | None,
                     owner: str, trace_parent: str = "") -> Message:
    timestamp = h.format_time(h.utc_now())
    for table in ("history", "inbox", "work_items"):
        connection.execute(f"DELETE FROM {table} WHERE instance_id=?", (instance_id,))
    connection.execute(
        "INSERT OR REPLACE INTO instances (instance_id, execution_id, name, status, input,"
        " created_time, last_updated_time, parent_instance_id, parent_execution_id,"
        " parent_task_id, bookkeeping, lease_owner) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (instance_id, execution_id, name, "Pending", input_text, timestamp, timestamp,
         *(parent or (None, None, None)), Bookkeeping().to_json(), owner),
    )
    started = execution_started(instance_id, name, execution_id, input_text, parent, timestamp)
    if trace_parent:
        started["ParentTraceContext"] = {"TraceParent": trace_parent, "TraceState": None}
    message_id = insert_message(connection, instance_id, execution_id, KIND_START, None, 0.0,
                                 started)
    return Message(message_id, execution_id, KIND_START, None, 0.0, started)


def execution_started(instance_id: str, name: str, execution_id: str, input_text: str | None,
                       parent: tuple | None, timestamp: str) -> dict[str, Any]:
    parent_instance = None
    if parent is not None:
        parent_instance = {"OrchestrationInstance": {"InstanceId": parent[0],
                                                     "ExecutionId": parent[1]},
                           "TaskScheduleId": parent[2]}
    return h.event(
        h.EXECUTION_STARTED, timestamp, Name=name, Input=input_text, Version="",
        OrchestrationInstance={"InstanceId": instance_id, "ExecutionId": execution_id},
        ParentInstance=parent_instance,
    )


def continue_as_new(connection: sqlite3.Connection, runtime: InstanceRuntime,
                     execution_id: str, input_text: str | None, timestamp: str) -> Message:
    connection.execute("DELETE FROM history WHERE instance_id=?", (runtime.instance_id,))
    connection.execute(
        "DELETE FROM inbox WHERE instance_id=? AND kind NOT IN (?, ?)",
        (runtime.instance_id, KIND_EVENT, KIND_CONTROL),
    )
    connection.execute(
        "UPDATE instances SET execution_id=?, input=?, status=?, output=NULL, bookkeeping=?"
        " WHERE instance_id=?",
        (execution_id, input_text, "ContinuedAsNew", Bookkeeping().to_json(),
         runtime.instance_id),
    )
    started = execution_started(runtime.instance_id, runtime.name, execution_id, input_text,
                                 runtime.parent, timestamp)
    message_id = insert_message(connection, runtime.instance_id, execution_id, KIND_START, None,
                                 0.0, started)
    return Message(message_id, execution_id, KIND_START, None, 0.0, started)
