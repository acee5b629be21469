"""The embedded document store: Cosmos DB-like containers in a SQLite file, for devhost and tests.

One database file per service (e.g. `orders.sqlite3` has the `orders` and `stock` containers),
one table per container keyed by (partition key, id). It raises the same domain errors as the
Cosmos DB adapter, adds the `_etag` and `_ts` system properties to bodies as Cosmos DB does, and
is safe to share between threads.
"""

from __future__ import annotations

import json
import logging
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from domain.errors import Conflict, NotFound, PreconditionFailed
from domain.ports import Document

logger = logging.getLogger(__name__)

# Cosmos DB's limit on operations in one transactional batch.
MAX_BATCH_OPERATIONS = 100

_CONTAINER_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
_SYSTEM_PROPERTIES = ("_etag", "_ts", "_rid", "_self", "_attachments")


class SqliteDatabase:
    """One SQLite file holding the containers of one service.

    A single connection is shared by all threads and guarded by a lock, because SQLite
    serializes writers anyway and one connection keeps the write path short.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._connection = sqlite3.connect(
            path, check_same_thread=False, isolation_level=None, timeout=30
        )
        self._connection.execute("PRAGMA journal_mode=WAL")
        # NORMAL in WAL mode loses at most the last commits on power loss, never on a process
        # crash, and a lost commit is redone when the Durable task hub re-runs the activity.
        self._connection.execute("PRAGMA synchronous=NORMAL")

    def container(self, name: str, partition_key_path: str) -> SqliteContainer:
        """Return the named container, creating its table on first use."""
        if not _CONTAINER_NAME.match(name):
            raise ValueError(
                f"container name {name!r} is invalid; use a letter then letters, digits or '_'"
            )

        with self.transaction() as connection:
            connection.execute(
                f'CREATE TABLE IF NOT EXISTS "{name}" ('
                "partition_key TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, "
                "etag TEXT NOT NULL, PRIMARY KEY (partition_key, id)) WITHOUT ROWID"
            )
        return SqliteContainer(self, name, partition_key_path)

    def fetch_one(self, sql: str, parameters: tuple[Any, ...]) -> tuple[Any, ...] | None:
        """Run one query outside a write transaction and return its first row."""
        with self._lock:
            return self._connection.execute(sql, parameters).fetchone()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """Run the block in one immediate transaction under the lock; roll back on error."""
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield self._connection
            except BaseException:
                self._connection.execute("ROLLBACK")
                raise
            self._connection.execute("COMMIT")

    def close(self) -> None:
        """Close the connection; the containers of this database stop working."""
        with self._lock:
            self._connection.close()


class SqliteContainer:
    """A DocumentStore over one table of a SqliteDatabase."""

    def __init__(self, database: SqliteDatabase, name: str, partition_key_path: str) -> None:
        self.name = name
        self.partition_key_field = partition_key_path.removeprefix("/")
        self._database = database
        self._select_sql = f'SELECT body, etag FROM "{name}" WHERE partition_key = ? AND id = ?'

    def read(self, document_id: str, partition_key: str) -> Document:
        row = self._database.fetch_one(self._select_sql, (partition_key, document_id))
        if row is None:
            raise NotFound(self.name, document_id, partition_key)
        return _document(*row)

    def create(self, body: dict[str, Any], partition_key: str) -> Document:
        document_id = self._check_body(body, partition_key)
        etag, stored = _stamp(body)

        with self._database.transaction() as connection:
            try:
                connection.execute(
                    f'INSERT INTO "{self.name}" (partition_key, id, body, etag) '
                    "VALUES (?, ?, ?, ?)",
                    (partition_key, document_id, stored, etag),
                )
            except sqlite3.IntegrityError:
                raise Conflict(self.name, document_id, partition_key) from None
        return _document(stored, etag)

    def replace(self, body: dict[str, Any], partition_key: str, etag: str) -> Document:
        with self._database.transaction() as connection:
            return self._replace(connection, body, partition_key, etag)

    def replace_batch(
        self, partition_key: str, changes: Sequence[tuple[dict[str, Any], str]]
    ) -> list[Document]:
        if len(changes) > MAX_BATCH_OPERATIONS:
            raise ValueError(
                f"a batch may contain at most {MAX_BATCH_OPERATIONS} operations, "
                f"got {len(changes)}; split the change"
            )

        with self._database.transaction() as connection:
            return [self._replace(connection, body, partition_key, etag) for body, etag in changes]

    def _replace(
        self, connection: sqlite3.Connection, body: dict[str, Any], partition_key: str, etag: str
    ) -> Document:
        document_id = self._check_body(body, partition_key)
        new_etag, stored = _stamp(body)

        updated = connection.execute(
            f'UPDATE "{self.name}" SET body = ?, etag = ? '
            "WHERE partition_key = ? AND id = ? AND etag = ?",
            (stored, new_etag, partition_key, document_id, etag),
        ).rowcount
        if updated == 1:
            return _document(stored, new_etag)

        exists = connection.execute(self._select_sql, (partition_key, document_id)).fetchone()
        if exists is None:
            raise NotFound(self.name, document_id, partition_key)
        raise PreconditionFailed(self.name, document_id, partition_key, etag)

    def _check_body(self, body: dict[str, Any], partition_key: str) -> str:
        document_id = body.get("id")
        if not isinstance(document_id, str) or not document_id:
            raise ValueError(f"document for container {self.name!r} has no string 'id'")

        # Cosmos DB rejects a body whose partition key property differs from the request's.
        if body.get(self.partition_key_field) != partition_key:
            raise ValueError(
                f"document {document_id!r} has {self.partition_key_field}="
                f"{body.get(self.partition_key_field)!r} but was written with partition key "
                f"{partition_key!r}; pass the body's own partition key value"
            )
        return document_id


def _stamp(body: dict[str, Any]) -> tuple[str, str]:
    """Return a fresh ETag and the body as stored JSON, with Cosmos-style system properties."""
    etag = f'"{uuid.uuid4()}"'
    stored = {key: value for key, value in body.items() if key not in _SYSTEM_PROPERTIES}
    stored["_etag"] = etag
    stored["_ts"] = int(time.time())
    return etag, json.dumps(stored, separators=(",", ":"))


def _document(stored: str, etag: str) -> Document:
    return Document(body=json.loads(stored), etag=etag)
