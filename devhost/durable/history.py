"""DurableTask history events in the JSON shape the Python SDK reads (EventType as int)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

EXECUTION_STARTED = 0
EXECUTION_COMPLETED = 1
EXECUTION_FAILED = 2
EXECUTION_TERMINATED = 3
TASK_SCHEDULED = 4
TASK_COMPLETED = 5
TASK_FAILED = 6
SUB_ORCHESTRATION_CREATED = 7
SUB_ORCHESTRATION_COMPLETED = 8
SUB_ORCHESTRATION_FAILED = 9
TIMER_CREATED = 10
TIMER_FIRED = 11
ORCHESTRATOR_STARTED = 12
ORCHESTRATOR_COMPLETED = 13
EVENT_RAISED = 15
CONTINUE_AS_NEW = 16
EXECUTION_SUSPENDED = 19
EXECUTION_RESUMED = 20

EVENT_NAMES = {
    EXECUTION_STARTED: "ExecutionStarted",
    EXECUTION_COMPLETED: "ExecutionCompleted",
    EXECUTION_FAILED: "ExecutionFailed",
    EXECUTION_TERMINATED: "ExecutionTerminated",
    TASK_SCHEDULED: "TaskScheduled",
    TASK_COMPLETED: "TaskCompleted",
    TASK_FAILED: "TaskFailed",
    SUB_ORCHESTRATION_CREATED: "SubOrchestrationInstanceCreated",
    SUB_ORCHESTRATION_COMPLETED: "SubOrchestrationInstanceCompleted",
    SUB_ORCHESTRATION_FAILED: "SubOrchestrationInstanceFailed",
    TIMER_CREATED: "TimerCreated",
    TIMER_FIRED: "TimerFired",
    ORCHESTRATOR_STARTED: "OrchestratorStarted",
    ORCHESTRATOR_COMPLETED: "OrchestratorCompleted",
    EVENT_RAISED: "EventRaised",
    CONTINUE_AS_NEW: "ContinueAsNew",
    EXECUTION_SUSPENDED: "ExecutionSuspended",
    EXECUTION_RESUMED: "ExecutionResumed",
}

# The event types azure-functions-durable 1.7.0 acts on when it replays a history
# (TaskOrchestrationExecutor.process_event). It parses every event it is sent, but does nothing
# with the others (TaskScheduled, TimerCreated, OrchestratorCompleted, ...).
SDK_EVENT_TYPES = frozenset({
    EXECUTION_STARTED, TASK_COMPLETED, TASK_FAILED, SUB_ORCHESTRATION_COMPLETED,
    SUB_ORCHESTRATION_FAILED, TIMER_FIRED, ORCHESTRATOR_STARTED, 14, EVENT_RAISED,
    CONTINUE_AS_NEW,
})

# OrchestrationStatus values that DTFx writes into ExecutionCompleted.
ORCHESTRATION_STATUS_CODES = {"Completed": 1, "Failed": 3, "Terminated": 5}

_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def utc_now() -> datetime:
    return datetime.now(UTC)


def format_time(moment: datetime) -> str:
    """Format a UTC datetime as the SDK and DTFx write it (microseconds, literal Z)."""
    return moment.astimezone(UTC).strftime(_FORMAT)


def parse_time(text: str) -> datetime:
    """Parse a timestamp written by format_time or by the SDK's CreateTimer fireAt."""
    text = text.rstrip("Z")
    if "." in text:
        head, fraction = text.split(".", 1)
        text = f"{head}.{fraction[:6].ljust(6, '0')}"
    else:
        text += ".000000"
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC)


def event(event_type: int, timestamp: str, event_id: int = -1, **fields: Any) -> dict[str, Any]:
    """Build one history event with the keys every SDK event requires."""
    return {
        "EventType": event_type,
        "EventId": event_id,
        "IsPlayed": False,
        "Timestamp": timestamp,
        **fields,
    }
