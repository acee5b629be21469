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
    processes: int = 1
    episode_workers: int = 0
    compact_replay: bool = False
    settings: dict[str, str] = field(default_factory=dict)

    def arguments(self) -> list[str]:
        extra = ["--processes", str(self.processes), "--episode-workers", str(self.episode_workers)]
        return [*extra, "--compact-replay"] if self.compact_replay else extra

    @property
    def replay_processes(self) -> int:
        """Return how many processes replay episodes: the workers, else the host processes."""
        return self.processes * max(1, self.episode_workers)


@dataclass
class BenchHost:
    """A devhost process started by the benchmark, with its start-up time."""

    running: RunningHost
    startup_seconds: float
    processes: int = 1

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
        return sum(_rss(pid) for pid, _ in _process_tree(self.process.pid))

    def cpu_seconds(self) -> tuple[float, float]:
        """Return the CPU time (user and system) used so far by the hosts, and by their workers.

        With several host processes the tree's root is devhost's supervisor: its CPU and its
        children's count as the hosts', and deeper processes are episode workers.
        """
        host_depth = 1 if self.processes > 1 else 0
        hosts = workers = 0
        for pid, depth in _process_tree(self.process.pid):
            if depth <= host_depth:
                hosts += _cpu_ticks(pid)
            else:
                workers += _cpu_ticks(pid)
        return hosts / CLOCK_TICKS, workers / CLOCK_TICKS

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
    return BenchHost(running, time.monotonic() - started, options.processes)


def _process_tree(root: int) -> list[tuple[int, int]]:
    """Return `root` and its descendants with their depth below it, read from /proc (Linux)."""
    tree, index = [(root, 0)], 0
    while index < len(tree):
        pid, depth = tree[index]
        index += 1
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{pid}/task"):
                children = Path(f"/proc/{pid}/task/{task}/children").read_text()
                tree += [(int(child), depth + 1) for child in children.split()]
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
