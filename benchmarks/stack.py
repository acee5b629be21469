"""Start devhost with its gateway for a benchmark, time its start-up, and read its memory use."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from simulation import host as simulation_host
from simulation.host import RunningHost, free_port

REPO_ROOT = Path(__file__).resolve().parent.parent
LOG_FILE = "bench-devhost.log"
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


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
    """A devhost process started by the benchmark, with its start-up time."""

    running: RunningHost
    startup_seconds: float

    @property
    def process(self) -> asyncio.subprocess.Process:
        return self.running.process

    @property
    def state_dir(self) -> Path:
        return self.running.state_dir

    @property
    def gateway_url(self) -> str:
        return self.running.gateway_url

    def subscription_key(self) -> str:
        """Return the primary key of the gateway's first local subscription."""
        return self.running.subscription_key()

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
        return await self.running.stop()


async def start_host(state_dir: Path, options: HostOptions) -> BenchHost:
    """Start `python -m devhost start` on the app and wait until it is ready.

    The start-up time runs from just before the process is created until the ready line is in
    the log and the gateway accepts connections, as a user running `devhost start` sees it.
    Readiness is polled every 5 ms so the time is not rounded up by the poll.
    """
    started = time.monotonic()
    running = await simulation_host.start_host(
        options.app_dir,
        state_dir,
        free_port(),
        free_port(),
        options.settings,
        extra_arguments=options.arguments(),
        log_file=LOG_FILE,
        poll_seconds=0.005,
    )
    return BenchHost(running, time.monotonic() - started)


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
