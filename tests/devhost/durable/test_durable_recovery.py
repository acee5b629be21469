"""Crash and restart: unfinished instances resume from the SQLite task hub."""

from __future__ import annotations

import sqlite3
import time
from collections import defaultdict
from pathlib import Path

import pytest
from devhost_support import RunningHost, launch

INSTANCES = 50
STEPS = 5


def _effect_rows(database: str) -> dict[tuple[str, int], list[int]]:
    connection = sqlite3.connect(database)
    rows = connection.execute("SELECT rowid, instance, step FROM effects").fetchall()
    connection.close()
    by_step: dict[tuple[str, int], list[int]] = defaultdict(list)
    for row_id, instance, step in rows:
        by_step[(instance, step)].append(row_id)
    return by_step


def _completed_effects(database: str) -> int:
    try:
        return sum(len(ids) for ids in _effect_rows(database).values())
    except sqlite3.OperationalError:
        return 0


@pytest.mark.slow
def test_sigkill_mid_run_then_restart_completes_every_instance_once(tmp_path: Path) -> None:
    database = str(tmp_path / "effects.sqlite")
    state = tmp_path / "state"
    host = launch("durable_app", state)
    job = {"db": database, "steps": STEPS, "delay": 0.02}
    instance_ids = [host.start("effects", job, instance_id=f"crash-{n}") for n in range(INSTANCES)]
    deadline = time.monotonic() + 60
    while _completed_effects(database) < INSTANCES * STEPS // 3 and time.monotonic() < deadline:
        time.sleep(0.02)

    host.kill()
    restarted = launch("durable_app", state)
    try:
        statuses = [restarted.wait_for(i, timeout=120) for i in instance_ids]
    finally:
        restarted.stop()
    rows = _effect_rows(database)

    assert [s["runtimeStatus"] for s in statuses] == ["Completed"] * INSTANCES
    for status in statuses:
        committed = status["output"]
        assert len(committed) == STEPS
        for step, row_id in enumerate(committed):
            attempts = rows[(status["instanceId"], step)]
            # The committed result is the last attempt: nothing re-ran after its completion.
            assert row_id == max(attempts), (status["instanceId"], step, attempts)


@pytest.mark.slow
def test_timer_due_while_host_was_down_fires_after_restart(tmp_path: Path) -> None:
    host = launch("durable_app", tmp_path)
    instance_id = host.start("timer", 1)
    host.wait_for(instance_id, ("Running",))
    host.kill()
    time.sleep(1.2)

    restarted = launch("durable_app", tmp_path)
    try:
        status = restarted.wait_for(instance_id)
    finally:
        restarted.stop()

    assert status["runtimeStatus"] == "Completed"


@pytest.mark.slow
def test_changed_orchestrator_fails_instance_naming_the_mismatch(tmp_path: Path) -> None:
    host = launch("durable_app", tmp_path)
    instance_id = host.start("evolving")
    _wait_for_history(host, instance_id, "TaskCompleted")
    host.stop()

    changed = launch("durable_app", tmp_path, env={"DEVHOST_TEST_VARIANT": "changed"})
    try:
        changed.request("POST", f"/durabletask/instances/{instance_id}/raiseEvent/Continue", 1)
        status = changed.wait_for(instance_id)
    finally:
        changed.stop()

    assert status["runtimeStatus"] == "Failed"
    assert "Non-deterministic" in status["output"]
    assert "sequence id 0" in status["output"]
    assert "activity 'hello'" in status["output"]
    assert "activity 'double'" in status["output"]


def _wait_for_history(host: RunningHost, instance_id: str, event_type: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        answer = host.request("GET", f"/durabletask/instances/{instance_id}?showHistory=True")
        events = (answer.json() or {}).get("historyEvents", [])
        if any(e["EventType"] == event_type for e in events):
            return
        time.sleep(0.05)
    raise AssertionError(f"{event_type} never appeared in the history of {instance_id}")


@pytest.mark.slow
def test_episode_workers_die_with_a_killed_host_and_free_the_state(tmp_path: Path) -> None:
    host = launch("durable_app", tmp_path, extra_args=("--episode-workers", "2"))
    waiting = host.start("waiter")
    host.wait_for(waiting, ("Running",))
    host.kill()
    time.sleep(0.5)

    restarted = launch("durable_app", tmp_path, extra_args=("--episode-workers", "2"))
    try:
        restarted.request("POST", f"/durabletask/instances/{waiting}/raiseEvent/Finish", "late")
        status = restarted.wait_for(waiting)
    finally:
        restarted.stop()

    assert status["output"] == "late"
