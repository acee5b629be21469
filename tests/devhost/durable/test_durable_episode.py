"""Episodes as pure functions, driven against the real Durable SDK without a host."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.durable_functions as df

from devhost.durable import history as h
from devhost.durable.episode import (
    Bookkeeping,
    EpisodeResult,
    build_context,
    decide,
    execute_orchestrator,
    flatten_actions,
    prepare_retries,
)


class EpisodeDriver:
    """Feed events to an orchestrator episode by episode, as the engine does, in memory."""

    def __init__(self, orchestrator: Any, input_value: Any = None) -> None:
        self.handle = df.Orchestrator.create(orchestrator)
        self.bookkeeping = Bookkeeping()
        self.played: list[str] = []
        self.clock = datetime(2026, 12, 4, tzinfo=UTC)
        self.input = json.dumps(input_value)

    def run(self, events: list[dict[str, Any]]) -> EpisodeResult:
        self.clock += timedelta(seconds=1)
        bookkeeping = self.bookkeeping.copy()
        retries = prepare_retries(bookkeeping, events, self.clock, "execution")
        incoming = [h.event(h.ORCHESTRATOR_STARTED, h.format_time(self.clock)), *events]
        context = build_context("instance", None, self.input, self.played, incoming)
        state, error = execute_orchestrator(self.handle, context)
        result = decide(bookkeeping, state, error, self.clock, "execution", "test")
        result.decisions.events[:0] = retries.events
        result.decisions.activities[:0] = retries.activities
        result.decisions.timers[:0] = retries.timers
        recorded = [*incoming, *result.decisions.events]
        self.played += [json.dumps({**e, "IsPlayed": True}) for e in recorded]
        self.bookkeeping = bookkeeping
        return result

    def start(self) -> EpisodeResult:
        timestamp = h.format_time(self.clock)
        return self.run([h.event(h.EXECUTION_STARTED, timestamp, Name="test", Input=self.input,
                                 Version="")])


def _completed(task_id: int, value: Any) -> dict[str, Any]:
    return h.event(h.TASK_COMPLETED, "2026-12-04T00:00:00.000000Z", TaskScheduledId=task_id,
                   Result=json.dumps(value))


def _failed(task_id: int, message: str) -> dict[str, Any]:
    return h.event(h.TASK_FAILED, "2026-12-04T00:00:00.000000Z", TaskScheduledId=task_id,
                   Reason=message, Details=None)


def _fired(timer_id: int) -> dict[str, Any]:
    return h.event(h.TIMER_FIRED, "2026-12-04T00:00:00.000000Z", TimerId=timer_id,
                   FireAt="2026-12-04T00:00:00.000000Z")


def retry_then_continue(context: df.DurableOrchestrationContext):
    options = df.RetryOptions(first_retry_interval_in_milliseconds=10, max_number_of_attempts=2)
    try:
        yield context.call_activity_with_retry("flaky", options, 1)
    except Exception as error:
        after = yield context.call_activity("after", str(error))
        return after
    return "no failure"


def test_retry_ids_stay_in_step_with_the_sdk_and_later_tasks_complete() -> None:
    driver = EpisodeDriver(retry_then_continue)

    first = driver.start()
    first_retry = driver.run([_failed(0, "boom 1")])
    second_attempt = driver.run([_fired(1)])
    last_retry = driver.run([_failed(2, "boom 2")])
    exhausted = driver.run([_fired(3)])
    finished = driver.run([_completed(4, "recovered")])

    assert [a.task_id for a in first.decisions.activities] == [0]
    assert [t.task_id for t in first_retry.decisions.timers] == [1]
    assert [a.task_id for a in second_attempt.decisions.activities] == [2]
    assert [t.task_id for t in last_retry.decisions.timers] == [3]
    assert [(a.task_id, a.name) for a in exhausted.decisions.activities] == [(4, "after")]
    assert "boom 2" in json.loads(exhausted.decisions.activities[0].input)
    assert finished.is_done
    assert finished.output == "recovered"


def fan_out_with_timer(context: df.DurableOrchestrationContext):
    deadline = context.create_timer(context.current_utc_datetime + timedelta(hours=1))
    work = context.task_all([context.call_activity("work", i) for i in range(3)])
    winner = yield context.task_any([work, deadline])
    if winner == work:
        deadline.cancel()
        return work.result
    return "late"


def test_batched_completions_finish_in_one_episode_and_cancel_the_timer() -> None:
    driver = EpisodeDriver(fan_out_with_timer)

    first = driver.start()
    done = driver.run([_completed(0, 10), _completed(1, 20), _completed(2, 30)])

    # Ids follow the order tasks are yielded (the task_any children), not creation order.
    assert [a.task_id for a in first.decisions.activities] == [0, 1, 2]
    assert [t.task_id for t in first.decisions.timers] == [3]
    assert done.output == [10, 20, 30]
    assert done.decisions.canceled_timers == [3]


def first_version(context: df.DurableOrchestrationContext):
    yield context.call_activity("reserve", None)
    yield context.wait_for_external_event("Go")
    return "done"


def second_version(context: df.DurableOrchestrationContext):
    yield context.call_activity("charge", None)
    yield context.wait_for_external_event("Go")
    return "done"


def test_changed_orchestrator_is_reported_as_non_deterministic() -> None:
    driver = EpisodeDriver(first_version)
    driver.start()
    driver.run([_completed(0, None)])

    driver.handle = df.Orchestrator.create(second_version)
    raised = h.event(h.EVENT_RAISED, "2026-12-04T00:00:00.000000Z", Name="Go", Input="null")
    result = driver.run([raised])

    assert result.failure is not None
    assert "sequence id 0" in result.failure
    assert "activity 'reserve'" in result.failure
    assert "activity 'charge'" in result.failure


def failing_orchestrator(context: df.DurableOrchestrationContext):
    context.set_custom_status("about to fail")
    yield context.call_activity("step", None)
    raise ValueError("bad order")


def test_orchestrator_failure_keeps_custom_status_and_names_the_function() -> None:
    driver = EpisodeDriver(failing_orchestrator)
    driver.start()

    result = driver.run([_completed(0, None)])

    assert result.failure == "Orchestrator function 'test' failed: bad order"
    assert result.custom_status == "about to fail"


def test_retry_action_is_flattened_out_of_its_when_all_wrapper() -> None:
    state = {"actions": [[{"actionType": 12, "compoundActions": [
        {"actionType": 1, "functionName": "flaky", "input": "1", "retryOptions": {}}]}]]}

    assert [a["functionName"] for a in flatten_actions(state)] == ["flaky"]
