"""Command line of the simulation: `python -m simulation run|carrier [options]`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

from simulation import run
from simulation.catalog import CatalogNotFound
from simulation.host import HostFailed


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen command; return the exit code."""
    parser = argparse.ArgumentParser(prog="python -m simulation", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    run_parser = commands.add_parser(
        "run", help="start devhost, the carrier and a workload, then print a summary"
    )
    run.add_arguments(run_parser)

    carrier_parser = commands.add_parser(
        "carrier", help="run only the carrier against the broker of a running devhost"
    )
    run.add_carrier_arguments(carrier_parser)

    for command in (run_parser, carrier_parser):
        command.add_argument("--log-level", default="WARNING",
                             help="logging level of the simulation itself (default WARNING)")
    args = parser.parse_args(argv)

    logging.basicConfig(level=args.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    command = run.run if args.command == "run" else run.run_carrier
    try:
        return asyncio.run(command(args))
    except (CatalogNotFound, HostFailed, ValueError) as error:
        print(f"simulation failed: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
