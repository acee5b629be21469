"""Measure the SDK replay ceiling: the run's own saga histories replayed with no host around it.

Each worker process reads its share of the completed instances from the task hub, rebuilds the
context of every episode as the Durable extension sends it (the events before the episode as
played, then the episode's new events), and then times only the calls into the unmodified
SDK, through the same azure.functions converters the Python worker uses. The ceiling is the
sagas per second that many processes could replay if replay were the only work.
"""

from __future__ import annotations

import json
import multiprocessing
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The event types azure-functions-durable 1.7.0 acts on during replay
# (TaskOrchestrationExecutor.process_event); a host in compact mode sends only these.
SDK_EVENT_TYPES = frozenset({0, 5, 6, 8, 9, 11, 12, 14, 15, 16})
ORCHESTRATOR_STARTED = 12
EXECUTION_STARTED = 0


@dataclass(frozen=True)
class Ceiling:
    """Replay throughput of the run's histories through the SDK alone."""

    processes: int
    sagas: int
    episodes: int
    sagas_per_second: float
    cpu_ms_per_episode: float


def measure_ceiling(
    state_dir: Path, instance_ids: list[str], processes: int, compact: bool
) -> Ceiling:
    """Replay the instances' histories on `processes` spawned processes; sum their rates."""
    shares = [instance_ids[index::processes] for index in range(processes)]
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=processes, mp_context=context, initializer=_quiet_buffered_events
    ) as pool:
        results = list(pool.map(_replay_share, [state_dir] * processes, shares,
                                [compact] * processes))

    episodes = sum(result[1] for result in results)
    cpu = sum(result[3] for result in results)
    return Ceiling(
        processes=processes,
        sagas=len(instance_ids),
        episodes=episodes,
        sagas_per_second=sum(result[0] / result[2] for result in results if result[2] > 0),
        cpu_ms_per_episode=1000 * cpu / max(1, episodes),
    )


def _quiet_buffered_events() -> None:
    # The SDK warns when an external event arrives before the orchestrator waits for it, and
    # buffers the event. Carrier events often arrive so, and a warning per replay hides the output.
    warnings.filterwarnings("ignore", message="Potential duplicate Task completion")


def _replay_share(
    state_dir: Path, instance_ids: list[str], compact: bool
) -> tuple[int, int, float, float]:
    """Replay every episode of the instances; return (sagas, episodes, wall s, CPU s)."""
    from azure.functions import meta
    from azure.functions.durable_functions import OrchestrationTriggerConverter

    from benchmarks.taskhub import TaskHubReader

    handles = _orchestrator_handles()
    reader = TaskHubReader(state_dir)
    episodes = [
        (handles[name], context)
        for instance_id in instance_ids
        for name, context in _episode_contexts(reader, instance_id, compact)
    ]
    reader.close()

    wall, cpu = time.perf_counter(), time.process_time()
    for handle, context_json in episodes:
        context = OrchestrationTriggerConverter.decode(
            meta.Datum(type="json", value=context_json), trigger_metadata={}
        )
        try:
            returned = handle(context=context)
        except Exception as error:  # the SDK reports an orchestrator failure by raising
            returned = str(error)
        OrchestrationTriggerConverter.encode(returned, expected_type=None)
    return len(instance_ids), len(episodes), time.perf_counter() - wall, time.process_time() - cpu


def _orchestrator_handles() -> dict[str, Any]:
    """Return the SDK handle of every orchestrator in the app's orchestrators package."""
    from orchestrators import order_saga

    handles = {}
    for builder in order_saga.bp._function_builders:
        function = builder.build()
        if function.get_trigger().get_binding_name() == "orchestrationTrigger":
            handles[function.get_function_name()] = function.get_user_function()
    return handles


def _episode_contexts(reader, instance_id: str, compact: bool) -> list[tuple[str, str]]:
    """Return (orchestrator name, context JSON) for each episode in an instance's history."""
    texts = reader.history_texts(instance_id)
    events = [json.loads(text) for text in texts]
    name = next(event["Name"] for event in events if event["EventType"] == EXECUTION_STARTED)
    header = json.dumps({
        "instanceId": instance_id, "isReplaying": False, "parentInstanceId": None,
        "input": reader.input_text(instance_id), "upperSchemaVersion": 1,
        "upperSchemaVersionNew": 2,
    })
    starts = [i for i, event in enumerate(events) if event["EventType"] == ORCHESTRATOR_STARTED]
    contexts = []

    for number, start in enumerate(starts):
        end = starts[number + 1] if number + 1 < len(starts) else len(events)
        played = [
            text for text, event in zip(texts[:start], events[:start], strict=True)
            if not compact or event["EventType"] in SDK_EVENT_TYPES
        ]
        new = [
            json.dumps({**event, "IsPlayed": False})
            for event in events[start:end]
            if event["EventType"] in SDK_EVENT_TYPES
        ]
        contexts.append((name, '{"history":[' + ",".join(played + new) + "]," + header[1:]))
    return contexts
