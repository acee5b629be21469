"""The `instances` command: list orchestration instances from a state folder's task hub."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from devhost.durable.store import connect

TASK_HUB_FILE = "taskhub.sqlite"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("instances", help="list orchestration instances")
    parser.add_argument("--app", default=".", help="app folder (default .)")
    parser.add_argument("--state", default=None, help="state folder (default <app>/.devhost)")
    parser.add_argument("--status", default=None,
                        help="only this runtime status, e.g. Running, Completed, Failed")
    parser.set_defaults(handler=list_instances)


def list_instances(args: argparse.Namespace) -> int:
    state_dir = Path(args.state) if args.state else Path(args.app) / ".devhost"
    path = state_dir / TASK_HUB_FILE
    if not path.exists():
        print(f"No task hub at {path}. Start the app with devhost first, or pass --state.",
              file=sys.stderr)
        return 1
    connection = connect(path, read_only=True)
    sql = "SELECT instance_id, name, status, created_time, last_updated_time FROM instances"
    parameters: tuple[str, ...] = ()
    if args.status:
        sql += " WHERE lower(status) = lower(?)"
        parameters = (args.status,)
    rows = connection.execute(sql + " ORDER BY created_time", parameters).fetchall()
    connection.close()

    table = [("Instance", "Orchestrator", "Status", "Created (UTC)", "Updated (UTC)")]
    table += [(r[0], r[1], r[2], r[3][:19], r[4][:19]) for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(5)]
    for row in table:
        print("  ".join(f"{cell:<{widths[i]}}" for i, cell in enumerate(row)).rstrip())
    print(f"{len(rows)} instance(s)")
    return 0
