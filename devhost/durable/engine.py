"""The Durable engine: runs orchestrator episodes and activities from the SQLite task hub.

Work moves through the hub as inbox messages (per instance) and work items (activities).
Each instance is owned by one episode at a time. An episode takes every inbox message that is
ready and replays the orchestrator through the SDK. It then commits history, new work and the
instance's status in one change, and work is dispatched only after that change is durable. An
activity's completion is committed (work item deleted, completion queued) before the
orchestrator sees it. After a crash, start-up re-runs every work item still in the hub
(at-least-once, as on Azure), re-arms timers and resumes every instance with ready messages.

Instances are spread over the hub's partitions (`devhost.durable.partitions`; the lease rounds
and the reads of other processes' messages are in `devhost.durable.ownership`). A host that
holds the state folder's lock owns every partition, and its workers are woken by asyncio queues
and one timer task. When several host processes share the hub, each runs the episodes of the
partitions it leases. A message written for another process's partition wakes that process
through a datagram, and each process also reads the inbox rows added since its last look
whenever SQLite's `data_version` shows another commit.
"""

from __future__ import annotations

import asyncio
import heapq
import logging
import os
import sqlite3
import time
import traceback
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from azure.functions import meta

from devhost.durable import history as h
from devhost.durable.episode import (
    Bookkeeping,
    ChildRequest,
    EpisodeResult,
    build_context,
    decide,
    execute_orchestrator,
    is_retry_event,
    prepare_retries,
)
from devhost.durable.ownership import PartitionOwnership, SharedHub
from devhost.durable.partitions import (
    LeaseLostError,
    PartitionLeases,
    WakeReceiver,
    WakeSender,
    partition_count,
)
from devhost.durable.records import (
    KIND_COMPLETION,
    KIND_CONTROL,
    KIND_EVENT,
    KIND_TIMER,
    InstanceRuntime,
    Message,
    append_history,
    compact_json,
    continue_as_new,
    create_instance,
    delete_messages,
    insert_message,
    instance_status,
    played_text,
    update_instance,
)
from devhost.durable.store import TERMINAL_STATUSES, TaskHubStore
from devhost.durable.workers import execute_registered
from devhost.invoker import InvocationError, Invoker, new_id
from devhost.loader import ACTIVITY_TRIGGER, ORCHESTRATION_TRIGGER, LoadedApp
from devhost.waiting import wait_for_event

logger = logging.getLogger("devhost.durable")

class UnknownOrchestratorError(Exception):
    """No orchestrator function has the requested name."""


class InstanceExistsError(Exception):
    """A non-terminal instance with the requested id exists."""


class InstanceNotFoundError(Exception):
    """No instance has the requested id."""




@dataclass
class Selection:
    """The inbox messages one episode consumes and the events it delivers to the SDK."""

    consumed: list[Message] = field(default_factory=list)
    controls: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    terminate: dict[str, Any] | None = None
    status: str = "Running"


def _epoch(moment: datetime) -> float:
    return moment.timestamp()


