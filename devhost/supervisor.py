"""Run `devhost start --processes N`: N host processes over one state folder.

The supervisor takes the state folder's lock, writes the files the host processes share
(keys, gateway subscriptions, the task hub's schema with every partition lease freed) and
reserves the HTTP ports. It then starts the host processes with SO_REUSEPORT, so every process
listens on the same ports and the kernel spreads connections over them. It prints the first
process's function table and one ready line once every process is ready, forwards SIGINT and
SIGTERM, and restarts a process that dies. The others take over a dead process's partitions
once its leases expire.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from devhost.durable.partitions import reset_leases
from devhost.durable.store import SCHEMA, connect
from devhost.gateway.subscriptions import load_or_create_subscriptions
from devhost.host import (
    REUSE_PORT_VARIABLE,
    TASK_HUB_FILE,
    StartupError,
    lock_state_dir,
)
from devhost.keys import load_or_create_keys

READY_PREFIX = "devhost ready on "
STOPPED_LINE = "devhost stopped"
READY_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 30.0
POLL_SECONDS = 0.05
# A process that dies this many times within RESTART_WINDOW_SECONDS is not restarted again.
MAX_RESTARTS = 5
RESTART_WINDOW_SECONDS = 60.0


def exit_reason(code: int) -> str:
    """Describe a child's exit code: a negative code is the signal that ended it."""
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


@dataclass
class HostProcess:
    """One host process of the supervisor and what its standard output has shown so far."""

    index: int
    process: subprocess.Popen
    ready: threading.Event = field(default_factory=threading.Event)  # set also on exit
    printed_ready_line: bool = False
    banner: list[str] = field(default_factory=list)
    given_up: bool = False  # exited too often to be restarted again


def reserve_port(port: int) -> socket.socket:
    """Bind (without listening) a SO_REUSEPORT socket on 127.0.0.1:`port` to fix the port.

    Port 0 picks a free port that the host processes then share. The socket never accepts a
    connection, because the kernel hands connections only to listening sockets.
    """
    reservation = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    reservation.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        reservation.bind(("127.0.0.1", port))
    except OSError as error:
        reservation.close()
        raise StartupError(
            f"Cannot listen on 127.0.0.1:{port}: {error}. Pass another port."
        ) from error
    return reservation


def prepare_state(state_dir: Path, gateway: bool) -> None:
    """Write once the files that every host process would otherwise create on its own."""
    load_or_create_keys(state_dir)
    if gateway:
        load_or_create_subscriptions(state_dir)
    hub = connect(state_dir / TASK_HUB_FILE)
    try:
        hub.executescript(SCHEMA)
        hub.execute("BEGIN IMMEDIATE")
        reset_leases(hub)
        hub.execute("COMMIT")
    finally:
        hub.close()


