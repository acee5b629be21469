"""Partition leases and fencing of the task hub, with engines in this process on real SQLite.

Two engines over one hub file stand for two host processes: each has its own store (writer
thread and connections), its own leases and its own wake-up socket, as a process would.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
import zlib
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func
import pytest

from devhost.durable.engine import DurableEngine, SharedHub
from devhost.durable.partitions import (
    PartitionLeases,
    ensure_partitions,
    partition_count,
    partition_of,
)
from devhost.durable.store import SCHEMA, TaskHubStore
from devhost.invoker import Invoker
from devhost.loader import LoadedApp, index_functions

HOST_JSON = {"extensions": {"durableTask": {"storageProvider": {"partitionCount": 4}}}}

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.orchestration_trigger(context_name="context")
def waiter(context: df.DurableOrchestrationContext):
    value = yield context.wait_for_external_event("Go")
    greeting = yield context.call_activity("greet", value)
    return greeting


@app.activity_trigger(input_name="name")
def greet(name: str) -> str:
    return f"Hello {name}"


LOADED = LoadedApp(Path(__file__).parent, HOST_JSON, {}, index_functions(app))


class Process:
    """An engine with its own store and invoker, as one host process has them."""

    def __init__(self, hub: Path, lease_seconds: float, processes: int) -> None:
        self.executor = ThreadPoolExecutor(max_workers=4)
        self.store = TaskHubStore(hub)
        self.engine = DurableEngine(
            LOADED, self.store, Invoker(str(hub.parent), self.executor),
            shared=SharedHub(processes=processes, lease_seconds=lease_seconds),
        )

    async def stop(self) -> None:
        await self.engine.stop()
        self.store.close()
        self.executor.shutdown(wait=False)


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Path]:
    yield tmp_path / "taskhub.sqlite"


def _read(hub: Path, sql: str, *parameters: object) -> list[tuple]:
    connection = sqlite3.connect(hub)
    try:
        return connection.execute(sql, parameters).fetchall()
    finally:
        connection.close()


def _owners(hub: Path) -> dict[int, str]:
    return dict(_read(hub, "SELECT partition_id, owner FROM partitions"))


def _instance_in(partition: int, prefix: str) -> str:
    """Return an instance id of `prefix` that falls in `partition` of four."""
    candidates = (f"{prefix}-{n}" for n in range(1000))
    return next(i for i in candidates if partition_of(i, 4) == partition)


async def _wait_status(hub: Path, instance_id: str, status: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = _read(hub, "SELECT status FROM instances WHERE instance_id=?", instance_id)
        if rows and rows[0][0] == status:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"instance {instance_id} did not reach {status}: {rows}")


# ---------------------------------------------------------------- partitions and leases


def test_partition_of_is_crc32_modulo_count() -> None:
    assert partition_of("order-42", 4) == zlib.crc32(b"order-42") % 4


def test_partition_count_defaults_to_four() -> None:
    assert partition_count({}) == 4


def test_partition_count_above_sixteen_is_rejected() -> None:
    with pytest.raises(ValueError, match="partitionCount=17 is invalid"):
        partition_count(
            {"extensions": {"durableTask": {"storageProvider": {"partitionCount": 17}}}}
        )


def _lease_connection(tmp_path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(tmp_path / "leases.sqlite", isolation_level=None)
    connection.executescript(SCHEMA)
    ensure_partitions(connection, 4)
    return connection


def _round(leases: PartitionLeases, connection: sqlite3.Connection, now: float) -> None:
    leases.apply(leases.rebalance(connection, now))


def test_second_host_gets_half_after_first_releases_excess(tmp_path: Path) -> None:
    connection = _lease_connection(tmp_path)
    first = PartitionLeases("first", 4, exclusive=False, lease_seconds=10)
    second = PartitionLeases("second", 4, exclusive=False, lease_seconds=10)

    _round(first, connection, now=100.0)
    _round(second, connection, now=101.0)
    _round(first, connection, now=102.0)
    _round(second, connection, now=103.0)

    assert sorted(first.owned) == [0, 1]
    assert sorted(second.owned) == [2, 3]


def test_expired_host_partitions_are_claimed_by_survivor(tmp_path: Path) -> None:
    connection = _lease_connection(tmp_path)
    survivor = PartitionLeases("survivor", 4, exclusive=False, lease_seconds=10,
                               expected_hosts=2)
    dead = PartitionLeases("dead", 4, exclusive=False, lease_seconds=10, expected_hosts=2)
    _round(survivor, connection, now=100.0)
    _round(dead, connection, now=100.0)

    _round(survivor, connection, now=105.0)
    _round(survivor, connection, now=111.0)  # the dead host's leases ran out at 110

    assert sorted(survivor.owned) == [0, 1, 2, 3]


def test_claim_raises_epoch_so_old_holder_fails_check(tmp_path: Path) -> None:
    connection = _lease_connection(tmp_path)
    old = PartitionLeases("old", 4, exclusive=False, lease_seconds=10)
    _round(old, connection, now=100.0)
    epoch = old.owned[old.partition("x")]
    new = PartitionLeases("new", 4, exclusive=False, lease_seconds=10)
    _round(new, connection, now=200.0)

    with pytest.raises(Exception, match="no longer leased to old"):
        old.check(connection, "x", epoch)


# ---------------------------------------------------------------- engines sharing a hub


@pytest.fixture
async def two_processes(hub: Path) -> AsyncIterator[tuple[Process, Process]]:
    """Two started engines over one hub, as two host processes of the supervisor."""
    first = Process(hub, lease_seconds=30, processes=2)
    second = Process(hub, lease_seconds=30, processes=2)
    await first.engine.start()
    await second.engine.start()
    yield first, second
    await first.stop()
    await second.stop()


async def test_event_raised_through_one_process_reaches_other_owner(
    hub: Path, two_processes: tuple[Process, Process]
) -> None:
    first, second = two_processes
    owners = _owners(hub)
    theirs = next(p for p, owner in owners.items() if owner == second.engine.owner)
    instance_id = _instance_in(theirs, "waiter")

    await first.engine.start_new("waiter", instance_id, None)
    await _wait_status(hub, instance_id, "Running")
    await first.engine.raise_event(instance_id, "Go", json.dumps("Oslo"))
    await _wait_status(hub, instance_id, "Completed")

    output = _read(hub, "SELECT output FROM instances WHERE instance_id=?", instance_id)
    assert json.loads(output[0][0]) == "Hello Oslo"


async def test_instance_started_elsewhere_keeps_client_trace_parent(
    hub: Path, two_processes: tuple[Process, Process]
) -> None:
    first, second = two_processes
    owners = _owners(hub)
    theirs = next(p for p, owner in owners.items() if owner == second.engine.owner)
    instance_id = _instance_in(theirs, "traced")
    client = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"

    await first.engine.start_new("waiter", instance_id, None, trace_parent=client)
    await _wait_status(hub, instance_id, "Running")

    assert second.engine._instances[instance_id].trace_parent == client


async def test_each_partition_has_one_owner_of_two_processes(
    hub: Path, two_processes: tuple[Process, Process]
) -> None:
    first, second = two_processes

    owners = sorted(_owners(hub).values())

    assert owners == sorted([first.engine.owner] * 2 + [second.engine.owner] * 2)


async def test_episode_commit_after_lease_taken_is_rolled_back(
    hub: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="devhost.durable")
    process = Process(hub, lease_seconds=60, processes=1)
    try:
        await process.engine.start()
        instance_id = "fenced"
        await process.engine.start_new("waiter", instance_id, None)
        await _wait_status(hub, instance_id, "Running")
        history_before = _read(hub, "SELECT COUNT(*) FROM history WHERE instance_id=?",
                               instance_id)
        partition = partition_of(instance_id, 4)
        connection = sqlite3.connect(hub, isolation_level=None)
        connection.execute("UPDATE partitions SET owner='thief', epoch=epoch+1"
                           " WHERE partition_id=?", (partition,))
        connection.close()

        await process.engine.raise_event(instance_id, "Go", json.dumps("Oslo"))
        deadline = time.monotonic() + 10
        while "Dropped instance fenced" not in caplog.text and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
    finally:
        await process.stop()

    history_after = _read(hub, "SELECT COUNT(*) FROM history WHERE instance_id=?", instance_id)
    events = _read(hub, "SELECT kind FROM inbox WHERE instance_id=?", instance_id)
    status = _read(hub, "SELECT status FROM instances WHERE instance_id=?", instance_id)
    assert "Dropped instance fenced" in caplog.text
    assert history_after == history_before
    assert events == [("event",)]
    assert status == [("Running",)]


async def test_stopped_process_partitions_are_taken_without_waiting(hub: Path) -> None:
    leaving = Process(hub, lease_seconds=30, processes=2)
    staying = Process(hub, lease_seconds=0.3, processes=2)
    await leaving.engine.start()
    await staying.engine.start()
    try:
        await leaving.stop()
        deadline = time.monotonic() + 10
        while set(_owners(hub).values()) != {staying.engine.owner}:
            assert time.monotonic() < deadline, _owners(hub)
            await asyncio.sleep(0.05)
    finally:
        await staying.stop()

    assert set(_owners(hub).values()) == {None}
