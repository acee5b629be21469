"""Command line of devhost: `python -m devhost <command>`."""

from __future__ import annotations

import argparse
import importlib
import os
import signal
import sys

COMMAND_MODULES = ("devhost.start", "devhost.instances", "devhost.servicebus.cli", "devhost.traces")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    args = parser.parse_args(argv)
    try:
        exit_code = args.handler(args)
        sys.stdout.flush()
    except BrokenPipeError:
        return _exit_on_broken_pipe()
    return exit_code


def _exit_on_broken_pipe() -> int:
    """Exit quietly, as Unix tools do, when the reader of stdout closed it (`| head`).

    Pointing stdout at /dev/null keeps the interpreter's final flush from failing again.
    Returns 141, the status a shell reports for a process that SIGPIPE ended.
    """
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    return 128 + signal.SIGPIPE


if __name__ == "__main__":
    sys.exit(main())