class Supervisor:
    """Starts, watches and stops the host processes of one state folder."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.app_dir = Path(args.app).resolve()
        self.state_dir = Path(args.state).resolve() if args.state else self.app_dir / ".devhost"
        self.hosts: list[HostProcess] = []
        # Set by the signal handler, so a plain flag: a handler that took a lock could
        # deadlock with the main thread holding it.
        self._stopping = False
        self._restarts: list[float] = []
        self._port = 0
        self._gateway_port = 0

    def run(self) -> int:
        started = time.monotonic()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        lock = lock_state_dir(self.state_dir)
        reservations = [reserve_port(self.args.port)]
        self._port = reservations[0].getsockname()[1]
        if not self.args.no_gateway:
            reservations.append(reserve_port(self.args.gateway_port))
            self._gateway_port = reservations[1].getsockname()[1]
        prepare_state(self.state_dir, gateway=not self.args.no_gateway)
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signal_number, self._request_stop)
        try:
            # The first process creates the SQLite files the app and devhost open (traces,
            # broker, the app's stores) before the others start. Two processes switching a new
            # file to WAL at the same moment can fail with "database is locked".
            self.hosts = [self._spawn(0)]
            if not self._wait_ready():
                return 0 if self._stopping else 1

            self.hosts += [self._spawn(index) for index in range(1, self.args.processes)]
            if not self._wait_ready():
                return 0 if self._stopping else 1
            self._print_ready(started)
            self._watch()
            return 0
        finally:
            self._stop_all()
            for reservation in reservations:
                reservation.close()
            lock.close()
            print(STOPPED_LINE, flush=True)

    def _request_stop(self, *_: object) -> None:
        self._stopping = True

    def _command(self) -> list[str]:
        args = self.args
        command = [
            sys.executable, "-m", "devhost", "start", "--app", str(self.app_dir),
            "--state", str(self.state_dir), "--port", str(self._port),
            "--gateway-port", str(self._gateway_port),
            "--episode-workers", str(args.episode_workers),
            "--partition-lease-seconds", str(args.partition_lease_seconds),
            "--process-count", str(args.processes),
        ]
        if args.no_gateway:
            command.append("--no-gateway")
        if args.compact_replay:
            command.append("--compact-replay")
        return command

    def _spawn(self, index: int) -> HostProcess:
        # Each host process gets its own process group, so a Ctrl-C in the terminal reaches
        # the supervisor alone, which stops the processes in order.
        process = subprocess.Popen(
            self._command(), stdout=subprocess.PIPE, text=True, bufsize=1, process_group=0,
            env={**os.environ, REUSE_PORT_VARIABLE: "1", "PYTHONUNBUFFERED": "1"},
        )
        host = HostProcess(index, process)
        threading.Thread(target=self._read_output, args=(host, process.stdout),
                         name=f"devhost-supervisor-{index}", daemon=True).start()
        return host

    def _read_output(self, host: HostProcess, stream: IO[str]) -> None:
        """Keep a process's start-up banner, mark it ready, and pass on later lines."""
        for line in stream:
            if host.ready.is_set():
                if line.rstrip("\n") != STOPPED_LINE:
                    print(line, end="", flush=True)
            elif line.startswith(READY_PREFIX):
                host.printed_ready_line = True
                host.ready.set()
            else:
                host.banner.append(line)
        host.ready.set()  # an exit also ends the wait, and `_wait_ready` then reads the exit code

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        for host in self.hosts:
            while not host.ready.wait(POLL_SECONDS):
                if self._stopping or time.monotonic() > deadline:
                    break
            if self._stopping:
                return False
            if not host.printed_ready_line:
                code = host.process.poll()
                reason = (f"was not ready after {READY_TIMEOUT_SECONDS:.0f} s" if code is None
                          else f"{exit_reason(code)} before it was ready")
                print(f"devhost: start-up failed: host process {host.index} (pid "
                      f"{host.process.pid}) {reason}; its error is above.", file=sys.stderr,
                      flush=True)
                return False
        return True

    def _print_ready(self, started: float) -> None:
        print("".join(self.hosts[0].banner), end="", flush=True)
        pids = ", ".join(str(host.process.pid) for host in self.hosts)
        print(f"devhost: {len(self.hosts)} host processes (pids {pids}) share the state "
              f"folder and the ports", flush=True)
        elapsed = time.monotonic() - started
        print(f"{READY_PREFIX}http://127.0.0.1:{self._port} (state {self.state_dir}, "
              f"{elapsed:.2f} s)", flush=True)

    def _watch(self) -> None:
        """Restart a host process that exits, until SIGINT or SIGTERM."""
        while not self._stopping:
            time.sleep(POLL_SECONDS)
            for position, host in enumerate(self.hosts):
                code = host.process.poll()
                if code is None or host.given_up or self._stopping:
                    continue
                self.hosts[position] = self._restart(host, code)

    def _restart(self, host: HostProcess, code: int) -> HostProcess:
        now = time.monotonic()
        self._restarts = [t for t in self._restarts if now - t < RESTART_WINDOW_SECONDS]
        if len(self._restarts) >= MAX_RESTARTS:
            print(f"devhost: host process {host.index} (pid {host.process.pid}) "
                  f"{exit_reason(code)}; {MAX_RESTARTS} restarts in "
                  f"{RESTART_WINDOW_SECONDS:.0f} s, so it is not restarted again. The other "
                  "processes take over its partitions.", file=sys.stderr, flush=True)
            host.given_up = True
            return host
        self._restarts.append(now)
        replacement = self._spawn(host.index)
        print(f"devhost: host process {host.index} (pid {host.process.pid}) "
              f"{exit_reason(code)}; restarted it as pid {replacement.process.pid}. Its "
              "partitions move once their leases expire.", file=sys.stderr, flush=True)
        return replacement

    def _stop_all(self) -> None:
        for host in self.hosts:
            if host.process.poll() is None:
                host.process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for host in self.hosts:
            try:
                host.process.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                print(f"devhost: host process {host.index} (pid {host.process.pid}) did not "
                      f"stop in {STOP_TIMEOUT_SECONDS:.0f} s; killing it.", file=sys.stderr,
                      flush=True)
                host.process.kill()
                host.process.wait()


def run_supervisor(args: argparse.Namespace) -> int:
    """Run the supervisor to completion; print a clear error and return 1 when it cannot start."""
    if not sys.platform.startswith("linux"):
        print("devhost: start-up failed: --processes above 1 needs Linux (SO_REUSEPORT "
              "spreading and abstract wake-up sockets).", file=sys.stderr, flush=True)
        return 1
    try:
        return Supervisor(args).run()
    except StartupError as error:
        print(f"devhost: start-up failed: {error}", file=sys.stderr, flush=True)
        return 1
