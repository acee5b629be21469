"""The `start` command: run a Function App folder on this machine."""

from __future__ import annotations

import argparse
import os
import sys

from devhost.durable.partitions import DEFAULT_LEASE_SECONDS
from devhost.host import run_host


def default_episode_workers(processes: int = 1) -> int:
    """Return the CPU count shared out over the host processes on Linux, else 0.

    Forked workers are safe on Linux and die with their host. Each host process keeps at
    least one, so its replay does not hold the host's interpreter lock.
    """
    if not sys.platform.startswith("linux"):
        return 0
    return max(1, (os.cpu_count() or 1) // processes)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("start", help="run a Function App folder until stopped")
    parser.add_argument("--app", default=".", help="folder holding function_app.py (default .)")
    parser.add_argument("--port", type=int, default=7071,
                        help="loopback port for HTTP and the Durable API; 0 picks a free one")
    parser.add_argument("--state", default=None,
                        help="state folder for keys, task hub and broker (default <app>/.devhost)")
    parser.add_argument("--gateway-port", type=int, default=8080,
                        help="loopback port of the API Management stand-in (default 8080)")
    parser.add_argument("--no-gateway", action="store_true",
                        help="do not start the API Management stand-in")
    parser.add_argument(
        "--compact-replay", action="store_true",
        help="send the orchestrator SDK only the history events it acts on (faster replay; "
             "context.histories then lacks TaskScheduled, TimerCreated and similar events)",
    )
    parser.add_argument(
        "--episode-workers", type=int, default=None,
        help="replay orchestrator episodes in this many forked worker processes per host "
             "process; 0 runs them in threads of the host (default on Linux: the CPU count "
             "divided by --processes, at least 1; 0 elsewhere)",
    )
    parser.add_argument(
        "--processes", type=positive_int, default=1,
        help="run this many host processes over the state folder, sharing the task hub's "
             "partitions and the HTTP ports (Linux; default 1)",
    )
    parser.add_argument(
        "--partition-lease-seconds", type=positive_float, default=DEFAULT_LEASE_SECONDS,
        help="with --processes above 1: how long a partition lease lasts without renewal, so "
             "how soon the others take over from a process that died (default "
             f"{DEFAULT_LEASE_SECONDS:g} s)",
    )
    # Set by the supervisor for the host processes it starts.
    parser.add_argument("--process-count", type=int, default=None, help=argparse.SUPPRESS)
    parser.set_defaults(handler=start)


def start(args: argparse.Namespace) -> int:
    """Run one host, or the supervisor of several."""
    if args.episode_workers is None:
        args.episode_workers = default_episode_workers(args.processes)
    if args.processes > 1 and args.process_count is None:
        from devhost.supervisor import run_supervisor

        return run_supervisor(args)
    return run_host(args)


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a whole number of 1 or more")
    return value


def positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text} is not a number above 0")
    return value
