"""Run the whole system with its simulated outside world: devhost, carrier, supplier, customers.

`python -m simulation run` starts devhost (with its gateway) in a subprocess on the repository's
app, starts the carrier, loads the catalog's stock through supplier-events, runs the workload,
prints the summary and the URLs, and keeps serving until Ctrl-C. With `--exit` it stops after
the summary and exits 1 when an order is unfinished or the stock check failed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
import time
from datetime import UTC, datetime
from pathlib import Path

from domain.errors import InvalidMessage
from domain.messages import CARRIER_REQUESTS, parse_envelope
from simulation.api import SUBSCRIPTION_KEY_HEADER, ApiClient
from simulation.bus import TRACEPARENT, Broker, MessageLockLostError, ReceivedMessage
from simulation.carrier import PROFILES, Carrier, CarrierProfile, Script
from simulation.catalog import (
    DATA_DIR_VARIABLE,
    DEFAULT_DATA_DIR,
    REPO_ROOT,
    Catalog,
    CatalogNotFound,
    load_bikestores,
    sample_catalog,
)
from simulation.host import RunningHost, free_port, start_host
from simulation.replay import RestockPolicy, plan_deliveries, schedule, shortfalls
from simulation.summary import RunSummary
from simulation.supplier import Pair, Supplier
from simulation.workload import Driver, Workload, generate, replay

log = logging.getLogger(__name__)

DEFAULT_STATE_DIR = REPO_ROOT / ".devhost"
SUMMARY_FILE = "simulation-summary.json"


def add_carrier_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options the carrier needs: state folder, profile, rates and seed."""
    parser.add_argument("--state", type=Path, default=DEFAULT_STATE_DIR,
                        help="devhost state folder; the run writes nothing outside it "
                        f"(default {DEFAULT_STATE_DIR})")
    parser.add_argument("--profile", choices=sorted(PROFILES), default="demo",
                        help="carrier delays: instant, fast, demo (seconds) or realistic "
                        "(hours to days); default demo")
    parser.add_argument("--failure-rate", type=float, default=None,
                        help="share of shipments whose delivery fails, 0..1 (default: profile's)")
    parser.add_argument("--no-show-rate", type=float, default=None,
                        help="share of shipments the carrier never collects, 0..1 "
                        "(default: profile's)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare the options of `python -m simulation run`."""
    add_carrier_arguments(parser)

    workload = parser.add_mutually_exclusive_group()
    workload.add_argument("--orders", type=int, default=100,
                          help="number of generated orders to place (default 100)")
    workload.add_argument("--replay", action="store_true",
                          help="replay the 1,615 BikeStores orders instead of generating orders")

    parser.add_argument("--exit", action="store_true",
                        help="exit after the summary; exit code 1 when an order is unfinished "
                        "or the stock check failed")

    parser.add_argument("--catalog", choices=("auto", "bikestores", "sample"), default="auto",
                        help="catalog to sell from; auto uses BikeStores when its folder exists, "
                        "else the built-in sample")
    parser.add_argument("--data", type=Path, default=None,
                        help="folder of the BikeStores CSV files; a folder given here must "
                        f"exist (default: ${DATA_DIR_VARIABLE}, else {DEFAULT_DATA_DIR})")

    parser.add_argument("--app", type=Path, default=REPO_ROOT,
                        help=f"Function App folder devhost runs (default {REPO_ROOT})")
    parser.add_argument("--port", type=int, default=7071,
                        help="Functions host port; 0 picks a free one (default 7071)")
    parser.add_argument("--gateway-port", type=int, default=8080,
                        help="gateway port; 0 picks a free one (default 8080)")
    parser.add_argument("--processes", type=int, default=1,
                        help="devhost host processes sharing the state folder (default 1)")

    parser.add_argument("--run-id", default=None,
                        help="prefix of the orders' Idempotency-Keys (default: the start time); "
                        "the same run id and seed on a fresh state folder give the same orders "
                        "and carrier plans")
    parser.add_argument("--rate", type=float, default=20.0,
                        help="generated orders placed per second (default 20)")
    parser.add_argument("--cancel-rate", type=float, default=0.05,
                        help="share of generated orders the customer cancels, 0..1 (default 0.05)")

    parser.add_argument("--days-per-second", type=float, default=30.0,
                        help="replay clock: BikeStores days played per second (default 30)")
    parser.add_argument("--review-days", type=int, default=7,
                        help="replay restock: days between stock reviews (default 7)")
    parser.add_argument("--lead-days", type=int, default=3,
                        help="replay restock: days from a reorder to its delivery (default 3)")

    parser.add_argument("--dispatch-deadline", type=int, default=10,
                        help="seconds the saga waits for the carrier to collect (default 10)")
    parser.add_argument("--delivery-deadline", type=int, default=60,
                        help="seconds the saga waits for the delivery (default 60)")


async def run(args: argparse.Namespace) -> int:
    """Run the simulation; return the process exit code."""
    _check_arguments(args)
    args.run_id = args.run_id or datetime.now(UTC).strftime("run%Y%m%dT%H%M%S")
    catalog = load_catalog(args)
    workload = _workload(args, catalog)
    state_dir = args.state.resolve()
    settings = {
        "SAGA_DISPATCH_DEADLINE_SECONDS": str(args.dispatch_deadline),
        "SAGA_DELIVERY_DEADLINE_SECONDS": str(args.delivery_deadline),
        "ACTIVITY_RETRY_FIRST_INTERVAL_MS": "200",
    }
    port = args.port or free_port()
    gateway_port = args.gateway_port or free_port()

    print(f"Starting devhost on port {port}, gateway on port {gateway_port}, state {state_dir}")
    host = await start_host(args.app.resolve(), state_dir, port, gateway_port, settings,
                            extra_arguments=("--processes", str(args.processes)))
    broker = Broker(host.state_dir)
    script = Script() if args.replay else None
    carrier = Carrier(_profile(args), broker.send, seed=args.seed, script=script)
    stop = asyncio.Event()
    carrier_task = asyncio.create_task(serve_carrier(carrier, broker, stop))

    try:
        summary = await _simulate(args, catalog, workload, host, broker, script)
        if not args.exit:
            await _serve_until_interrupted(host)
    finally:
        stop.set()
        await carrier_task
        await carrier.close()
        broker.close()
        await host.stop()

    return 0 if summary.ok or not args.exit else 1


async def _simulate(
    args: argparse.Namespace,
    catalog: Catalog,
    workload: Workload,
    host: RunningHost,
    broker: Broker,
    script: Script | None,
) -> RunSummary:
    async with ApiClient(host.gateway_url, host.subscription_key()) as api:
        supplier = Supplier(broker, api, args.run_id)
        started = time.monotonic()
        deliveries = await supplier.top_up(catalog, _ordered_pairs(workload))
        units = sum(sum(delivery.quantities.values()) for delivery in deliveries)
        print(f"Topped the stock up to the {catalog.name} catalog's levels: {units} units "
              f"in {len(deliveries)} deliveries, {time.monotonic() - started:.1f} s")

        settle = args.dispatch_deadline + args.delivery_deadline + 30
        summary = await Driver(api, broker, supplier, script).run(workload, settle)

    for line in summary.lines():
        print(line)
    summary_path = host.state_dir / SUMMARY_FILE
    summary_path.write_text(json.dumps(summary.to_json(), indent=2), encoding="utf-8")
    print(f"Summary written to {summary_path}")
    guide = serving_lines(host, catalog) if not args.exit else state_lines(host.state_dir)
    for line in guide:
        print(line)
    return summary


async def serve_carrier(carrier: Carrier, broker: Broker, stop: asyncio.Event) -> None:
    """Take carrier requests from the broker and hand them to the carrier until `stop` is set.

    A request that is not a valid envelope is dead-lettered with the parser's reason. A lock
    lost before settlement is logged, and the redelivered request is a repeat the carrier
    ignores.
    """
    async for message in broker.receive(CARRIER_REQUESTS, stop):
        try:
            await _take_request(carrier, broker, message)
        except MessageLockLostError as error:
            log.warning("carrier lost the lock of message %s: %s", message.message_id, error)


async def _take_request(carrier: Carrier, broker: Broker, message: ReceivedMessage) -> None:
    # The carrier's replies copy the request's traceparent, so they join the order's trace.
    token = TRACEPARENT.set(message.application_properties.get("traceparent"))
    try:
        envelope = parse_envelope(message.body)
        await carrier.handle(envelope)
    except (InvalidMessage, ValueError) as error:
        log.warning("carrier dead-letters message %s: %s", message.message_id, error)
        await broker.dead_letter(message, "InvalidCarrierRequest", str(error))
        return
    finally:
        TRACEPARENT.reset(token)
    await broker.complete(message)


async def run_carrier(args: argparse.Namespace) -> int:
    """Serve carrier requests from the broker in the state folder until Ctrl-C."""
    broker = Broker(args.state.resolve())
    carrier = Carrier(_profile(args), broker.send, seed=args.seed)
    stop = _interrupt_event()

    print(f"Carrier ({args.profile} profile) serving {CARRIER_REQUESTS} in {args.state}; "
          "Ctrl-C stops it")
    try:
        await serve_carrier(carrier, broker, stop)
    finally:
        await carrier.close()
        broker.close()
    return 0


def _check_arguments(args: argparse.Namespace) -> None:
    """Raise ValueError naming the first option whose value cannot be used."""
    checks = [
        ("--orders", args.orders >= 0, "0 or more"),
        ("--run-id", args.run_id is None or 0 < len(args.run_id) <= 64, "of 1 to 64 characters"),
        ("--rate", args.rate > 0, "above 0"),
        ("--cancel-rate", 0 <= args.cancel_rate <= 1, "in 0..1"),
        ("--days-per-second", args.days_per_second > 0, "above 0"),
        ("--dispatch-deadline", args.dispatch_deadline > 0, "above 0 seconds"),
        ("--delivery-deadline", args.delivery_deadline > 0, "above 0 seconds"),
    ]
    for option, valid, expected in checks:
        if not valid:
            value = getattr(args, option.removeprefix("--").replace("-", "_"))
            raise ValueError(f"{option} {value} is invalid; use a value {expected}")


def load_catalog(args: argparse.Namespace) -> Catalog:
    """Load the catalog the options choose.

    `--catalog auto` falls back to the built-in sample when the default BikeStores folder is
    missing. Raises CatalogNotFound when the data is missing but required: for `--replay`,
    `--catalog bikestores` or a folder given with `--data`.
    """
    wants_data = args.replay or args.catalog == "bikestores" or args.data is not None
    if args.catalog == "sample" and not args.replay:
        return sample_catalog()

    data_dir = args.data or DEFAULT_DATA_DIR
    try:
        return load_bikestores(data_dir, with_orders=args.replay)
    except CatalogNotFound:
        if wants_data:
            raise
        log.warning(
            "BikeStores data not found in %s; using the built-in sample catalog. Give the "
            "folder with --data DIR or the %s environment variable to sell from BikeStores",
            data_dir, DATA_DIR_VARIABLE,
        )
        return sample_catalog()


def _profile(args: argparse.Namespace) -> CarrierProfile:
    profile = PROFILES[args.profile]
    changes = {}
    if args.failure_rate is not None:
        changes["failure_rate"] = args.failure_rate
    if args.no_show_rate is not None:
        changes["no_show_rate"] = args.no_show_rate
    return CarrierProfile(**(profile.__dict__ | changes))


def _workload(args: argparse.Namespace, catalog: Catalog) -> Workload:
    run_id = args.run_id
    if not args.replay:
        return generate(catalog, args.orders, args.rate, args.seed, args.cancel_rate, run_id)

    deliveries = plan_deliveries(catalog, RestockPolicy(args.review_days, args.lead_days))
    steps = schedule(catalog, deliveries)
    short = shortfalls(catalog, steps)
    if short:
        log.warning("the restock plan leaves %d order lines short; they will be rejected",
                    len(short))
    return replay(catalog, steps, args.days_per_second, run_id)


def _ordered_pairs(workload: Workload) -> set[Pair]:
    """Return the store and product of every line the workload orders."""
    return {
        (planned.body["storeId"], line["productId"])
        for planned in workload.orders
        for line in planned.body["lines"]
    }


def serving_lines(host: RunningHost, catalog: Catalog) -> list[str]:
    """Tell how to call the running system: gateway, Functions host and Durable status API.

    The sample request buys one unit of the catalog's first stocked product at its first
    store, so it works as pasted.
    """
    key = host.subscription_key()
    key_header = f'-H "{SUBSCRIPTION_KEY_HEADER}: {key}"'
    keys_file = host.state_dir / "keys.json"
    return [
        f"Gateway (API Management): {host.gateway_url}, subscription key {key} in header "
        f"{SUBSCRIPTION_KEY_HEADER}",
        "  Place an order:",
        f"    curl -s -X POST {host.gateway_url}/orders {key_header} "
        f"-H \"Content-Type: application/json\" -d '{json.dumps(_sample_order(catalog))}'",
        "  Read it, with the orderId of that response:",
        f"    curl -s {host.gateway_url}/orders/<orderId> {key_header}",
        f"Functions host: {host.functions_url}/api, function key \"default\" in {keys_file} "
        "(header x-functions-key or query code)",
        f"Durable status API: {host.functions_url}/runtime/webhooks/durabletask/instances"
        f"?code=<the durabletask_extension system key in {keys_file}>",
    ]


def state_lines(state_dir: Path) -> list[str]:
    """Tell where the stopped run left its state and which commands inspect it."""
    return [
        f"State folder: {state_dir} (orders, sagas, broker, devhost log); inspect it with",
        f"  python -m devhost instances --state {state_dir}",
        f"  python -m devhost servicebus --state {state_dir} entities",
        f"  python -m devhost servicebus --state {state_dir} dead-letters",
        f"  python -m devhost traces --state {state_dir} <orderId>",
    ]


def _sample_order(catalog: Catalog) -> dict:
    store_id = next(store for store in catalog.stores if catalog.stocked_products(store))
    product_id = catalog.stocked_products(store_id)[0]
    return {
        "storeId": store_id,
        "customerId": "c-1",
        "lines": [{
            "productId": product_id,
            "quantity": 1,
            "unitPrice": float(catalog.products[product_id].list_price),
        }],
        "shipTo": {
            "name": "Ada Rider", "street": "1 Main Street", "city": "Omaha", "state": "NE",
            "postalCode": "68102",
        },
    }


async def _serve_until_interrupted(host: RunningHost) -> None:
    print("Serving until Ctrl-C")
    interrupted = _interrupt_event()

    waiter = asyncio.create_task(interrupted.wait())
    exited = asyncio.create_task(host.process.wait())
    await asyncio.wait({waiter, exited}, return_when=asyncio.FIRST_COMPLETED)
    for task in (waiter, exited):
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await host.stop()


def _interrupt_event() -> asyncio.Event:
    """Return an event that Ctrl-C (SIGINT) or SIGTERM sets, in place of KeyboardInterrupt."""
    interrupted = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, interrupted.set)
    return interrupted
