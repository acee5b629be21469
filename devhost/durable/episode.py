"""One orchestrator episode as pure functions: history in, SDK response and decisions out.

Nothing here touches SQLite, the event loop or the clock, so an episode can run in any thread
or worker process. The engine selects the inbox events, calls `prepare_retries`, builds the
context with `build_context`, runs the SDK with `execute_orchestrator`, and turns the response
into history events and work with `decide`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from azure.functions import meta
from azure.functions.durable_functions import OrchestrationTriggerConverter

from devhost.durable import history as h

OUT_OF_PROC_LABEL = "\n\n$OutOfProcData$:"

# Action types of the out-of-process protocol (azure.durable_functions ActionType).
CALL_ACTIVITY, CALL_ACTIVITY_WITH_RETRY = 0, 1
CALL_SUB_ORCHESTRATOR, CALL_SUB_ORCHESTRATOR_WITH_RETRY = 2, 3
CONTINUE_AS_NEW, CREATE_TIMER, WAIT_FOR_EXTERNAL_EVENT = 4, 5, 6
CALL_ENTITY, CALL_HTTP, SIGNAL_ENTITY = 7, 8, 9
WHEN_ANY, WHEN_ALL = 11, 12

_ACTION_KINDS = {
    CALL_ACTIVITY: "activity",
    CALL_ACTIVITY_WITH_RETRY: "activity",
    CALL_SUB_ORCHESTRATOR: "sub-orchestration",
    CALL_SUB_ORCHESTRATOR_WITH_RETRY: "sub-orchestration",
    CONTINUE_AS_NEW: "continue-as-new",
    CREATE_TIMER: "timer",
    WAIT_FOR_EXTERNAL_EVENT: "external event",
    CALL_ENTITY: "entity call",
    CALL_HTTP: "HTTP call",
    SIGNAL_ENTITY: "entity signal",
}
_UNSUPPORTED = {CALL_ENTITY, SIGNAL_ENTITY, CALL_HTTP}


@dataclass
class Bookkeeping:
    """Per-execution state the engine keeps beside the history (persisted as JSON)."""

    next_id: int = 0
    actions: list[list[Any]] = field(default_factory=list)  # [kind, name, sequence id or None]
    retries: dict[str, dict[str, Any]] = field(default_factory=dict)  # by current task id
    retry_timers: dict[str, str] = field(default_factory=dict)  # hidden timer id -> task id
    timers: dict[str, str] = field(default_factory=dict)  # pending user timer id -> fireAt
    last_timestamp: str | None = None

    def to_json(self) -> str:
        return json.dumps(self.__dict__, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> Bookkeeping:
        return cls(**json.loads(text))

    def copy(self) -> Bookkeeping:
        return Bookkeeping.from_json(self.to_json())

    def allocate_id(self) -> int:
        self.next_id += 1
        return self.next_id - 1


@dataclass
class ActivityRequest:
    task_id: int
    name: str
    input: str


@dataclass
class TimerRequest:
    task_id: int
    fire_at: datetime
    user_timer: bool


@dataclass
class ChildRequest:
    task_id: int
    name: str
    instance_id: str
    input: str | None


@dataclass
class Decisions:
    """Everything an episode decided: history to append and work to enqueue."""

    events: list[dict[str, Any]] = field(default_factory=list)
    activities: list[ActivityRequest] = field(default_factory=list)
    timers: list[TimerRequest] = field(default_factory=list)
    children: list[ChildRequest] = field(default_factory=list)
    canceled_timers: list[int] = field(default_factory=list)


@dataclass
class EpisodeResult:
    """The outcome of one episode: decisions plus the instance's new runtime state."""

    decisions: Decisions
    is_done: bool = False
    output: Any = None
    custom_status: Any = None
    has_custom_status: bool = False
    failure: str | None = None
    continue_as_new_input: str | None = None


def is_retry_event(bookkeeping: Bookkeeping, event: dict[str, Any]) -> bool:
    """Tell whether delivering event makes the SDK allocate a hidden retry id."""
    kind = event["EventType"]
    if kind in (h.TASK_FAILED, h.SUB_ORCHESTRATION_FAILED):
        return str(event["TaskScheduledId"]) in bookkeeping.retries
    if kind == h.TIMER_FIRED:
        return str(event["TimerId"]) in bookkeeping.retry_timers
    return False


def prepare_retries(
    bookkeeping: Bookkeeping, events: list[dict[str, Any]], now: datetime, execution_id: str
) -> Decisions:
    """Allocate the hidden ids the SDK's retry tasks take for the delivered events.

    The SDK gives a failed retryable task a hidden timer id, and a fired retry timer either a
    hidden id for the next attempt or, after the last attempt, nothing (the task then fails).
    The caller delivers at most one such event per episode, first, so these ids come before
    the ids of actions the orchestrator schedules in the same episode.
    """
    decisions = Decisions()
    timestamp = h.format_time(now)
    for event in events:
        kind = event["EventType"]
        if kind in (h.TASK_COMPLETED, h.SUB_ORCHESTRATION_COMPLETED):
            bookkeeping.retries.pop(str(event["TaskScheduledId"]), None)
        elif kind in (h.TASK_FAILED, h.SUB_ORCHESTRATION_FAILED) and is_retry_event(
            bookkeeping, event
        ):
            _schedule_retry_timer(bookkeeping, str(event["TaskScheduledId"]), now, decisions)
        elif kind == h.TIMER_FIRED and is_retry_event(bookkeeping, event):
            _schedule_next_attempt(
                bookkeeping, str(event["TimerId"]), timestamp, execution_id, decisions
            )
    return decisions


