"""The episode worker pool: forked processes that run orchestrator episodes for the host."""

from __future__ import annotations

import os
import signal
from concurrent.futures.process import BrokenProcessPool

import azure.durable_functions as df
import pytest

from devhost.durable import history as h
from devhost.durable.episode import build_context, execute_orchestrator
from devhost.durable.workers import (
    EpisodeWorkerPool,
    execute_registered,
    start_episode_workers,
)


def greeter(context: df.DurableOrchestrationContext):
    name = context.get_input()
    greeting = yield context.call_activity("say_hello", name)
    return greeting


def worker_pid() -> int:
    return os.getpid()


def wait_for_signal() -> None:
    signal.pause()


def fail(message: str) -> None:
    raise ValueError(message)


def started_context(name: str) -> str:
    timestamp = "2026-12-04T20:00:00.000000Z"
    events = [
        h.event(h.ORCHESTRATOR_STARTED, timestamp),
        h.event(h.EXECUTION_STARTED, timestamp, Name="greeter", Input=f'"{name}"',
                Version=""),
    ]
    return build_context("instance", None, f'"{name}"', [], events)


@pytest.fixture
def pool():
    pool = start_episode_workers({"greeter": df.Orchestrator.create(greeter)}, 2)
    yield pool
    pool.shutdown(wait=True, cancel_futures=True)


def test_worker_episode_returns_what_the_host_thread_returns(pool: EpisodeWorkerPool) -> None:
    context = started_context("Oslo")

    in_worker = pool.submit(execute_registered, "greeter", context).result(timeout=10)
    in_host = execute_orchestrator(df.Orchestrator.create(greeter), context)

    assert in_worker == in_host
    assert in_worker[0]["actions"][0][0]["functionName"] == "say_hello"


def test_calls_beyond_worker_count_all_complete(pool: EpisodeWorkerPool) -> None:
    contexts = [started_context(f"city {number}") for number in range(20)]

    futures = [pool.submit(execute_registered, "greeter", context) for context in contexts]
    inputs = [future.result(timeout=10)[0]["actions"][0][0]["input"] for future in futures]

    assert inputs == [f'"city {number}"' for number in range(20)]


def test_calls_run_in_the_forked_workers(pool: EpisodeWorkerPool) -> None:
    pids = {pool.submit(worker_pid).result(timeout=10) for _ in range(10)}

    assert os.getpid() not in pids
    assert pids <= {process.pid for process in pool._processes}


def test_exception_in_a_worker_fails_only_its_call(pool: EpisodeWorkerPool) -> None:
    failed = pool.submit(fail, "no stock")
    succeeded = pool.submit(worker_pid)

    with pytest.raises(ValueError, match="no stock"):
        failed.result(timeout=10)
    assert succeeded.result(timeout=10) > 0


def test_killed_workers_break_the_pool_and_its_calls() -> None:
    pool = start_episode_workers({}, 2)
    stuck = [pool.submit(wait_for_signal) for _ in range(2)]
    waiting = pool.submit(worker_pid)
    for process in pool._processes:
        os.kill(process.pid, signal.SIGKILL)

    try:
        for future in [*stuck, waiting]:
            assert isinstance(future.exception(timeout=10), BrokenProcessPool)
        with pytest.raises(BrokenProcessPool):
            pool.submit(worker_pid)
    finally:
        pool.shutdown(wait=True)


def test_shutdown_finishes_running_calls_then_ends_the_workers() -> None:
    pool = start_episode_workers({"greeter": df.Orchestrator.create(greeter)}, 2)
    running = pool.submit(execute_registered, "greeter", started_context("Tokyo"))

    pool.shutdown(wait=True)

    assert running.result(timeout=0)[0]["isDone"] is False
    assert [process.exitcode for process in pool._processes] == [0, 0]


def test_shutdown_rejects_new_calls() -> None:
    pool = start_episode_workers({}, 1)
    pool.shutdown(wait=True)

    with pytest.raises(RuntimeError, match="after shutdown"):
        pool.submit(worker_pid)


def test_call_sent_to_a_dead_idle_worker_fails() -> None:
    pool = start_episode_workers({}, 1)
    process = pool._processes[0]
    os.kill(process.pid, signal.SIGKILL)
    process.join()

    try:
        failure = pool.submit(worker_pid).exception(timeout=10)
    except BrokenProcessPool as rejected:  # the reader saw the worker end first
        failure = rejected
    finally:
        pool.shutdown(wait=True)

    assert isinstance(failure, BrokenProcessPool)
