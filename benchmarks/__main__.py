"""`python -m benchmarks`: measure devhost against the project's performance targets."""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from benchmarks.load import stocked
from benchmarks.report import table, write_json
from benchmarks.run import Plan, figures, run
from benchmarks.stack import REPO_ROOT, HostOptions
from devhost.start import default_episode_workers
from simulation.catalog import DEFAULT_DATA_DIR, load_bikestores, sample_catalog

RESULTS_DIR = REPO_ROOT / "benchmarks" / "results"

FULL = Plan(warmup_orders=300, orders=10_000, window=256, ceiling_sagas=1_000,
            latency_rate=100.0, latency_seconds=15.0)
QUICK = Plan(warmup_orders=100, orders=1_000, window=256, ceiling_sagas=300,
             latency_rate=100.0, latency_seconds=5.0, light_seconds=5.0)


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="short run: 1,000 orders and 5 s at the fixed rate (about 2 min)")
    parser.add_argument("--orders", type=int, default=None,
                        help="orders in the throughput phase (default 10,000; quick 1,000)")
    parser.add_argument("--warmup", type=int, default=None,
                        help="orders placed before measuring (default 300; quick 100)")
    parser.add_argument("--window", type=int, default=None,
                        help="sagas kept in flight in the throughput phase (default 256)")
    parser.add_argument("--rate", type=float, default=None,
                        help="POST /orders per second in the latency phase (default 100)")
    parser.add_argument("--latency-seconds", type=float, default=None,
                        help="length of the latency phase in seconds (default 15; quick 5)")
    parser.add_argument("--catalog", choices=("sample", "bikestores"), default="sample",
                        help="catalog to sell from (default sample); either gets 10,000 units "
                        "of every stocked product")
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA_DIR,
                        help=f"BikeStores CSV folder (default {DEFAULT_DATA_DIR})")
    parser.add_argument("--app", type=Path, default=REPO_ROOT,
                        help=f"Function App folder devhost runs (default {REPO_ROOT})")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1,
                        help="devhost --processes: host processes sharing the state folder "
                        "(default: the number of CPUs)")
    parser.add_argument("--episode-workers", type=int, default=None,
                        help="devhost --episode-workers per host process; 0 replays in host "
                        "threads (default: the number of CPUs divided by --processes, at "
                        "least 1)")
    parser.add_argument("--full-replay", action="store_true",
                        help="start devhost without --compact-replay, so the SDK replays "
                        "every history event")
    parser.add_argument("--state", type=Path, default=None,
                        help="state folder for devhost; must not exist (default: a temporary "
                        "folder, removed after the run)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the orders")
    parser.add_argument("--output", type=Path, default=None,
                        help="JSON file of the results (default benchmarks/results/<time>.json)")
    return parser.parse_args(argv)


def build_plan(args: argparse.Namespace) -> Plan:
    base = QUICK if args.quick else FULL
    return Plan(
        warmup_orders=base.warmup_orders if args.warmup is None else args.warmup,
        orders=base.orders if args.orders is None else args.orders,
        window=base.window if args.window is None else args.window,
        ceiling_sagas=base.ceiling_sagas,
        latency_rate=base.latency_rate if args.rate is None else args.rate,
        latency_seconds=(base.latency_seconds if args.latency_seconds is None
                         else args.latency_seconds),
        light_rate=base.light_rate,
        light_seconds=(base.light_seconds if args.latency_seconds is None
                       else args.latency_seconds),
    )


def main(argv: list[str]) -> int:
    args = parse_arguments(argv)
    plan = build_plan(args)
    catalog = load_bikestores(args.data, with_orders=False) if args.catalog == "bikestores" \
        else sample_catalog()
    catalog = stocked(catalog)
    options = HostOptions(
        app_dir=args.app.resolve(),
        processes=args.processes,
        episode_workers=(
            default_episode_workers(args.processes)
            if args.episode_workers is None
            else args.episode_workers
        ),
        compact_replay=not args.full_replay,
        settings={
            "APIM_NAMED_VALUE_RATE_LIMIT_CALLS": "100000000",
            "SAGA_DISPATCH_DEADLINE_SECONDS": "600",
            "SAGA_DELIVERY_DEADLINE_SECONDS": "600",
        },
    )
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    output = args.output or RESULTS_DIR / f"{stamp}.json"
    state_dir = args.state or Path(tempfile.mkdtemp(prefix="bench-state-"))
    load_start = os.getloadavg()
    if load_start[0] > (os.cpu_count() or 1):
        print(f"Note: load average {load_start[0]:.1f} on {os.cpu_count()} CPUs before the run; "
              "other processes share the cores, so the rates are lower bounds", flush=True)
    print(f"Benchmark plan {asdict(plan)}; devhost {' '.join(options.arguments())}; "
          f"state {state_dir}", flush=True)

    try:
        measured = asyncio.run(run(args, plan, catalog, state_dir, options))
    finally:
        if args.state is None:
            shutil.rmtree(state_dir, ignore_errors=True)

    results = figures(measured)
    print()
    print(table(results))
    details = {
        "time": stamp,
        "plan": asdict(plan),
        "devhost_arguments": options.arguments(),
        "catalog": catalog.name,
        "cpus": os.cpu_count(),
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
        "host_cpu_seconds": measured.host_cpu_seconds,
        "episode_worker_cpu_seconds": measured.worker_cpu_seconds,
        "client_cpu_seconds": measured.client_cpu_seconds,
        "throughput_statuses": measured.statuses,
        "throughput_errors": measured.throughput.errors if measured.throughput else None,
        "latency_errors": measured.latency.errors if measured.latency else None,
        "ceiling": measured.ceiling,
        "rss_before_mb": measured.rss_before / 2**20,
        "rss_peak_mb": measured.rss_peak / 2**20,
        "event_delays_counted": len(measured.event_delays or []),
        "light_event_delays_counted": len(measured.light_event_delays or []),
        "carrier_events_unrecorded": measured.unrecorded_events,
        "light_carrier_events_unrecorded": measured.light_unrecorded_events,
        "light_errors": measured.light.errors if measured.light else None,
    }
    write_json(output, results, details)
    print(f"\nResults written to {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
