"""`devhost start --processes 2`: two host processes over one state folder, over real HTTP."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from devhost_support import RunningHost, launch

from devhost.durable import history as h
from devhost.durable.partitions import partition_of
from devhost.supervisor import exit_reason

PARTITIONS = 4  # the test app's host.json sets no partitionCount


@pytest.fixture
def two_processes(tmp_path: Path) -> Iterator[RunningHost]:
    host = launch("durable_app", tmp_path / "state",
                  extra_args=("--processes", "2", "--partition-lease-seconds", "1",
                              "--episode-workers", "0"))
    assert host.base_url, f"devhost --processes 2 did not become ready:\n{host.text()}"
    yield host
    host.stop()


def _hub(host: RunningHost, sql: str, *parameters: object) -> list[tuple]:
    connection = sqlite3.connect(f"file:{host.state_dir / 'taskhub.sqlite'}?mode=ro", uri=True)
    try:
        return connection.execute(sql, parameters).fetchall()
    finally:
        connection.close()


def _owners(host: RunningHost) -> dict[int, str]:
    return dict(_hub(host, "SELECT partition_id, owner FROM partitions"))


def _pid(owner: str) -> int:
    return int(owner.split(":")[1])  # owners read host:pid:id


def _events(host: RunningHost, instance_id: str) -> list[dict]:
    rows = _hub(host, "SELECT event FROM history WHERE instance_id=? ORDER BY sequence",
                instance_id)
    return [json.loads(text) for (text,) in rows]


def _repeated_steps(events: list[dict]) -> list[tuple[int, int]]:
    """Return (event type, task id) pairs recorded more than once in one history."""
    steps = Counter(
        (event["EventType"], event.get("TaskScheduledId", event.get("EventId")))
        for event in events
        if event["EventType"] in (h.TASK_SCHEDULED, h.TASK_COMPLETED,
                                  h.SUB_ORCHESTRATION_COMPLETED)
    )
    return [step for step, count in steps.items() if count > 1]


def _wait_through_resets(host: RunningHost, instance_id: str) -> str:
    """Wait for an instance to finish, asking again when a connection was reset.

    A connection that the killed process had accepted, or had queued, is reset.
    """
    deadline = time.monotonic() + 30
    while True:
        try:
            return host.wait_for(instance_id, timeout=30)["runtimeStatus"]
        except ConnectionResetError:
            assert time.monotonic() < deadline, f"{instance_id}: connections kept resetting"


def test_two_processes_print_one_banner(two_processes: RunningHost) -> None:
    output = two_processes.text()

    assert output.count("Functions in ") == 1
    assert output.count("devhost ready on ") == 1


def test_two_processes_complete_orchestrations_started_over_http(
    two_processes: RunningHost,
) -> None:
    host = two_processes
    started = [host.start(name, payload)
               for name, payload in [("chain", None), ("parent", None), ("fan_out", 6)] * 8]

    statuses = [host.wait_for(instance_id)["runtimeStatus"] for instance_id in started]
    owners = _owners(host)
    ran_by = {owners[partition_of(instance_id, PARTITIONS)] for instance_id in started}
    repeated = {i: _repeated_steps(_events(host, i)) for i in started}

    assert set(statuses) == {"Completed"}
    assert len(ran_by) == 2
    assert {i: r for i, r in repeated.items() if r} == {}


def test_events_raised_on_any_process_reach_their_instances(two_processes: RunningHost) -> None:
    host = two_processes
    waiters = [host.start("waiter") for _ in range(12)]
    for instance_id in waiters:
        host.wait_for(instance_id, statuses=("Running",))

    for instance_id in waiters:
        answer = host.request("POST", f"/api/events/{instance_id}/Finish", instance_id)
        assert answer.status == 202, answer.body
    outputs = [host.wait_for(instance_id)["output"] for instance_id in waiters]

    # The SDK's raise_event JSON-encodes its data, so each waiter returns a JSON string.
    assert outputs == [json.dumps(instance_id) for instance_id in waiters]


@pytest.mark.slow
def test_killed_process_work_completes_on_the_other(
    two_processes: RunningHost, scratch_db: str
) -> None:
    host = two_processes
    owners = _owners(host)
    victim = owners[0]
    survivor = next(owner for owner in owners.values() if owner != victim)
    theirs = [i for i in (f"victim-{n}" for n in range(200))
              if owners[partition_of(i, PARTITIONS)] == victim][:6]
    job = {"db": scratch_db, "steps": 2, "delay": 1.0}
    started = [host.start("timer", 2, instance_id=i) for i in theirs[:3]]
    started += [host.start("effects", job, instance_id=i) for i in theirs[3:]]
    for instance_id in started:
        host.wait_for(instance_id, statuses=("Running",))
    pending = _hub(host, "SELECT COUNT(*) FROM work_items")[0][0]

    os.kill(_pid(victim), signal.SIGKILL)
    statuses = [_wait_through_resets(host, i) for i in started]
    deadline = time.monotonic() + 10
    while victim in _owners(host).values() and time.monotonic() < deadline:
        time.sleep(0.1)

    assert pending >= 1  # each effect takes 1 s, so at least the last one started still runs
    assert set(statuses) == {"Completed"}
    assert victim not in _owners(host).values()
    assert survivor in _owners(host).values()
    assert f"(pid {_pid(victim)}) was killed by SIGKILL; restarted it" in host.text()


def test_second_supervisor_on_the_same_folder_is_refused(
    two_processes: RunningHost,
) -> None:
    second = launch("durable_app", two_processes.state_dir, extra_args=("--processes", "2"))

    assert second.process.wait(timeout=30) == 1
    assert "Another devhost is using the state folder" in second.text()


def test_supervisor_reports_a_process_that_fails_to_start(tmp_path: Path) -> None:
    host = launch("import_error", tmp_path / "state", extra_args=("--processes", "2"))

    assert host.process.wait(timeout=30) == 1
    assert "Importing function_app" in host.text()
    assert "devhost: start-up failed: host process 0" in host.text()


def test_exit_reason_names_the_signal_or_the_code() -> None:
    assert exit_reason(-9) == "was killed by SIGKILL"
    assert exit_reason(3) == "exited with code 3"
