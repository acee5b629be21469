"""Drive orders through the gateway: a closed window for throughput, a fixed rate for latency.

The carrier of the simulation answers every shipment request at once, so a saga's time is the
system's own. Completion is read from the task hub, which costs the host nothing but a
shared WAL read.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

import aiohttp

from benchmarks.taskhub import TaskHubReader
from simulation.api import SUBSCRIPTION_KEY_HEADER, ApiClient
from simulation.bus import Broker
from simulation.carrier import PROFILES, Carrier
from simulation.catalog import Catalog
from simulation.run import serve_carrier
from simulation.supplier import Supplier, opening_deliveries
from simulation.workload import PlannedOrder, generate

STOCK_PER_PRODUCT = 10_000
"""Units of each product at each store; the largest quantity one StockReceived line takes."""
POLL_SECONDS = 0.02
POST_CONCURRENCY = 64
"""Requests in flight at once in the throughput phase."""


@dataclass
class PhaseResult:
    """The orders of one load phase: ids placed, errors by status, latencies, start and end."""

    order_ids: list[str] = field(default_factory=list)
    errors: dict[int, int] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    started: float = 0.0
    finished: float = 0.0

    @property
    def seconds(self) -> float:
        return self.finished - self.started


def stocked(catalog: Catalog) -> Catalog:
    """Return the catalog with STOCK_PER_PRODUCT units of every product it stocks."""
    stock = {pair: STOCK_PER_PRODUCT for pair, quantity in catalog.stock.items() if quantity > 0}
    return replace(catalog, stock=stock)


def order_batches(catalog: Catalog, run_id: str, seed: int) -> Iterator[list[PlannedOrder]]:
    """Yield batches of generated orders with Idempotency-Keys unique to the run."""
    batch = 0
    while True:
        yield generate(catalog, 1000, 1.0, seed + batch, 0.0, f"{run_id}-{batch}").orders
        batch += 1


async def load_stock(broker: Broker, gateway_url: str, key: str, catalog: Catalog) -> None:
    """Deliver the catalog's stock as StockReceived events and wait until it is on hand."""
    async with ApiClient(gateway_url, key) as api:
        await Supplier(broker, api).deliver(opening_deliveries(catalog))


class CarrierService:
    """The simulation's carrier on the instant profile, remembering what it sent."""

    def __init__(self, broker: Broker) -> None:
        self._broker = broker
        self.sent: dict[str, tuple[str, str]] = {}
        """Envelope id of each carrier event -> (order id, event type)."""
        self._carrier = Carrier(PROFILES["instant"], self._send, seed=1)
        self._stop = asyncio.Event()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(serve_carrier(self._carrier, self._broker, self._stop))

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
        await self._carrier.close()

    async def _send(self, envelope) -> bool:
        self.sent[envelope.id] = (envelope.subject, envelope.type)
        return await self._broker.send(envelope)


class Progress:
    """The count of finished instances in the task hub, refreshed every POLL_SECONDS."""

    def __init__(self, reader: TaskHubReader) -> None:
        self._reader = reader
        self.finished = reader.finished_count()
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def wait_until(self, count: int, timeout: float) -> None:
        """Wait until `count` instances have finished; raise TimeoutError after `timeout` s."""
        deadline = time.monotonic() + timeout
        while self.finished < count:
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{count - self.finished} sagas still unfinished after {timeout:.0f} s; "
                    "see bench-devhost.log in the state folder"
                )
            await asyncio.sleep(POLL_SECONDS / 2)

    async def _poll(self) -> None:
        while True:
            self.finished = await asyncio.to_thread(self._reader.finished_count)
            await asyncio.sleep(POLL_SECONDS)


class OrderClient:
    """POST /orders through the gateway, with no retries, so every answer is measured."""

    def __init__(self, gateway_url: str, subscription_key: str) -> None:
        self._url = gateway_url.rstrip("/") + "/orders"
        self._headers = {SUBSCRIPTION_KEY_HEADER: subscription_key}
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> OrderClient:
        self._session = aiohttp.ClientSession(
            headers=self._headers, connector=aiohttp.TCPConnector(limit=0),
            timeout=aiohttp.ClientTimeout(total=60),
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._session is not None:
            await self._session.close()

    async def place(self, order: PlannedOrder) -> tuple[int, str | None]:
        """Place one order; return the HTTP status and the order id of a 202."""
        assert self._session is not None, "use OrderClient as an async context manager"
        headers = {"Idempotency-Key": order.key}
        async with self._session.post(self._url, json=order.body, headers=headers) as response:
            body = await response.json(content_type=None) if response.status == 202 else None
            return response.status, body["orderId"] if body else None


async def run_window(
    client: OrderClient, progress: Progress, orders: list[PlannedOrder], window: int,
    timeout: float,
) -> PhaseResult:
    """Keep `window` sagas in flight until every order is placed, then wait for all to finish.

    The phase runs from the first request until the task hub shows every saga finished.
    """
    result = PhaseResult(started=time.time())
    baseline = progress.finished
    slots = asyncio.Semaphore(POST_CONCURRENCY)
    tasks = []

    for placed, order in enumerate(orders):
        while placed - (progress.finished - baseline) >= window:
            await asyncio.sleep(POLL_SECONDS / 4)
        await slots.acquire()
        tasks.append(asyncio.create_task(_place(client, order, result, slots)))

    return await _settle(tasks, progress, baseline, result, timeout)


async def run_open_loop(
    client: OrderClient, progress: Progress, orders: list[PlannedOrder], rate: float,
    timeout: float,
) -> PhaseResult:
    """Send orders at `rate` per second on a fixed schedule, whatever the answers take.

    Each latency runs from the request's scheduled time to its answer, so a stalled client or
    host shows in the figures instead of delaying the requests after it.
    """
    loop = asyncio.get_running_loop()
    result = PhaseResult(started=time.time())
    baseline = progress.finished
    first = loop.time() + 0.05
    tasks = []

    for index, order in enumerate(orders):
        scheduled = first + index / rate
        await asyncio.sleep(max(0.0, scheduled - loop.time()))
        tasks.append(asyncio.create_task(_place_timed(client, order, scheduled, result)))

    return await _settle(tasks, progress, baseline, result, timeout)


async def _settle(tasks: list[asyncio.Task], progress: Progress, baseline: int,
                  result: PhaseResult, timeout: float) -> PhaseResult:
    """Wait for every request, then for every placed saga to finish; stamp the phase's end."""
    await asyncio.gather(*tasks)
    await progress.wait_until(baseline + len(result.order_ids), timeout)
    result.finished = time.time()
    return result


async def _place(
    client: OrderClient, order: PlannedOrder, result: PhaseResult, slots: asyncio.Semaphore
) -> None:
    try:
        status, order_id = await client.place(order)
    finally:
        slots.release()
    _record(result, status, order_id)


async def _place_timed(
    client: OrderClient, order: PlannedOrder, scheduled: float, result: PhaseResult
) -> None:
    status, order_id = await client.place(order)
    result.latencies.append(asyncio.get_running_loop().time() - scheduled)
    _record(result, status, order_id)


def _record(result: PhaseResult, status: int, order_id: str | None) -> None:
    if status == 202 and order_id:
        result.order_ids.append(order_id)
    else:
        result.errors[status] = result.errors.get(status, 0) + 1