def _schedule_retry_timer(
    bookkeeping: Bookkeeping, task_key: str, now: datetime, decisions: Decisions
) -> None:
    record = bookkeeping.retries[task_key]
    timer_id = bookkeeping.allocate_id()
    fire_at = now + timedelta(milliseconds=record["interval_ms"])
    bookkeeping.retry_timers[str(timer_id)] = task_key
    decisions.events.append(
        h.event(h.TIMER_CREATED, h.format_time(now), timer_id, FireAt=h.format_time(fire_at))
    )
    decisions.timers.append(TimerRequest(timer_id, fire_at, user_timer=False))


def _schedule_next_attempt(
    bookkeeping: Bookkeeping, timer_key: str, timestamp: str, execution_id: str,
    decisions: Decisions,
) -> None:
    task_key = bookkeeping.retry_timers.pop(timer_key)
    record = bookkeeping.retries.pop(task_key)
    if record["attempt"] >= record["max_attempts"]:
        return
    record["attempt"] += 1
    task_id = bookkeeping.allocate_id()
    bookkeeping.retries[str(task_id)] = record
    if record["kind"] == "activity":
        decisions.events.append(
            h.event(h.TASK_SCHEDULED, timestamp, task_id, Name=record["name"],
                    Input=record["input"])
        )
        decisions.activities.append(ActivityRequest(task_id, record["name"], record["input"]))
        return
    child_id = record["instance_id"] or f"{execution_id}:{task_id}"
    decisions.events.append(
        h.event(h.SUB_ORCHESTRATION_CREATED, timestamp, task_id, Name=record["name"],
                InstanceId=child_id, Input=record["input"])
    )
    decisions.children.append(ChildRequest(task_id, record["name"], child_id, record["input"]))


def build_context(
    instance_id: str,
    parent_instance_id: str | None,
    input_text: str | None,
    played: list[str],
    new_events: list[dict[str, Any]],
) -> str:
    """Build the orchestration trigger payload: past events (IsPlayed) plus the new episode.

    `played` holds the stored JSON text of past events, so the history is not serialized again
    on every replay.
    """
    header = json.dumps(
        {
            "instanceId": instance_id,
            "isReplaying": False,
            "parentInstanceId": parent_instance_id,
            "input": input_text,
            "upperSchemaVersion": 1,
            "upperSchemaVersionNew": 2,
        },
        separators=(",", ":"),
    )
    events = played + [json.dumps(e, separators=(",", ":")) for e in new_events]
    return '{"history":[' + ",".join(events) + "]," + header[1:]


def execute_orchestrator(handle: Callable[..., Any], context_json: str) -> tuple[dict, str | None]:
    """Run the SDK's orchestrator handle on a context; return (state, error message or None).

    The handle is called through the azure.functions orchestration trigger converters, as the
    worker calls it. An orchestrator failure comes back as the SDK's out-of-process error, whose
    state after the label still carries the actions and custom status.
    """
    context = OrchestrationTriggerConverter.decode(
        meta.Datum(type="json", value=context_json), trigger_metadata={}
    )
    try:
        returned = handle(context=context)
    except Exception as error:
        text = str(error)
        if OUT_OF_PROC_LABEL in text:
            message, _, state_text = text.partition(OUT_OF_PROC_LABEL)
            state = json.loads(state_text)
            return state, state.get("error") or message
        return {"isDone": False, "actions": []}, f"{type(error).__name__}: {error}"
    encoded = OrchestrationTriggerConverter.encode(returned, expected_type=None)
    return json.loads(encoded.value), None


def flatten_actions(state: dict[str, Any]) -> list[dict[str, Any]]:
    """Flatten the cumulative action list depth-first, dropping WhenAny/WhenAll wrappers."""
    flat: list[dict[str, Any]] = []

    def walk(action: dict[str, Any]) -> None:
        if action["actionType"] in (WHEN_ANY, WHEN_ALL):
            for child in action["compoundActions"]:
                walk(child)
        else:
            flat.append(action)

    for group in state.get("actions") or []:
        for action in group if isinstance(group, list) else [group]:
            walk(action)
    return flat


def _action_name(action: dict[str, Any]) -> str:
    kind = action["actionType"]
    if kind == WAIT_FOR_EXTERNAL_EVENT:
        return action.get("externalEventName", "")
    if kind in (CALL_ENTITY, SIGNAL_ENTITY):
        return f"{action.get('instanceId')}.{action.get('operation')}"
    if kind == CALL_HTTP:
        request = action.get("httpRequest") or {}
        return f"{request.get('method')} {request.get('uri')}"
    return action.get("functionName") or ""


