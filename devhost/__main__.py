"""Command line of devhost: `python -m devhost <command>`."""

from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = ("devhost.start", "devhost.instances", "devhost.servicebus.cli", "devhost.traces")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
