"""Partition leases of the task hub, so that several host processes can share one hub.

Every instance belongs to partition `crc32(instance_id) % partition_count`, and each partition
is owned by at most one host process at a time, as each control queue of the Durable Task Azure
Storage provider is (that provider hashes instance ids its own way).
Ownership is a row in the `partitions` table: the owner, an expiry time, and an epoch that grows
by one on every claim. The owner of a partition is the only process that runs its instances'
episodes. An episode's commit checks, inside its own transaction, that the row still names this
process with the epoch under which the instance was loaded, so a process whose lease another
process has taken can no longer commit (fencing). Any process may add inbox messages and
instances, because the owner reads those from the hub.

Each process also keeps a row in `hosts` with its lease expiry and the address of its wake
socket. The number of live rows sets the fair share of partitions per process: a process
claims free or expired partitions up to its share and releases what it holds above it.
"""

from __future__ import annotations

import contextlib
import math
import socket
import sqlite3
import sys
import zlib
from dataclasses import dataclass, field

from devhost.wake import bind_datagram, drain

DEFAULT_PARTITION_COUNT = 4
MAX_PARTITION_COUNT = 16
DEFAULT_LEASE_SECONDS = 10.0

PARTITION_SCHEMA = """
CREATE TABLE IF NOT EXISTS partitions (
    partition_id INTEGER PRIMARY KEY,
    owner TEXT,
    epoch INTEGER NOT NULL DEFAULT 0,
    lease_expires REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS hosts (
    owner TEXT PRIMARY KEY,
    wake_address TEXT,
    lease_expires REAL NOT NULL
);
"""


class LeaseLostError(Exception):
    """This process no longer holds the lease of the partition an instance belongs to."""


def partition_count(host_json: dict) -> int:
    """Read `extensions.durableTask.storageProvider.partitionCount` (default 4, valid 1..16)."""
    options = host_json.get("extensions", {}).get("durableTask", {})
    value = options.get("storageProvider", {}).get("partitionCount", DEFAULT_PARTITION_COUNT)
    if not isinstance(value, int) or not 1 <= value <= MAX_PARTITION_COUNT:
        raise ValueError(
            f"host.json extensions.durableTask.storageProvider.partitionCount={value!r} is "
            f"invalid; use a whole number from 1 to {MAX_PARTITION_COUNT}."
        )
    return value


def partition_of(instance_id: str, count: int) -> int:
    """Return the partition of an instance, the same in every process."""
    return zlib.crc32(instance_id.encode("utf-8")) % count


def ensure_partitions(connection: sqlite3.Connection, count: int) -> None:
    """Keep one lease row per partition, dropping rows beyond `count`.

    The tables themselves are part of the task hub's schema (`devhost.durable.store`).
    """
    connection.executemany(
        "INSERT OR IGNORE INTO partitions (partition_id) VALUES (?)", [(i,) for i in range(count)]
    )
    connection.execute("DELETE FROM partitions WHERE partition_id >= ?", (count,))


def reset_leases(connection: sqlite3.Connection) -> None:
    """Free every partition and forget every host; only for the holder of the folder lock."""
    connection.execute("DELETE FROM hosts")
    connection.execute("UPDATE partitions SET owner=NULL, lease_expires=0")


@dataclass
class Rebalance:
    """The outcome of one lease round: partitions gained and lost, and who owns the rest."""

    gained: dict[int, int] = field(default_factory=dict)  # partition -> epoch
    lost: list[int] = field(default_factory=list)
    live_hosts: set[str] = field(default_factory=set)
    addresses: dict[int, str] = field(default_factory=dict)  # partition -> owner's wake address


