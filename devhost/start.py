"""The `start` command: run a Function App folder on this machine."""

from __future__ import annotations

import argparse
import os
import sys

from devhost.host import run_host


def default_episode_workers() -> int:
    """Return the CPU count on Linux, where forked workers are safe and die with the host."""
    return (os.cpu_count() or 1) if sys.platform.startswith("linux") else 0


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
        "--episode-workers", type=int, default=default_episode_workers(),
        help="replay orchestrator episodes in this many forked worker processes; 0 runs them "
             "in threads of the host (default: the CPU count on Linux, 0 elsewhere)",
    )
    parser.set_defaults(handler=run_host)
