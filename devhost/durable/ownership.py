"""Partition ownership of a Durable engine: lease rounds, loading, and other processes.

`DurableEngine` inherits these methods. A host that holds the state folder's lock owns every
partition and uses only the first lease round. A host sharing the hub with other processes
repeats the round on a period, and learns of the messages other processes write for its
partitions through a datagram and `PRAGMA data_version`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from devhost.durable import history as h
from devhost.durable.episode import Bookkeeping
from devhost.durable.partitions import PartitionLeases, Rebalance, WakeReceiver, WakeSender
from devhost.durable.records import InstanceRuntime, Message
from devhost.durable.store import TERMINAL_STATUSES, TaskHubStore, connect
from devhost.waiting import wait_for_event

if TYPE_CHECKING:
    from collections.abc import Callable

logger = logging.getLogger("devhost.durable")

# How often a process sharing the hub checks `PRAGMA data_version` for commits by others, in
# case a wake-up datagram was lost or could not be sent.
INBOX_POLL_SECONDS = 0.05


@dataclass(frozen=True)
class SharedHub:
    """The sharing settings of a host that runs beside other host processes of the supervisor."""

    processes: int
    lease_seconds: float


@dataclass
class Claim:
    """A committed lease round: its outcome and what it read for the gained partitions."""

    outcome: Rebalance
    runtimes: dict[str, InstanceRuntime]
    work_items: list[tuple]
    last_message: int  # the highest inbox message id at the round's commit


def _started_trace_parent(events: list[dict[str, Any]]) -> str:
    """Return the traceparent kept in an execution's ExecutionStarted event, or ""."""
    for event in events:
        if event["EventType"] == h.EXECUTION_STARTED:
            return (event.get("ParentTraceContext") or {}).get("TraceParent") or ""
    return ""


def _trace_from_pending_start(runtime: InstanceRuntime) -> None:
    """Take the trace parent from an ExecutionStarted still in the inbox, if history has none.

    An instance that another process started, or that has not run its first episode, keeps
    its ExecutionStarted event, and with it the client's traceparent, only in the inbox.
    """
    if not runtime.trace_parent:
        runtime.trace_parent = _started_trace_parent([m.event for m in runtime.inbox])


def _message_from_row(row: Any) -> Message:
    """Build a Message from an inbox row (message_id, instance_id, execution_id, kind, ...)."""
    return Message(row[0], row[2], row[3], row[4], row[5], json.loads(row[6]))