class PartitionLeases:
    """The partitions this process owns, and the SQL that claims, renews and checks them.

    `exclusive` is for a process that holds the state folder's lock: no other host can run,
    so it takes every partition at once and never renews. Methods taking a connection run on
    the task hub's writer thread inside a transaction; `apply` runs on the event loop after
    that transaction committed.
    """

    def __init__(self, owner: str, count: int, *, exclusive: bool,
                 lease_seconds: float = DEFAULT_LEASE_SECONDS, expected_hosts: int = 1,
                 wake_address: str | None = None) -> None:
        self.owner = owner
        self.count = count
        self.exclusive = exclusive
        self.lease_seconds = lease_seconds
        self.wake_address = wake_address
        self.owned: dict[int, int] = {}  # partition -> epoch of our claim
        self.addresses: dict[int, str] = {}
        self._expected_hosts = max(1, expected_hosts)
        self._first_round = True

    def partition(self, instance_id: str) -> int:
        return partition_of(instance_id, self.count)

    def epoch_of(self, instance_id: str) -> int | None:
        """Return the epoch of our lease on the instance's partition, or None when not ours."""
        return self.owned.get(self.partition(instance_id))

    def rebalance(self, connection: sqlite3.Connection, now: float) -> Rebalance:
        """Renew our leases, release those above the fair share, claim free ones up to it."""
        ensure_partitions(connection, self.count)
        if self.exclusive:
            return self._claim_all(connection)

        expires = now + self.lease_seconds
        connection.execute(
            "INSERT INTO hosts (owner, wake_address, lease_expires) VALUES (?,?,?)"
            " ON CONFLICT (owner) DO UPDATE SET lease_expires=excluded.lease_expires",
            (self.owner, self.wake_address, expires),
        )
        live = {owner for (owner,) in connection.execute(
            "SELECT owner FROM hosts WHERE lease_expires > ?", (now,))}
        outcome = Rebalance(live_hosts=live)
        renewed = self._renew(connection, expires, outcome)

        hosts = len(live)
        if self._first_round:
            # The first round counts the processes the supervisor starts, so the first to come
            # up does not take every partition and hand most of them back a moment later.
            hosts = max(hosts, self._expected_hosts)
            self._first_round = False
        share = math.ceil(self.count / max(1, hosts))
        if len(renewed) > share:
            self._release(connection, sorted(renewed)[share:], outcome)
        elif len(renewed) < share:
            self._claim(connection, now, expires, share - len(renewed), outcome)
        outcome.addresses = self._read_addresses(connection, now)
        return outcome

    def _renew(self, connection: sqlite3.Connection, expires: float,
               outcome: Rebalance) -> list[int]:
        renewed = []
        for partition, epoch in self.owned.items():
            cursor = connection.execute(
                "UPDATE partitions SET lease_expires=? WHERE partition_id=? AND owner=?"
                " AND epoch=?", (expires, partition, self.owner, epoch))
            if cursor.rowcount:
                renewed.append(partition)
            else:
                outcome.lost.append(partition)
        return renewed

    def _release(self, connection: sqlite3.Connection, partitions: list[int],
                 outcome: Rebalance) -> None:
        for partition in partitions:
            connection.execute(
                "UPDATE partitions SET owner=NULL, lease_expires=0 WHERE partition_id=?"
                " AND owner=?", (partition, self.owner))
            outcome.lost.append(partition)

    def _claim(self, connection: sqlite3.Connection, now: float, expires: float, wanted: int,
               outcome: Rebalance) -> None:
        free = connection.execute(
            "SELECT partition_id, epoch FROM partitions WHERE owner IS NULL OR lease_expires <= ?"
            " ORDER BY partition_id LIMIT ?", (now, wanted)).fetchall()
        for partition, epoch in free:
            connection.execute(
                "UPDATE partitions SET owner=?, epoch=?, lease_expires=? WHERE partition_id=?",
                (self.owner, epoch + 1, expires, partition))
            outcome.gained[partition] = epoch + 1

    def _claim_all(self, connection: sqlite3.Connection) -> Rebalance:
        reset_leases(connection)
        connection.execute("UPDATE partitions SET owner=?, epoch=epoch+1", (self.owner,))
        outcome = Rebalance(live_hosts={self.owner})
        for partition, epoch in connection.execute("SELECT partition_id, epoch FROM partitions"):
            if partition not in self.owned:
                outcome.gained[partition] = epoch
        return outcome

    @staticmethod
    def _read_addresses(connection: sqlite3.Connection, now: float) -> dict[int, str]:
        rows = connection.execute(
            "SELECT p.partition_id, h.wake_address FROM partitions p JOIN hosts h"
            " ON h.owner = p.owner WHERE p.lease_expires > ? AND h.wake_address IS NOT NULL",
            (now,))
        return dict(rows.fetchall())

    def apply(self, outcome: Rebalance) -> None:
        """Record a committed rebalance in memory."""
        for partition in outcome.lost:
            self.owned.pop(partition, None)
        self.owned.update(outcome.gained)
        self.addresses = outcome.addresses

    def check(self, connection: sqlite3.Connection, instance_id: str, epoch: int) -> None:
        """Raise LeaseLostError unless we still hold the instance's partition at `epoch`."""
        partition = self.partition(instance_id)
        row = connection.execute(
            "SELECT owner, epoch FROM partitions WHERE partition_id=?", (partition,)).fetchone()
        if row is None or row[0] != self.owner or row[1] != epoch:
            raise LeaseLostError(
                f"partition {partition} of instance {instance_id} is no longer leased to "
                f"{self.owner} at epoch {epoch} (now {row[0] if row else None}, "
                f"epoch {row[1] if row else None})"
            )

    def release_all(self, connection: sqlite3.Connection) -> None:
        """Give up every partition and the host row, so others take over without waiting."""
        connection.execute(
            "UPDATE partitions SET owner=NULL, lease_expires=0 WHERE owner=?", (self.owner,))
        connection.execute("DELETE FROM hosts WHERE owner=?", (self.owner,))


class WakeReceiver:
    """A datagram socket in Linux's abstract namespace that other host processes poke.

    An abstract address needs no file, so it has no path length limit and leaves nothing
    behind. Elsewhere `open` returns None and the engine notices other processes' messages by
    polling alone.
    """

    def __init__(self, sock: socket.socket, address: str) -> None:
        self.socket = sock
        self.address = address

    @classmethod
    def open(cls, name: str) -> WakeReceiver | None:
        if not sys.platform.startswith("linux"):
            return None
        sock = bind_datagram("\0" + name)
        return None if sock is None else cls(sock, name)

    def drain(self) -> None:
        drain(self.socket)

    def close(self) -> None:
        self.socket.close()


class WakeSender:
    """Sends one-byte wake-up datagrams to other host processes' abstract addresses."""

    def __init__(self) -> None:
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.setblocking(False)

    def wake(self, address: str) -> None:
        # A gone process or a full queue (the owner is awake with datagrams still queued)
        # needs no wake-up, so every OSError is ignored.
        with contextlib.suppress(OSError):
            self._socket.sendto(b"\x01", "\0" + address)

    def close(self) -> None:
        self._socket.close()
