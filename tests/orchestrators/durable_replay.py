"""Play an orchestration episode by episode through the real azure-functions-durable replay.

`OrchestrationReplay` acts as the Durable host would: it keeps the committed history, feeds
it with one new episode to the orchestrator's `handle`, records the actions the SDK returns
as TaskScheduled and TimerCreated events with the same sequence ids the host assigns, and
lets a test answer each activity, fire timers and raise external events. History events use
the SDK's protocol: integer `EventType`, `OrchestratorStarted` first, schema V3.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

# DurableTask history event types, as the SDK's HistoryEventType numbers them.
EXECUTION_STARTED = 0
TASK_SCHEDULED = 4
TASK_COMPLETED = 5
TASK_FAILED = 6
TIMER_CREATED = 10
TIMER_FIRED = 11
ORCHESTRATOR_STARTED = 12
ORCHESTRATOR_COMPLETED = 13
EVENT_RAISED = 15

# OrchestratorState action types, as the SDK's ActionType numbers them.
CALL_ACTIVITY = 0
CALL_ACTIVITY_WITH_RETRY = 1
CREATE_TIMER = 5
WAIT_FOR_EXTERNAL_EVENT = 6
COMPOUND_ACTIONS = (11, 12)

OUT_OF_PROC_DATA = "$OutOfProcData$:"

START_TIME = datetime(2026, 12, 4, 20, 0, tzinfo=UTC)


@dataclass
class ActivityCall:
    """An activity the orchestrator scheduled, with its sequence id and decoded input."""

    task_id: int
    name: str
    input: Any
    retry_options: dict[str, int] | None
    done: bool = False


@dataclass
class Timer:
    """A durable timer the orchestrator created."""

    task_id: int
    fire_at: datetime
    cancelled: bool = False
    fired: bool = False


@dataclass
class OrchestrationReplay:
    """The committed history of one instance, and the state the SDK returned last."""

    handle: Any
    instance_id: str
    history: list[dict[str, Any]] = field(default_factory=list)
    activities: list[ActivityCall] = field(default_factory=list)
    timers: list[Timer] = field(default_factory=list)
    state: dict[str, Any] = field(default_factory=dict)
    now: datetime = START_TIME
    input_json: str = "null"
    failed: bool = False
    _next_id: int = 0
    _actions_seen: int = 0

    # --- what a test does -------------------------------------------------------------

    def start(self, orchestration: str, orchestration_input: Any) -> None:
        """Play the first episode: ExecutionStarted with the input."""
        self.input_json = json.dumps(orchestration_input)
        started = self._event(EXECUTION_STARTED, Name=orchestration, Input=self.input_json)
        started["Version"] = ""
        self._play([started])

    def complete_activity(self, result: Any = None, name: str | None = None) -> ActivityCall:
        """Complete one open activity (the only one, or the one named) in one episode."""
        call = self.open_activity(name)
        self._complete([(call, result)])
        return call

    def complete_activities(self, results: dict[str, Any] | None = None) -> None:
        """Complete the activities as they are scheduled, until the orchestrator waits or ends.

        Activities scheduled together complete together in one episode, as a host batches
        the completions that are ready. `results` maps an activity name to its result;
        other activities return None.
        """
        results = results or {}
        while not (self.is_done or self.failed) and self.has_open_activity():
            calls = self.open_activities()
            self._complete([(call, results.get(call.name)) for call in calls])

    def run_activities(self, activities: dict[str, Any]) -> None:
        """Run the scheduled activities with the given functions, until the saga waits or ends.

        `activities` maps an activity name to a callable taking the decoded input, the way
        the worker calls an activity function with its input binding.
        """
        while not (self.is_done or self.failed) and self.has_open_activity():
            calls = self.open_activities()
            self._complete([(call, activities[call.name](call.input)) for call in calls])

    def fail_activity(
        self, reason: str, failures: int, max_attempts: int, name: str | None = None
    ) -> None:
        """Fail the open activity `failures` times, as the host's retry loop records it.

        The SDK gives each retry timer and each new attempt a sequence id without emitting
        an action. After the last allowed attempt it waits for one more timer and then
        fails the task; with attempts left, the activity stays open under its new id.
        """
        call = self.open_activity(name)
        for failure in range(failures):
            timer_id = self._take_id()
            failed = self._event(
                TASK_FAILED, TaskScheduledId=call.task_id, Reason=reason, Details="Traceback"
            )
            timer_created = self._event(TIMER_CREATED, EventId=timer_id, FireAt=self._iso(self.now))
            self._play([failed], [timer_created])

            retry = []
            if failure < max_attempts - 1:
                call.task_id = self._take_id()
                retry.append(
                    self._event(
                        TASK_SCHEDULED,
                        EventId=call.task_id,
                        Name=call.name,
                        Input=json.dumps(call.input),
                    )
                )
            fired = self._event(TIMER_FIRED, TimerId=timer_id, FireAt=self._iso(self.now))
            self._play([fired], retry)

        call.done = failures >= max_attempts

    def raise_event(self, name: str, data: Any) -> None:
        """Deliver an external event as `DurableOrchestrationClient.raise_event` sends it.

        The client JSON-encodes `data` and posts that string as the JSON body, and the host
        stores the body's JSON value, so the event's input is a JSON string of JSON text.
        """
        self._play([self._event(EVENT_RAISED, Name=name, Input=json.dumps(json.dumps(data)))])

    def fire_timer(self) -> Timer:
        """Fire the one open timer, stamping the episode at its due time."""
        open_timers = [timer for timer in self.timers if not (timer.cancelled or timer.fired)]
        assert len(open_timers) == 1, f"expected one open timer, found {open_timers}"
        timer = open_timers[0]
        timer.fired = True
        self.now = max(self.now, timer.fire_at)
        self._play(
            [self._event(TIMER_FIRED, TimerId=timer.task_id, FireAt=self._iso(timer.fire_at))]
        )
        return timer

    # --- what a test reads ------------------------------------------------------------

    @property
    def is_done(self) -> bool:
        return bool(self.state.get("isDone"))

    @property
    def output(self) -> Any:
        return self.state.get("output")

    @property
    def custom_status(self) -> Any:
        return self.state.get("customStatus")

    @property
    def error(self) -> str | None:
        return self.state.get("error")

    def has_open_activity(self) -> bool:
        return any(not call.done for call in self.activities)

    def open_activities(self) -> list[ActivityCall]:
        return [call for call in self.activities if not call.done]

    def open_activity(self, name: str | None = None) -> ActivityCall:
        """Return the open activity named `name`, or the only open one."""
        open_calls = [call for call in self.open_activities() if name in (None, call.name)]
        assert len(open_calls) == 1, f"expected one open activity {name or ''}, found {open_calls}"
        return open_calls[0]

    def activity_names(self) -> list[str]:
        return [call.name for call in self.activities]

    def activity_inputs(self, name: str) -> list[Any]:
        return [call.input for call in self.activities if call.name == name]

    # --- the host's side --------------------------------------------------------------

    def _complete(self, results: list[tuple[ActivityCall, Any]]) -> None:
        completions = []
        for call, result in results:
            call.done = True
            completions.append(
                self._event(TASK_COMPLETED, TaskScheduledId=call.task_id, Result=json.dumps(result))
            )
        self._play(completions)

    def _play(self, new_events: list[dict[str, Any]], decisions: list | None = None) -> None:
        self.now += timedelta(seconds=1)
        episode = [self._event(ORCHESTRATOR_STARTED), *new_events]
        past = [dict(event, IsPlayed=True) for event in self.history]
        context = {
            "history": past + episode,
            "instanceId": self.instance_id,
            "isReplaying": False,
            "parentInstanceId": None,
            "input": self.input_json,
            "upperSchemaVersion": 1,
            "upperSchemaVersionNew": 2,
        }

        self.state = self._invoke(json.dumps(context))

        self.history.extend(episode)
        self.history.extend(decisions or [])
        self.history.extend(self._record_new_actions())
        self.history.append(self._event(ORCHESTRATOR_COMPLETED))

    def _invoke(self, context: str) -> dict[str, Any]:
        # A failed orchestration raises; the SDK appends its state to the message after
        # this marker, which is how the host reads the error and the actions.
        try:
            return json.loads(self.handle(context))
        except Exception as error:
            message = str(error)
            if OUT_OF_PROC_DATA not in message:
                raise
            self.failed = True
            return json.loads(message.split(OUT_OF_PROC_DATA, 1)[1])

    def _record_new_actions(self) -> list[dict[str, Any]]:
        actions = _flatten(self.state.get("actions", []))
        timer_actions = [action for action in actions if action["actionType"] == CREATE_TIMER]
        for timer, action in zip(self.timers, timer_actions, strict=False):
            timer.cancelled = bool(action.get("isCanceled"))

        decisions = []
        for action in actions[self._actions_seen :]:
            decisions.extend(self._schedule(action))
        self._actions_seen = len(actions)
        return decisions

    def _schedule(self, action: dict[str, Any]) -> list[dict[str, Any]]:
        kind = action["actionType"]
        if kind in (CALL_ACTIVITY, CALL_ACTIVITY_WITH_RETRY):
            task_id = self._take_id()
            call = ActivityCall(
                task_id,
                action["functionName"],
                json.loads(action["input"]),
                action.get("retryOptions"),
            )
            self.activities.append(call)
            return [
                self._event(TASK_SCHEDULED, EventId=task_id, Name=call.name, Input=action["input"])
            ]
        if kind == CREATE_TIMER:
            task_id = self._take_id()
            fire_at = datetime.strptime(action["fireAt"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
                tzinfo=UTC
            )
            self.timers.append(Timer(task_id, fire_at, bool(action.get("isCanceled"))))
            return [self._event(TIMER_CREATED, EventId=task_id, FireAt=action["fireAt"])]
        if kind == WAIT_FOR_EXTERNAL_EVENT:
            return []
        raise AssertionError(f"the replay helper does not handle action type {kind}: {action}")

    def _take_id(self) -> int:
        task_id = self._next_id
        self._next_id += 1
        return task_id

    def _event(self, event_type: int, **fields: Any) -> dict[str, Any]:
        event = {
            "EventType": event_type,
            "EventId": -1,
            "IsPlayed": False,
            "Timestamp": self._iso(self.now),
        }
        event.update(fields)
        return event

    @staticmethod
    def _iso(moment: datetime) -> str:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _flatten(actions: list[Any]) -> list[dict[str, Any]]:
    flat: list[dict[str, Any]] = []
    for action in actions:
        if isinstance(action, list):
            flat.extend(_flatten(action))
        elif action["actionType"] in COMPOUND_ACTIONS:
            flat.extend(_flatten(action["compoundActions"]))
        else:
            flat.append(action)
    return flat
