"""Start devhost with its gateway for a benchmark, time its start-up, and read its memory use."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from simulation.host import free_port

REPO_ROOT = Path(__file__).resolve().parent.parent
READY_LINE = b"devhost ready on "
READY_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 20.0
LOG_FILE = "bench-devhost.log"
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


class HostFailed(RuntimeError):
    """devhost exited or was not ready in time."""


@dataclass(frozen=True)
class HostOptions:
    """The start options of devhost for a benchmark: app folder, performance switches, settings."""

    app_dir: Path = REPO_ROOT
    episode_workers: int = 0
    compact_replay: bool = False
    settings: dict[str, str] = field(default_factory=dict)

    def arguments(self) -> list[str]:
        extra = ["--episode-workers", str(self.episode_workers)]
        return [*extra, "--compact-replay"] if self.compact_replay else extra


@dataclass
class BenchHost:
    """A devhost process started by the benchmark."""

    process: asyncio.subprocess.Process
    state_dir: Path
    port: int
    gateway_port: int
    startup_seconds: float

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def subscription_key(self) -> str:
        """Return the primary key of the gateway's first local subscription."""
        data = json.loads((self.state_dir / "apim-subscriptions.json").read_text("utf-8"))
        return data["subscriptions"][0]["primaryKey"]

    def rss_bytes(self) -> int:
        """Return the resident memory of the host and every process it started."""
        return sum(_rss(pid) for pid in _process_tree(self.process.pid))

    def cpu_seconds(self) -> tuple[float, float]:
        """Return the CPU time (user and system) used so far by the host, and by its children."""
        tree = _process_tree(self.process.pid)
        children = sum(_cpu_ticks(pid) for pid in tree[1:])
        return _cpu_ticks(tree[0]) / CLOCK_TICKS, children / CLOCK_TICKS

    async def stop(self) -> int:
        """Stop devhost with SIGINT; kill it when it does not stop in time."""
        if self.process.returncode is not None:
            return self.process.returncode
        self.process.send_signal(signal.SIGINT)
        try:
            return await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT_SECONDS)
        except TimeoutError:
            self.process.kill()
            return await self.process.wait()


async def start_host(state_dir: Path, options: HostOptions) -> BenchHost:
    """Start `python -m devhost start` on the repository's app and wait until it is ready.

    The start-up time runs from just before the process is created until the ready line is in
    the log and the gateway accepts connections, as a user running `devhost start` sees it.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    log_path = state_dir / LOG_FILE
    offset = log_path.stat().st_size if log_path.exists() else 0
    port, gateway_port = free_port(), free_port()
    command = [
        sys.executable, "-m", "devhost", "start", "--app", str(options.app_dir),
        "--port", str(port), "--gateway-port", str(gateway_port), "--state", str(state_dir),
        *options.arguments(),
    ]
    environment = os.environ | options.settings | {"PYTHONUNBUFFERED": "1"}

    started = time.monotonic()
    with log_path.open("ab") as output:
        process = await asyncio.create_subprocess_exec(
            *command, cwd=REPO_ROOT, env=environment, stdout=output, stderr=output,
            start_new_session=True,
        )
    host = BenchHost(process, state_dir, port, gateway_port, 0.0)
    try:
        await _wait_ready(host, log_path, offset)
    except BaseException:
        await host.stop()
        raise
    host.startup_seconds = time.monotonic() - started
    return host


async def _wait_ready(host: BenchHost, log_path: Path, offset: int) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if host.process.returncode is not None:
            raise HostFailed(
                f"devhost exited with code {host.process.returncode} before it was ready; "
                f"see {log_path}"
            )
        if _has_ready_line(log_path, offset) and _listens(host.gateway_port):
            return
        await asyncio.sleep(0.005)
    raise HostFailed(f"devhost was not ready after {READY_TIMEOUT_SECONDS:.0f} s; see {log_path}")


def _has_ready_line(path: Path, offset: int) -> bool:
    with contextlib.suppress(FileNotFoundError), path.open("rb") as handle:
        handle.seek(offset)
        return any(line.startswith(READY_LINE) for line in handle)
    return False


def _listens(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _process_tree(root: int) -> list[int]:
    """Return `root` and its descendants, read from /proc (Linux)."""
    tree, index = [root], 0
    while index < len(tree):
        pid = tree[index]
        index += 1
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{pid}/task"):
                children = Path(f"/proc/{pid}/task/{task}/children").read_text()
                tree += [int(child) for child in children.split()]
    return tree


def _rss(pid: int) -> int:
    try:
        pages = Path(f"/proc/{pid}/statm").read_text().split()[1]
    except OSError:
        return 0
    return int(pages) * PAGE_SIZE


def _cpu_ticks(pid: int) -> int:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0
    # The command name in brackets may hold spaces, so fields are counted after its ")".
    fields = text.rpartition(")")[2].split()
    return int(fields[11]) + int(fields[12])