class PartitionOwnership:
    """The partition side of `DurableEngine`; the engine sets these attributes in __init__."""

    owner: str
    _leases: PartitionLeases
    _store: TaskHubStore
    _instances: dict[str, InstanceRuntime]
    _inbox_watermark: int
    _inbox_changed: asyncio.Event
    _wake_receiver: WakeReceiver | None
    _wake_sender: WakeSender | None
    # Provided by DurableEngine.
    _deliver: Callable[[str, Message], None]
    _arm_messages: Callable[[InstanceRuntime, list[Message], float], None]
    _dispatch_activity: Callable[..., None]
    _remember: Callable[[InstanceRuntime, list[dict[str, Any]], list[str]], None]
    reader: sqlite3.Connection

    def _claim_and_load(self, connection: sqlite3.Connection) -> Claim:
        """Run a lease round, then read the instances and activities this process now owns."""
        outcome = self._leases.rebalance(connection, time.time())
        runtimes = self._load_instances(connection, outcome.gained)
        owned = (set(self._leases.owned) - set(outcome.lost)) | set(outcome.gained)
        work_items = self._claim_work_items(connection, owned, outcome.live_hosts)
        last_message = connection.execute("SELECT MAX(message_id) FROM inbox").fetchone()[0]
        return Claim(outcome, runtimes, work_items, last_message or 0)

    def _load_instances(self, connection: sqlite3.Connection,
                        gained: dict[int, int]) -> dict[str, InstanceRuntime]:
        if not gained:
            return {}
        placeholders = ",".join("?" * len(TERMINAL_STATUSES))
        rows = connection.execute(
            "SELECT instance_id, name, execution_id, status, input, parent_instance_id,"
            " parent_execution_id, parent_task_id, bookkeeping FROM instances"
            f" WHERE status NOT IN ({placeholders})",
            TERMINAL_STATUSES,
        ).fetchall()
        runtimes: dict[str, InstanceRuntime] = {}
        for row in rows:
            epoch = gained.get(self._leases.partition(row[0]))
            if epoch is None:
                continue
            runtime = self._runtime_from_row(connection, row)
            runtime.lease_epoch = epoch
            runtimes[row[0]] = runtime
        connection.executemany("UPDATE instances SET lease_owner=? WHERE instance_id=?",
                               [(self.owner, instance_id) for instance_id in runtimes])
        for message in connection.execute(
            "SELECT message_id, instance_id, execution_id, kind, task_id, visible_at, event"
            " FROM inbox ORDER BY message_id"
        ):
            runtime = runtimes.get(message[1])
            if runtime is not None:
                runtime.inbox.append(_message_from_row(message))
        for runtime in runtimes.values():
            _trace_from_pending_start(runtime)
        return runtimes

    def _runtime_from_row(self, connection: sqlite3.Connection, row: Any) -> InstanceRuntime:
        parent = (row[5], row[6], row[7]) if row[5] else None
        runtime = InstanceRuntime(
            row[0], row[1], row[2], row[3], row[4], parent, Bookkeeping.from_json(row[8])
        )
        texts = [text for (text,) in connection.execute(
            "SELECT event FROM history WHERE instance_id=? ORDER BY sequence", (row[0],)
        )]
        events = [json.loads(text) for text in texts]
        self._remember(runtime, events, texts)
        runtime.trace_parent = _started_trace_parent(events)
        return runtime

    def _claim_work_items(self, connection: sqlite3.Connection, partitions: set[int],
                          live_hosts: set[str]) -> list[tuple]:
        """Take the activities of our partitions whose host is gone: they run again here."""
        claimed = [
            row[:6] for row in connection.execute(
                "SELECT work_id, instance_id, execution_id, task_id, name, input, lease_owner"
                " FROM work_items ORDER BY work_id"
            )
            if row[6] not in live_hosts and self._leases.partition(row[1]) in partitions
        ]
        connection.executemany("UPDATE work_items SET lease_owner=? WHERE work_id=?",
                               [(self.owner, row[0]) for row in claimed])
        return claimed

    def _apply_claim(self, claim: Claim) -> tuple[int, list[tuple]]:
        """Drop the instances of lost partitions, then take in those loaded for gained ones."""
        outcome = claim.outcome
        self._leases.apply(outcome)
        lost = set(outcome.lost)
        if lost:
            for instance_id in [i for i in self._instances
                                if self._leases.partition(i) in lost]:
                del self._instances[instance_id]
            logger.info("Host %s gave up partitions %s", self.owner, sorted(lost))
        if outcome.gained and not self._leases.exclusive:
            logger.info("Host %s took partitions %s", self.owner, sorted(outcome.gained))
            # A read of the inbox between the claim's commit and now skipped the gained
            # partitions' new rows, so read again from the claim's snapshot.
            self._inbox_watermark = min(self._inbox_watermark, claim.last_message)
            self._inbox_changed.set()
        self._instances.update(claim.runtimes)
        now = time.time()
        for runtime in claim.runtimes.values():
            self._arm_messages(runtime, runtime.inbox, now)
        for item in claim.work_items:
            self._dispatch_activity(*item)
        return len(claim.runtimes), claim.work_items

    async def _lease_loop(self) -> None:
        """Renew, release and claim partitions three times per lease duration."""
        period = self._leases.lease_seconds / 3
        while True:
            await asyncio.sleep(period)
            try:
                claimed = await self._store.submit(self._claim_and_load)
            except sqlite3.Error:
                logger.exception("Renewing the partition leases of host %s failed; retrying "
                                 "in %.1f s", self.owner, period)
                continue
            self._apply_claim(claimed)

    # ----------------------------------------------------------------- other processes

    def _wake_owner(self, instance_id: str) -> None:
        """Tell the process that owns an instance's partition that it has a new message."""
        address = self._leases.addresses.get(self._leases.partition(instance_id))
        if address is not None and self._wake_sender is not None:
            self._wake_sender.wake(address)

    def _route(self, instance_id: str, message: Message) -> None:
        """Hand a committed message to its instance here, or wake the process that owns it."""
        if self._leases.epoch_of(instance_id) is not None:
            self._deliver(instance_id, message)
        else:
            self._wake_owner(instance_id)

    async def _inbox_loop(self) -> None:
        """Read new inbox rows of our partitions after a wake-up or a commit by anyone."""
        loop = asyncio.get_running_loop()
        if self._wake_receiver is not None:
            loop.add_reader(self._wake_receiver.socket.fileno(), self._on_wake)
        watcher = connect(self._store.path, read_only=True)
        version = None
        try:
            while True:
                await wait_for_event(self._inbox_changed, INBOX_POLL_SECONDS)
                current = watcher.execute("PRAGMA data_version").fetchone()[0]
                if self._inbox_changed.is_set() or current != version:
                    version = current
                    self._inbox_changed.clear()
                    self._read_new_messages()
        finally:
            if self._wake_receiver is not None:
                loop.remove_reader(self._wake_receiver.socket.fileno())
            watcher.close()

    def _on_wake(self) -> None:
        self._wake_receiver.drain()
        self._inbox_changed.set()

    def _read_new_messages(self) -> None:
        """Deliver inbox rows above the watermark to the instances of our partitions.

        SQLite lets one writer commit at a time and AUTOINCREMENT never reuses an id. So every
        row with an id at or below the highest one a read returns is already committed, and no
        row can appear later below the watermark.
        """
        rows = self.reader.execute(
            "SELECT message_id, instance_id, execution_id, kind, task_id, visible_at, event"
            " FROM inbox WHERE message_id > ? ORDER BY message_id", (self._inbox_watermark,)
        ).fetchall()
        if not rows:
            return
        self._inbox_watermark = rows[-1][0]
        unknown: set[str] = set()
        for row in rows:
            instance_id = row[1]
            if self._leases.epoch_of(instance_id) is None:
                continue
            runtime = self._instances.get(instance_id)
            if runtime is None:
                unknown.add(instance_id)
            elif all(m.message_id != row[0] for m in runtime.inbox):
                self._deliver(instance_id, _message_from_row(row))
        for instance_id in unknown:
            self._load_instance(instance_id)

    def _load_instance(self, instance_id: str) -> None:
        """Load an instance of our partition that another process created or restarted."""
        placeholders = ",".join("?" * len(TERMINAL_STATUSES))
        reader = self.reader
        reader.execute("BEGIN")
        try:
            row = reader.execute(
                "SELECT instance_id, name, execution_id, status, input, parent_instance_id,"
                " parent_execution_id, parent_task_id, bookkeeping FROM instances"
                f" WHERE instance_id=? AND status NOT IN ({placeholders})",
                (instance_id, *TERMINAL_STATUSES),
            ).fetchone()
            if row is None or instance_id in self._instances:
                return
            runtime = self._runtime_from_row(reader, row)
            runtime.inbox = [_message_from_row(message) for message in reader.execute(
                "SELECT message_id, instance_id, execution_id, kind, task_id, visible_at, event"
                " FROM inbox WHERE instance_id=? ORDER BY message_id", (instance_id,)
            )]
        finally:
            reader.execute("COMMIT")
        _trace_from_pending_start(runtime)
        runtime.lease_epoch = self._leases.epoch_of(instance_id)
        self._instances[instance_id] = runtime
        self._arm_messages(runtime, runtime.inbox, time.time())