class DurableEngine(PartitionOwnership):
    """Schedules episodes, activities and timers over one task hub."""

    def __init__(self, app: LoadedApp, store: TaskHubStore, invoker: Invoker,
                 compact_replay: bool = False, episode_pool: Executor | None = None,
                 shared: SharedHub | None = None) -> None:
        """Prepare the engine; `shared` is None for the only host on the hub.

        Raises ValueError when host.json's partition count is invalid.
        """
        options = app.host_json.get("extensions", {}).get("durableTask", {})
        cpus = os.cpu_count() or 1
        self.hub_name = str(options.get("hubName", "TestHubName"))
        self.max_activities = int(options.get("maxConcurrentActivityFunctions", 10 * cpus))
        self.max_orchestrations = int(options.get("maxConcurrentOrchestratorFunctions", 10 * cpus))
        self.owner = f"{os.uname().nodename}:{os.getpid()}:{new_id().hex[:8]}"
        self._wake_receiver: WakeReceiver | None = None
        self._wake_sender: WakeSender | None = None
        count = partition_count(app.host_json)
        if shared is None:
            self._leases = PartitionLeases(self.owner, count, exclusive=True)
        else:
            self._wake_receiver = WakeReceiver.open(f"devhost-taskhub-{self.owner}")
            self._wake_sender = WakeSender()
            self._leases = PartitionLeases(
                self.owner, count, exclusive=False, lease_seconds=shared.lease_seconds,
                expected_hosts=shared.processes,
                wake_address=self._wake_receiver.address if self._wake_receiver else None,
            )
        self._inbox_watermark = 0
        self._inbox_changed = asyncio.Event()
        self._app = app
        self._compact_replay = compact_replay
        self._store = store
        self._invoker = invoker
        self._instances: dict[str, InstanceRuntime] = {}
        self._ready: asyncio.Queue[str] = asyncio.Queue()
        self._queued: set[str] = set()
        self._active: set[str] = set()
        self._timers: list[tuple[float, int, str]] = []
        self._timer_sequence = 0
        self._timer_wakeup = asyncio.Event()
        self._activity_slots = asyncio.Semaphore(self.max_activities)
        self._episode_pool = episode_pool
        self._episode_executor = episode_pool or ThreadPoolExecutor(
            max_workers=self.max_orchestrations, thread_name_prefix="devhost-orchestrator"
        )
        self._tasks: list[asyncio.Task] = []
        self._activity_tasks: set[asyncio.Task] = set()

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Claim partitions, reload their unfinished work, and start the workers."""
        claimed = await self._store.submit(self._claim_and_load)
        for _ in range(self.max_orchestrations):
            self._tasks.append(asyncio.create_task(self._orchestration_worker()))
        self._tasks.append(asyncio.create_task(self._timer_loop()))
        loaded, work_items = self._apply_claim(claimed)
        if loaded or work_items:
            logger.info(
                "Resumed %d unfinished instances and %d pending activities from the task hub",
                loaded, len(work_items),
            )
        if not self._leases.exclusive:
            self._tasks.append(asyncio.create_task(self._lease_loop()))
            self._tasks.append(asyncio.create_task(self._inbox_loop()))

    async def stop(self) -> None:
        """Stop the workers; running activities are abandoned and re-run on the next start.

        A host sharing the hub then releases its partitions so that the others take them over
        at their next lease round instead of waiting for the leases to expire.
        """
        for task in [*self._tasks, *self._activity_tasks]:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._activity_tasks, return_exceptions=True)
        self._episode_executor.shutdown(wait=True, cancel_futures=True)
        if not self._leases.exclusive:
            await self._store.submit(self._leases.release_all)
        if self._wake_receiver is not None:
            self._wake_receiver.close()
        if self._wake_sender is not None:
            self._wake_sender.close()


    # ----------------------------------------------------------------- scheduling

    def _schedule(self, instance_id: str) -> None:
        if instance_id in self._queued or instance_id in self._active:
            return
        self._queued.add(instance_id)
        self._ready.put_nowait(instance_id)

    def _arm_messages(self, runtime: InstanceRuntime, messages: list[Message], now: float) -> None:
        for message in messages:
            if message.visible_at <= now:
                self._schedule(runtime.instance_id)
            else:
                self._add_timer(message.visible_at, runtime.instance_id)

    def _add_timer(self, due: float, instance_id: str) -> None:
        self._timer_sequence += 1
        earliest = self._timers[0][0] if self._timers else None
        heapq.heappush(self._timers, (due, self._timer_sequence, instance_id))
        if earliest is None or due < earliest:
            self._timer_wakeup.set()

    async def _timer_loop(self) -> None:
        while True:
            now = time.time()
            while self._timers and self._timers[0][0] <= now:
                _, _, instance_id = heapq.heappop(self._timers)
                if instance_id in self._instances:
                    self._schedule(instance_id)
            timeout = self._timers[0][0] - now if self._timers else None
            self._timer_wakeup.clear()
            await wait_for_event(self._timer_wakeup, timeout)

    def _deliver(self, instance_id: str, message: Message) -> None:
        runtime = self._instances.get(instance_id)
        if runtime is None:
            if not self._leases.exclusive:
                # Another process may have created the instance; read the hub soon.
                self._inbox_changed.set()
            return
        if message.execution_id is not None and message.execution_id != runtime.execution_id:
            return
        if any(m.message_id == message.message_id for m in runtime.inbox):
            return  # delivered already by whichever came first: the writer or an inbox read
        runtime.inbox.append(message)
        self._arm_messages(runtime, [message], time.time())

    # ----------------------------------------------------------------- episodes

    async def _orchestration_worker(self) -> None:
        while True:
            instance_id = await self._ready.get()
            self._queued.discard(instance_id)
            runtime = self._instances.get(instance_id)
            if runtime is None:
                continue
            self._active.add(instance_id)
            progressed = False
            try:
                progressed = await self._run_episode(runtime)
            except LeaseLostError as error:
                logger.info("Dropped instance %s, rolling back its episode: %s", instance_id,
                            error)
                self._forget(runtime)
            except Exception:
                logger.exception("Episode of instance %s failed inside devhost", instance_id)
            finally:
                self._active.discard(instance_id)
            # A lease round may have replaced the runtime while this episode ran.
            current = self._instances.get(instance_id)
            if current is None or (current is runtime and not progressed):
                continue
            if current.has_ready_messages(time.time()):
                self._schedule(instance_id)

    def _select(self, runtime: InstanceRuntime, now: float) -> Selection:
        """Pick the ready messages: controls in order, at most one retry-related event first."""
        selection = Selection(status=runtime.status)
        retry_event: dict[str, Any] | None = None
        for message in [m for m in runtime.inbox if m.visible_at <= now]:
            if message.kind == KIND_CONTROL:
                selection.consumed.append(message)
                kind = message.event["EventType"]
                if kind == h.EXECUTION_TERMINATED:
                    selection.terminate = message.event
                    return selection
                selection.controls.append(message.event)
                selection.status = "Suspended" if kind == h.EXECUTION_SUSPENDED else "Running"
                continue
            if message.execution_id is not None and message.execution_id != runtime.execution_id:
                selection.consumed.append(message)
                continue
            if selection.status == "Suspended":
                continue
            if is_retry_event(runtime.bookkeeping, message.event):
                if retry_event is not None:
                    continue
                retry_event = message.event
                selection.consumed.append(message)
                continue
            selection.consumed.append(message)
            selection.events.append(message.event)
        if retry_event is not None:
            selection.events.insert(0, retry_event)
        return selection

    def _episode_time(self, runtime: InstanceRuntime, events: list[dict[str, Any]]) -> datetime:
        """Stamp the episode no earlier than the last one nor any timer it delivers."""
        moment = h.utc_now()
        if runtime.bookkeeping.last_timestamp:
            moment = max(moment, h.parse_time(runtime.bookkeeping.last_timestamp))
        for event in events:
            if event["EventType"] == h.TIMER_FIRED:
                moment = max(moment, h.parse_time(event["FireAt"]))
        return moment

    async def _run_episode(self, runtime: InstanceRuntime) -> bool:
        """Run one episode; return False when no message was ready to consume."""
        selection = self._select(runtime, time.time())
        if not selection.consumed:
            return False
        now = self._episode_time(runtime, selection.events)
        started = h.event(h.ORCHESTRATOR_STARTED, h.format_time(now))
        if selection.terminate is not None:
            await self._terminate(runtime, selection, started, now)
            return True
        if not selection.events:
            await self._record_controls(runtime, selection, started, now)
            return True

        bookkeeping = runtime.bookkeeping.copy()
        bookkeeping.last_timestamp = h.format_time(now)
        retries = prepare_retries(bookkeeping, selection.events, now, runtime.execution_id)
        incoming = [started, *selection.controls, *selection.events]
        context = build_context(
            runtime.instance_id, runtime.parent[0] if runtime.parent else None,
            runtime.input, runtime.replay, incoming,
        )
        function = self._app.function(runtime.name)
        span = self._start_episode_span(runtime)
        if function is None or function.trigger_type != ORCHESTRATION_TRIGGER:
            state, error = {}, f"The orchestrator function '{runtime.name}' does not exist."
        else:
            state, error = await self._execute(function, context)
        result = decide(bookkeeping, state, error, now, runtime.execution_id, runtime.name)
        result.decisions.events[:0] = retries.events
        result.decisions.activities[:0] = retries.activities
        result.decisions.timers[:0] = retries.timers
        result.decisions.children[:0] = retries.children
        await self._commit_episode(runtime, selection, incoming, bookkeeping, result, now)
        if span is not None:
            span.attributes["durable.runtime_status"] = runtime.status
            span.end()
        return True

    def _start_episode_span(self, runtime: InstanceRuntime) -> Any:
        """Start the episode's span, a child of the instance's start, as the extension does.

        The activities the episode schedules are children of this span.
        """
        recorder = self._invoker.recorder
        if recorder is None:
            return None
        span = recorder.start_span(
            f"orchestration:{runtime.name}", "SERVER", runtime.trace_parent,
            {"faas.trigger": "other", "durable.instance_id": runtime.instance_id,
             "durable.execution_id": runtime.execution_id},
        )
        runtime.episode_trace_parent = span.traceparent
        return span

    async def _execute(self, function: Any, context: str) -> tuple[dict, str | None]:
        loop = asyncio.get_running_loop()
        if self._episode_pool is None:
            return await loop.run_in_executor(
                self._episode_executor, execute_orchestrator, function.func, context
            )
        return await loop.run_in_executor(
            self._episode_pool, execute_registered, function.name, context
        )

    async def _commit_episode(
        self, runtime: InstanceRuntime, selection: Selection, incoming: list[dict[str, Any]],
        bookkeeping: Bookkeeping, result: EpisodeResult, now: datetime,
    ) -> None:
        decisions = result.decisions
        timestamp = h.format_time(now)
        events = [*incoming, *decisions.events, h.event(h.ORCHESTRATOR_COMPLETED, timestamp)]
        status = "Suspended" if selection.status == "Suspended" else "Running"
        output = None
        continue_input = None
        if result.failure is not None:
            status, output = "Failed", result.failure
        elif result.is_done and result.continue_as_new_input is not None:
            continue_input = result.continue_as_new_input
        elif result.is_done:
            status, output = "Completed", result.output
        if status in TERMINAL_STATUSES:
            events.append(h.event(
                h.EXECUTION_COMPLETED, timestamp,
                OrchestrationStatus=h.ORCHESTRATION_STATUS_CODES[status],
                Result=compact_json(output),
            ))
        played = [played_text(e) for e in events]
        new_execution = new_id().hex if continue_input is not None else None

        def change(connection: sqlite3.Connection) -> dict[str, Any]:
            self._leases.check(connection, runtime.instance_id, runtime.lease_epoch)
            ids: dict[str, Any] = {"timers": [], "work": [], "children": [], "parent": None}
            delete_messages(connection, [m.message_id for m in selection.consumed])
            for timer_id in decisions.canceled_timers:
                connection.execute(
                    "DELETE FROM inbox WHERE instance_id=? AND kind=? AND task_id=?",
                    (runtime.instance_id, KIND_TIMER, timer_id),
                )
            append_history(connection, runtime.instance_id, runtime.execution_id,
                            runtime.history_length, played)
            if new_execution is None:
                self._write_work(connection, runtime, decisions, ids)
            custom = compact_json(result.custom_status) if result.has_custom_status else None
            update_instance(connection, runtime.instance_id, status, output, custom,
                             bookkeeping.to_json(), timestamp)
            if status in TERMINAL_STATUSES:
                connection.execute("DELETE FROM inbox WHERE instance_id=?", (runtime.instance_id,))
                ids["parent"] = self._notify_parent(connection, runtime, status, output, timestamp)
            if new_execution is not None:
                ids["restart"] = continue_as_new(
                    connection, runtime, new_execution, continue_input, timestamp
                )
            return ids

        ids = await self._store.submit(change)
        self._apply_episode(runtime, selection, events, played, bookkeeping, decisions, status,
                            ids)
        if new_execution is not None:
            self._apply_continue_as_new(runtime, new_execution, continue_input, ids["restart"])
        self._log_outcome(runtime, status, output, continue_input is not None)

    def _write_work(self, connection: sqlite3.Connection, runtime: InstanceRuntime,
                    decisions: Any, ids: dict[str, Any]) -> None:
        for timer in decisions.timers:
            fired = h.event(h.TIMER_FIRED, h.format_time(timer.fire_at),
                            TimerId=timer.task_id, FireAt=h.format_time(timer.fire_at))
            ids["timers"].append((insert_message(
                connection, runtime.instance_id, runtime.execution_id, KIND_TIMER,
                timer.task_id, _epoch(timer.fire_at), fired), fired))
        for activity in decisions.activities:
            cursor = connection.execute(
                "INSERT INTO work_items (instance_id, execution_id, task_id, name, input,"
                " lease_owner) VALUES (?,?,?,?,?,?)",
                (runtime.instance_id, runtime.execution_id, activity.task_id, activity.name,
                 activity.input, self.owner),
            )
            ids["work"].append((cursor.lastrowid, activity))
        for child in decisions.children:
            ids["children"].append(self._create_child(connection, runtime, child))

    def _create_child(self, connection: sqlite3.Connection, runtime: InstanceRuntime,
                      child: ChildRequest) -> tuple[str, Any]:
        timestamp = h.format_time(h.utc_now())
        function = self._app.function(child.name)
        problem = None
        if function is None or function.trigger_type != ORCHESTRATION_TRIGGER:
            problem = f"The orchestrator function '{child.name}' does not exist."
        elif instance_status(connection, child.instance_id) not in (None, *TERMINAL_STATUSES):
            problem = f"An instance with id '{child.instance_id}' is already running."
        if problem is not None:
            failed = h.event(h.SUB_ORCHESTRATION_FAILED, timestamp, TaskScheduledId=child.task_id,
                             Reason=problem, Details=None)
            message_id = insert_message(connection, runtime.instance_id, runtime.execution_id,
                                         KIND_COMPLETION, child.task_id, time.time(), failed)
            return "failed", (message_id, failed)
        execution_id = new_id().hex
        parent = (runtime.instance_id, runtime.execution_id, child.task_id)
        message = create_instance(connection, child.instance_id, function.name, execution_id,
                                   child.input, parent, self.owner)
        return "created", (child.instance_id, function.name, execution_id, child.input, parent,
                           message)

    def _notify_parent(self, connection: sqlite3.Connection, runtime: InstanceRuntime,
                       status: str, output: Any, timestamp: str) -> tuple | None:
        if runtime.parent is None:
            return None
        parent_id, parent_execution, task_id = runtime.parent
        if status == "Completed":
            event = h.event(h.SUB_ORCHESTRATION_COMPLETED, timestamp, TaskScheduledId=task_id,
                            Result=compact_json(output))
        else:
            reason = output if status == "Failed" else (
                f"Orchestrator function '{runtime.name}' was terminated: {output}"
            )
            event = h.event(h.SUB_ORCHESTRATION_FAILED, timestamp, TaskScheduledId=task_id,
                            Reason=reason, Details=None)
        row = connection.execute(
            "SELECT execution_id, status FROM instances WHERE instance_id=?", (parent_id,)
        ).fetchone()
        if row is None or row[0] != parent_execution or row[1] in TERMINAL_STATUSES:
            return None
        message_id = insert_message(connection, parent_id, parent_execution, KIND_COMPLETION,
                                     task_id, time.time(), event)
        return parent_id, Message(message_id, parent_execution, KIND_COMPLETION, task_id,
                                  0.0, event)

    def _remember(self, runtime: InstanceRuntime, events: list[dict[str, Any]],
                  played: list[str]) -> None:
        """Add committed events to the in-memory replay history of an instance.

        With compact replay only the event types the SDK acts on are kept for replay; the
        task hub always stores the full history.
        """
        runtime.history_length += len(played)
        if not self._compact_replay:
            runtime.replay.extend(played)
            return
        runtime.replay.extend(
            text for event, text in zip(events, played, strict=True)
            if event["EventType"] in h.SDK_EVENT_TYPES
        )

    def _apply_episode(self, runtime: InstanceRuntime, selection: Selection,
                       events: list[dict[str, Any]], played: list[str],
                       bookkeeping: Bookkeeping, decisions: Any, status: str,
                       ids: dict[str, Any]) -> None:
        consumed = {m.message_id for m in selection.consumed}
        runtime.inbox = [m for m in runtime.inbox if m.message_id not in consumed]
        runtime.inbox = [m for m in runtime.inbox if not (
            m.kind == KIND_TIMER and m.task_id in decisions.canceled_timers)]
        self._remember(runtime, events, played)
        runtime.bookkeeping = bookkeeping
        runtime.status = status
        timers = [Message(mid, runtime.execution_id, KIND_TIMER, event["TimerId"],
                          _epoch(h.parse_time(event["FireAt"])), event)
                  for mid, event in ids["timers"]]
        runtime.inbox.extend(timers)
        self._arm_messages(runtime, timers, time.time())
        for work_id, activity in ids["work"]:
            self._dispatch_activity(work_id, runtime.instance_id, runtime.execution_id,
                                    activity.task_id, activity.name, activity.input,
                                    runtime.episode_trace_parent)
        for outcome, details in ids["children"]:
            if outcome == "failed":
                self._deliver(runtime.instance_id, Message(
                    details[0], runtime.execution_id, KIND_COMPLETION, None, 0.0, details[1]))
            elif self._leases.epoch_of(details[0]) is not None:
                self._load_new_instance(*details)
            else:
                self._wake_owner(details[0])
        if status in TERMINAL_STATUSES:
            self._forget(runtime)
            if ids.get("parent"):
                self._route(*ids["parent"])

    def _apply_continue_as_new(self, runtime: InstanceRuntime, execution_id: str,
                               input_text: str | None, message: Message) -> None:
        runtime.execution_id = execution_id
        runtime.input = input_text
        runtime.bookkeeping = Bookkeeping()
        runtime.history_length = 0
        runtime.replay = []
        runtime.status = "ContinuedAsNew"
        runtime.inbox = [m for m in runtime.inbox if m.kind in (KIND_EVENT, KIND_CONTROL)]
        runtime.inbox.append(message)
        self._schedule(runtime.instance_id)

    def _forget(self, runtime: InstanceRuntime) -> None:
        # A restart in place may already have loaded a new runtime under the same id.
        if self._instances.get(runtime.instance_id) is runtime:
            del self._instances[runtime.instance_id]

    def _load_new_instance(self, instance_id: str, name: str, execution_id: str,
                           input_text: str | None, parent: tuple | None,
                           message: Message, trace_parent: str = "") -> None:
        existing = self._instances.get(instance_id)
        if existing is not None and existing.execution_id == execution_id:
            return  # already read from the hub by `_read_new_messages`
        runtime = InstanceRuntime(instance_id, name, execution_id, "Pending", input_text, parent,
                                  Bookkeeping(), trace_parent=trace_parent,
                                  lease_epoch=self._leases.epoch_of(instance_id) or 0)
        runtime.inbox.append(message)
        self._instances[instance_id] = runtime
        self._schedule(instance_id)

    def _log_outcome(self, runtime: InstanceRuntime, status: str, output: Any,
                     continued: bool) -> None:
        if continued:
            logger.info("Instance %s of %s continued as new", runtime.instance_id, runtime.name)
        elif status == "Completed":
            logger.info("Instance %s of %s completed", runtime.instance_id, runtime.name)
        elif status == "Failed":
            logger.warning("Instance %s of %s failed: %s", runtime.instance_id, runtime.name,
                           output)

    async def _terminate(self, runtime: InstanceRuntime, selection: Selection,
                         started: dict[str, Any], now: datetime) -> None:
        timestamp = h.format_time(now)
        reason = selection.terminate.get("Input")
        events = [started, selection.terminate,
                  h.event(h.EXECUTION_COMPLETED, timestamp, OrchestrationStatus=5,
                          Result=compact_json(reason)),
                  h.event(h.ORCHESTRATOR_COMPLETED, timestamp)]
        played = [played_text(e) for e in events]

        def change(connection: sqlite3.Connection) -> dict[str, Any]:
            self._leases.check(connection, runtime.instance_id, runtime.lease_epoch)
            connection.execute("DELETE FROM inbox WHERE instance_id=?", (runtime.instance_id,))
            append_history(connection, runtime.instance_id, runtime.execution_id,
                            runtime.history_length, played)
            update_instance(connection, runtime.instance_id, "Terminated", reason, None,
                             runtime.bookkeeping.to_json(), timestamp)
            return {"parent": self._notify_parent(connection, runtime, "Terminated", reason,
                                                  timestamp)}

        ids = await self._store.submit(change)
        runtime.status = "Terminated"
        self._forget(runtime)
        if ids["parent"]:
            self._route(*ids["parent"])
        logger.info("Instance %s of %s terminated: %s", runtime.instance_id, runtime.name, reason)

    async def _record_controls(self, runtime: InstanceRuntime, selection: Selection,
                               started: dict[str, Any], now: datetime) -> None:
        """Record suspend/resume (and dropped stale messages) without running the orchestrator."""
        timestamp = h.format_time(now)
        events: list[dict[str, Any]] = []
        played: list[str] = []
        if selection.controls:
            events = [started, *selection.controls, h.event(h.ORCHESTRATOR_COMPLETED, timestamp)]
            played = [played_text(e) for e in events]
        status = selection.status if selection.controls else runtime.status

        def change(connection: sqlite3.Connection) -> None:
            self._leases.check(connection, runtime.instance_id, runtime.lease_epoch)
            delete_messages(connection, [m.message_id for m in selection.consumed])
            append_history(connection, runtime.instance_id, runtime.execution_id,
                            runtime.history_length, played)
            update_instance(connection, runtime.instance_id, status, None, None,
                             runtime.bookkeeping.to_json(), timestamp)

        await self._store.submit(change)
        consumed = {m.message_id for m in selection.consumed}
        runtime.inbox = [m for m in runtime.inbox if m.message_id not in consumed]
        self._remember(runtime, events, played)
        runtime.status = status

    # ----------------------------------------------------------------- activities

    def _dispatch_activity(self, work_id: int, instance_id: str, execution_id: str,
                           task_id: int, name: str, input_text: str | None,
                           trace_parent: str = "") -> None:
        if not trace_parent and instance_id in self._instances:
            # An activity re-run after a restart has no episode span: use the instance's start.
            trace_parent = self._instances[instance_id].trace_parent
        task = asyncio.create_task(self._run_activity(
            work_id, instance_id, execution_id, task_id, name, input_text, trace_parent
        ))
        self._activity_tasks.add(task)
        task.add_done_callback(self._activity_tasks.discard)

    async def _run_activity(self, work_id: int, instance_id: str, execution_id: str,
                            task_id: int, name: str, input_text: str | None,
                            trace_parent: str = "") -> None:
        async with self._activity_slots:
            event = await self._call_activity(instance_id, task_id, name, input_text,
                                              trace_parent)

        def change(connection: sqlite3.Connection) -> int | None:
            connection.execute("DELETE FROM work_items WHERE work_id=?", (work_id,))
            row = connection.execute(
                "SELECT execution_id, status FROM instances WHERE instance_id=?", (instance_id,)
            ).fetchone()
            if row is None or row[0] != execution_id or row[1] in TERMINAL_STATUSES:
                return None
            return insert_message(connection, instance_id, execution_id, KIND_COMPLETION,
                                   task_id, 0.0, event)

        try:
            message_id = await self._store.submit(change)
        except sqlite3.Error:
            # The work item stays in the hub, so the activity runs again on the next start.
            logger.exception("Committing the result of activity %s (task %d) of instance %s "
                             "failed; it will run again when devhost restarts",
                             name, task_id, instance_id)
            return
        if message_id is not None:
            self._route(instance_id, Message(message_id, execution_id, KIND_COMPLETION,
                                             task_id, 0.0, event))

    async def _call_activity(self, instance_id: str, task_id: int, name: str,
                             input_text: str | None, trace_parent: str = "") -> dict[str, Any]:
        timestamp = h.format_time(h.utc_now())
        function = self._app.function(name)
        if function is None or function.trigger_type != ACTIVITY_TRIGGER:
            reason = (f"The function '{name}' doesn't exist, is disabled, or is not an activity "
                      "function.")
            logger.warning("Instance %s scheduled activity %s: %s", instance_id, name, reason)
            return h.event(h.TASK_FAILED, timestamp, TaskScheduledId=task_id, Reason=reason,
                           Details=None)
        try:
            result = await self._invoker.invoke(
                function, trigger=meta.Datum(type="string", value=input_text or "null"),
                trace_parent=trace_parent, span_name=f"activity:{function.name}",
                span_attributes={"durable.instance_id": instance_id, "durable.task_id": task_id},
            )
        except Exception as failure:
            error = failure.error if isinstance(failure, InvocationError) else failure
            logger.warning("Activity %s of instance %s (task %d) failed: %s: %s",
                           function.name, instance_id, task_id, type(error).__name__, error)
            details = {"Message": f"{type(error).__name__}: {error}",
                       "StackTrace": "".join(traceback.format_exception(error))}
            return h.event(
                h.TASK_FAILED, timestamp, TaskScheduledId=task_id,
                Reason=f"Activity function '{function.name}' failed: "
                       f"{type(error).__name__}: {error}",
                Details=compact_json(details),
            )
        value = result.return_value.value if result.return_value is not None else "null"
        return h.event(h.TASK_COMPLETED, timestamp, TaskScheduledId=task_id, Result=value)

    # ----------------------------------------------------------------- client operations

    async def start_new(self, name: str, instance_id: str | None, input_text: str | None,
                        trace_parent: str = "") -> str:
        """Create an instance (Pending) and queue its ExecutionStarted message.

        `trace_parent` (the client's W3C traceparent) becomes the parent of the instance's
        episode spans, and is kept in ExecutionStarted as the extension keeps it.
        """
        function = self._app.function(name)
        if function is None or function.trigger_type != ORCHESTRATION_TRIGGER:
            raise UnknownOrchestratorError(
                f"The function '{name}' doesn't exist, is disabled, or is not an orchestrator "
                "function."
            )
        instance_id = instance_id or new_id().hex
        execution_id = new_id().hex

        def change(connection: sqlite3.Connection) -> Message:
            status = instance_status(connection, instance_id)
            if status not in (None, *TERMINAL_STATUSES):
                raise InstanceExistsError(
                    f"An Orchestration instance with the status {status} already exists."
                )
            return create_instance(connection, instance_id, function.name, execution_id,
                                    input_text, None, self.owner, trace_parent)

        message = await self._store.submit(change)
        if self._leases.epoch_of(instance_id) is not None:
            self._load_new_instance(instance_id, function.name, execution_id, input_text, None,
                                    message, trace_parent)
        else:
            self._wake_owner(instance_id)
        logger.info("Instance %s of %s scheduled", instance_id, function.name)
        return instance_id

    async def send(self, instance_id: str, kind: str, event: dict[str, Any]) -> None:
        """Queue an external event or a control event for a non-terminal instance."""

        def change(connection: sqlite3.Connection) -> int:
            status = instance_status(connection, instance_id)
            if status is None:
                raise InstanceNotFoundError(instance_id)
            if status in TERMINAL_STATUSES:
                raise InstanceExistsError(status)
            return insert_message(connection, instance_id, None, kind, None, 0.0, event)

        message_id = await self._store.submit(change)
        self._route(instance_id, Message(message_id, None, kind, None, 0.0, event))

    async def raise_event(self, instance_id: str, name: str, input_text: str) -> None:
        timestamp = h.format_time(h.utc_now())
        await self.send(instance_id, KIND_EVENT,
                        h.event(h.EVENT_RAISED, timestamp, Name=name, Input=input_text))

    async def control(self, instance_id: str, event_type: int, reason: str | None) -> None:
        timestamp = h.format_time(h.utc_now())
        fields = {"Input": reason} if event_type == h.EXECUTION_TERMINATED else {"Reason": reason}
        await self.send(instance_id, KIND_CONTROL, h.event(event_type, timestamp, **fields))

    async def purge(self, instance_ids: list[str]) -> int:
        """Delete terminal instances with their history; return how many were deleted."""

        def change(connection: sqlite3.Connection) -> int:
            deleted = 0
            for instance_id in instance_ids:
                if instance_status(connection, instance_id) not in TERMINAL_STATUSES:
                    continue
                for table in ("history", "inbox", "work_items", "instances"):
                    connection.execute(f"DELETE FROM {table} WHERE instance_id=?", (instance_id,))
                deleted += 1
            return deleted

        return await self._store.submit(change)

    @property
    def reader(self) -> sqlite3.Connection:
        """The hub connection for reads on the event loop thread (committed state only)."""
        return self._store.reader