class NonDeterminismError(Exception):
    """The orchestrator no longer schedules what the instance's history recorded."""


def decide(
    bookkeeping: Bookkeeping,
    state: dict[str, Any],
    error: str | None,
    now: datetime,
    execution_id: str,
    orchestrator_name: str,
) -> EpisodeResult:
    """Turn the SDK's response into history events, work requests and the instance outcome."""
    result = EpisodeResult(decisions=Decisions())
    if "customStatus" in state:
        result.custom_status, result.has_custom_status = state["customStatus"], True
    if error is not None:
        result.failure = f"Orchestrator function '{orchestrator_name}' failed: {error}"
        return result

    actions = flatten_actions(state)
    try:
        _check_replayed_actions(bookkeeping, actions, result.decisions)
    except NonDeterminismError as mismatch:
        result.failure = f"Orchestrator function '{orchestrator_name}' failed: {mismatch}"
        return result

    timestamp = h.format_time(now)
    for action in actions[len(bookkeeping.actions):]:
        problem = _schedule_action(bookkeeping, action, timestamp, execution_id, result)
        if problem:
            result.failure = f"Orchestrator function '{orchestrator_name}' failed: {problem}"
            return result

    if state.get("isDone"):
        result.is_done = True
        result.output = state.get("output")
    return result


def _check_replayed_actions(
    bookkeeping: Bookkeeping, actions: list[dict[str, Any]], decisions: Decisions
) -> None:
    for index, (recorded, action) in enumerate(zip(bookkeeping.actions, actions, strict=False)):
        kind, name = _ACTION_KINDS.get(action["actionType"], "unknown"), _action_name(action)
        if (kind, name) != (recorded[0], recorded[1]):
            where = f"sequence id {recorded[2]}" if recorded[2] is not None else f"action {index}"
            raise NonDeterminismError(
                f"Non-deterministic workflow detected: at {where} the history recorded "
                f"{recorded[0]} '{recorded[1]}' but the orchestrator now schedules {kind} "
                f"'{name}'. A running instance must replay the same steps; start changed "
                "code under a new orchestrator name or let running instances finish first."
            )
        if kind == "timer" and action.get("isCanceled") and str(recorded[2]) in bookkeeping.timers:
            del bookkeeping.timers[str(recorded[2])]
            decisions.canceled_timers.append(recorded[2])


def _schedule_action(
    bookkeeping: Bookkeeping, action: dict[str, Any], timestamp: str, execution_id: str,
    result: EpisodeResult,
) -> str | None:
    kind = action["actionType"]
    name = _action_name(action)
    if kind in _UNSUPPORTED:
        return f"{_ACTION_KINDS[kind]} '{name}' is not supported by devhost."
    task_id = None if kind == WAIT_FOR_EXTERNAL_EVENT else bookkeeping.allocate_id()
    bookkeeping.actions.append([_ACTION_KINDS.get(kind, "unknown"), name, task_id])
    decisions = result.decisions

    if kind in (CALL_ACTIVITY, CALL_ACTIVITY_WITH_RETRY):
        decisions.events.append(
            h.event(h.TASK_SCHEDULED, timestamp, task_id, Name=name, Input=action.get("input"))
        )
        decisions.activities.append(ActivityRequest(task_id, name, action.get("input")))
    elif kind in (CALL_SUB_ORCHESTRATOR, CALL_SUB_ORCHESTRATOR_WITH_RETRY):
        child_id = action.get("instanceId") or f"{execution_id}:{task_id}"
        decisions.events.append(
            h.event(h.SUB_ORCHESTRATION_CREATED, timestamp, task_id, Name=name,
                    InstanceId=child_id, Input=action.get("input"))
        )
        decisions.children.append(ChildRequest(task_id, name, child_id, action.get("input")))
    elif kind == CREATE_TIMER:
        fire_at = h.parse_time(action["fireAt"])
        decisions.events.append(
            h.event(h.TIMER_CREATED, timestamp, task_id, FireAt=h.format_time(fire_at))
        )
        if not action.get("isCanceled"):
            bookkeeping.timers[str(task_id)] = h.format_time(fire_at)
            decisions.timers.append(TimerRequest(task_id, fire_at, user_timer=True))
    elif kind == CONTINUE_AS_NEW:
        result.continue_as_new_input = action.get("input")

    if kind in (CALL_ACTIVITY_WITH_RETRY, CALL_SUB_ORCHESTRATOR_WITH_RETRY):
        options = action.get("retryOptions") or {}
        bookkeeping.retries[str(task_id)] = {
            "kind": "activity" if kind == CALL_ACTIVITY_WITH_RETRY else "sub-orchestration",
            "name": name,
            "input": action.get("input"),
            "instance_id": action.get("instanceId"),
            "interval_ms": int(options.get("firstRetryIntervalInMilliseconds", 0)),
            "max_attempts": int(options.get("maxNumberOfAttempts", 1)),
            "attempt": 1,
        }
    return None
