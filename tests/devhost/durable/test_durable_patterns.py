"""Durable patterns run end to end through devhost over HTTP, with the unmodified SDK."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from devhost_support import RunningHost, launch


def _attempts(database: str, tag: str) -> int:
    connection = sqlite3.connect(database)
    count = connection.execute("SELECT COUNT(*) FROM attempts WHERE tag=?", (tag,)).fetchone()[0]
    connection.close()
    return count


def test_chain_returns_activity_results_in_order(durable_host: RunningHost) -> None:
    instance_id = durable_host.start("chain")

    status = durable_host.wait_for(instance_id)

    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == ["Hello Tokyo", "Hello Oslo", 42]


def test_fan_out_over_200_activities_sums_all_results(durable_host: RunningHost) -> None:
    instance_id = durable_host.start("fan_out", 200)

    status = durable_host.wait_for(instance_id)

    assert status["output"] == sum(2 * i for i in range(200))


def test_durable_timer_resumes_orchestrator_after_fire_time(durable_host: RunningHost) -> None:
    started = time.monotonic()
    instance_id = durable_host.start("timer", 1)

    status = durable_host.wait_for(instance_id)

    assert status["runtimeStatus"] == "Completed"
    assert status["output"] >= 1.0
    assert time.monotonic() - started >= 1.0


def test_custom_status_reports_the_current_step(durable_host: RunningHost) -> None:
    instance_id = durable_host.start("custom_status")
    waiting = durable_host.wait_for(instance_id, ("Running",))
    deadline = time.monotonic() + 10
    while waiting["customStatus"] is None and time.monotonic() < deadline:
        waiting = durable_host.status(instance_id)

    answer = durable_host.request("POST", f"/api/events/{instance_id}/Go", {"ok": True})
    done = durable_host.wait_for(instance_id)

    assert answer.status == 202
    assert waiting["customStatus"] == {"step": "waiting", "for": "Go"}
    assert done["customStatus"] == {"step": "done"}


def test_event_raised_before_the_wait_is_received(durable_host: RunningHost) -> None:
    instance_id = durable_host.start("late_wait", 1)
    durable_host.wait_for(instance_id, ("Running",))

    answer = durable_host.request(
        "POST", f"/durabletask/instances/{instance_id}/raiseEvent/Early", {"early": 1}
    )
    status = durable_host.wait_for(instance_id)

    assert answer.status == 202
    assert status["output"] == {"early": 1}


def test_event_beats_timer_and_cancelled_timer_does_not_hold_instance(
    durable_host: RunningHost,
) -> None:
    instance_id = durable_host.start("race", 60)
    durable_host.wait_for(instance_id, ("Running",))
    started = time.monotonic()

    durable_host.request("POST", f"/durabletask/instances/{instance_id}/raiseEvent/Approve", "yes")
    status = durable_host.wait_for(instance_id, timeout=10)

    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == {"outcome": "approved", "payload": "yes"}
    assert time.monotonic() - started < 10


def test_timer_beats_event_when_no_event_arrives(durable_host: RunningHost) -> None:
    instance_id = durable_host.start("race", 0.5)

    status = durable_host.wait_for(instance_id)

    assert status["output"] == {"outcome": "timed out"}


def test_retry_runs_configured_attempts_then_surfaces_activity_error(
    durable_host: RunningHost, scratch_db: str,
) -> None:
    job = {"db": scratch_db, "tag": "always-fails", "succeed_on": 99, "max_attempts": 3}
    instance_id = durable_host.start("retrying", job)

    status = durable_host.wait_for(instance_id)

    assert _attempts(scratch_db, "always-fails") == 3
    assert "Activity function 'flaky' failed: ValueError: flaky attempt 3 failed" in (
        status["output"]["failed"]
    )


def test_retry_succeeds_on_a_later_attempt_and_later_steps_still_run(
    durable_host: RunningHost, scratch_db: str,
) -> None:
    job = {"db": scratch_db, "tag": "second-time", "succeed_on": 2, "max_attempts": 4}
    instance_id = durable_host.start("retrying", job)

    status = durable_host.wait_for(instance_id)

    assert _attempts(scratch_db, "second-time") == 2
    assert status["output"]["result"].startswith("succeeded on attempt 2")
    assert status["output"]["after"] == "Hello after retry"


def test_sub_orchestrations_return_their_outputs(durable_host: RunningHost) -> None:
    instance_id = durable_host.start("parent")

    status = durable_host.wait_for(instance_id)
    child = durable_host.status(f"{instance_id}-child")

    assert status["output"] == [["Hello Tokyo", "Hello Oslo", 42], 20]
    assert child["runtimeStatus"] == "Completed"


def test_continue_as_new_restarts_the_instance_with_new_input(durable_host: RunningHost) -> None:
    instance_id = durable_host.start("counter", 0)

    status = durable_host.wait_for(instance_id)

    assert status["runtimeStatus"] == "Completed"
    assert status["output"] == 3
    assert status["input"] == "3"


def test_orchestrator_exception_fails_the_instance_with_its_message(
    durable_host: RunningHost,
) -> None:
    instance_id = durable_host.start("failing")

    status = durable_host.wait_for(instance_id)

    assert status["runtimeStatus"] == "Failed"
    assert status["output"].startswith("Orchestrator function 'failing' failed: ")
    assert "orchestrator gave up" in status["output"]


def test_threads_with_compact_replay_run_retries_timers_and_children(
    tmp_path: Path, scratch_db: str,
) -> None:
    host = launch("durable_app", tmp_path,
                  extra_args=("--compact-replay", "--episode-workers", "0"))
    try:
        job = {"db": scratch_db, "tag": "compact", "succeed_on": 2, "max_attempts": 3}
        retried = host.wait_for(host.start("retrying", job))
        nested = host.wait_for(host.start("parent"))
        timed = host.wait_for(host.start("timer", 0.2))
    finally:
        host.stop()

    assert retried["output"]["after"] == "Hello after retry"
    assert nested["output"] == [["Hello Tokyo", "Hello Oslo", 42], 20]
    assert timed["runtimeStatus"] == "Completed"


def test_episode_workers_run_retries_events_and_sub_orchestrations(
    tmp_path: Path, scratch_db: str,
) -> None:
    host = launch("durable_app", tmp_path, extra_args=("--episode-workers", "2"))
    try:
        job = {"db": scratch_db, "tag": "workers", "succeed_on": 2, "max_attempts": 3}
        retried = host.wait_for(host.start("retrying", job))
        nested = host.wait_for(host.start("parent"))
        waiting = host.start("waiter")
        host.wait_for(waiting, ("Running",))
        host.request("POST", f"/durabletask/instances/{waiting}/raiseEvent/Finish", "go")
        finished = host.wait_for(waiting)
    finally:
        exit_code = host.stop()

    assert retried["output"]["after"] == "Hello after retry"
    assert nested["output"] == [["Hello Tokyo", "Hello Oslo", 42], 20]
    assert finished["output"] == "go"
    assert exit_code == 0
