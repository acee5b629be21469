"""Command line of devhost: `python -m devhost <command>`."""

from __future__ import annotations

import argparse
import sys

from devhost.host import import_optional

COMMAND_MODULES = ("devhost.start", "devhost.instances", "devhost.servicebus.cli", "devhost.traces")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devhost", description=__doc__)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name in COMMAND_MODULES:
        module = import_optional(name)
        if module is not None:
            module.register(subparsers)
    args = parser.parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
