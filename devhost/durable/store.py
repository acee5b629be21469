"""The SQLite task hub: tables, a group-committing writer thread, and read queries.

Every change is a function of a connection submitted to one writer thread. The thread runs all
changes waiting in its queue in one transaction (each in its own savepoint, so one failing
change does not undo the others), commits once, then resolves every submitter's future. So a
burst of activity completions costs one fsync, and a caller learns of success only after its
change is durable (WAL with synchronous=FULL).

Several host processes may share one hub, each with its own store: the `partitions` and
`hosts` tables (`devhost.durable.partitions`) decide which process runs which instances, and
SQLite serialises the processes' write transactions.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

from devhost.durable.partitions import PARTITION_SCHEMA

T = TypeVar("T")

TERMINAL_STATUSES = ("Completed", "Failed", "Terminated", "Canceled")

SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    instance_id TEXT PRIMARY KEY,
    execution_id TEXT NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    input TEXT,
    output TEXT,
    custom_status TEXT,
    created_time TEXT NOT NULL,
    last_updated_time TEXT NOT NULL,
    parent_instance_id TEXT,
    parent_execution_id TEXT,
    parent_task_id INTEGER,
    bookkeeping TEXT NOT NULL,
    lease_owner TEXT,
    lease_expires REAL
);
CREATE INDEX IF NOT EXISTS instances_by_status ON instances(status);
CREATE TABLE IF NOT EXISTS history (
    instance_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    execution_id TEXT NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (instance_id, sequence)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS inbox (
    message_id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    execution_id TEXT,
    kind TEXT NOT NULL,
    task_id INTEGER,
    visible_at REAL NOT NULL,
    event TEXT NOT NULL,
    lease_owner TEXT,
    lease_expires REAL
);
CREATE INDEX IF NOT EXISTS inbox_by_instance ON inbox(instance_id, message_id);
CREATE TABLE IF NOT EXISTS work_items (
    work_id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    task_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    input TEXT,
    lease_owner TEXT,
    lease_expires REAL
);
CREATE INDEX IF NOT EXISTS work_items_by_instance ON work_items(instance_id);
""" + PARTITION_SCHEMA


def connect(path: Path, *, read_only: bool = False) -> sqlite3.Connection:
    """Open the hub database with WAL, FULL sync and a busy timeout."""
    if read_only:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    else:
        connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("PRAGMA busy_timeout=10000")
    return connection


class TaskHubStore:
    """Owner of the hub database: one writer thread and one reader connection for the loop."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._queue: queue.SimpleQueue[tuple[Callable[[sqlite3.Connection], Any], Future] | None]
        self._queue = queue.SimpleQueue()
        writer = connect(path)
        writer.executescript(SCHEMA)
        self._writer = writer
        self._thread = threading.Thread(
            target=self._write_loop, name="devhost-taskhub", daemon=True
        )
        self._thread.start()
        self.reader = connect(path)
        self.reader.row_factory = sqlite3.Row

    async def submit(self, change: Callable[[sqlite3.Connection], T]) -> T:
        """Run change(connection) in the next group commit; return its result once committed."""
        future: Future = Future()
        self._queue.put((change, future))
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        """Finish queued changes, then close both connections."""
        self._queue.put(None)
        self._thread.join()
        self.reader.close()

    def _write_loop(self) -> None:
        running = True
        while running:
            first = self._queue.get()
            if first is None:
                break
            batch = [first]
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    running = False
                    break
                batch.append(item)
            self._commit(batch)
        self._writer.close()

    def _commit(self, batch: list[tuple[Callable[[sqlite3.Connection], Any], Future]]) -> None:
        # A submitter cancelled while queued (a stopping engine cancels its tasks) gets no
        # change and no result: setting a result on a cancelled future would raise here and
        # end this thread, and every later submit would then wait forever.
        batch = [(change, future) for change, future in batch
                 if future.set_running_or_notify_cancel()]
        if not batch:
            return
        outcomes: list[tuple[Future, Any, BaseException | None]] = []
        connection = self._writer
        try:
            connection.execute("BEGIN IMMEDIATE")
            for change, future in batch:
                connection.execute("SAVEPOINT change")
                try:
                    outcomes.append((future, change(connection), None))
                    connection.execute("RELEASE change")
                except Exception as error:
                    connection.execute("ROLLBACK TO change")
                    connection.execute("RELEASE change")
                    outcomes.append((future, None, error))
            connection.execute("COMMIT")
        except sqlite3.Error as error:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            outcomes = [(future, None, error) for _, future in batch]
        for future, result, error in outcomes:
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)
