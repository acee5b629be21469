"""Run the benchmark: start the stack, run each phase, and collect the figures against targets."""

from __future__ import annotations

import argparse
import asyncio
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from benchmarks.ceiling import measure_ceiling
from benchmarks.events import event_to_step_seconds
from benchmarks.load import (
    CarrierService,
    OrderClient,
    PhaseResult,
    Progress,
    load_stock,
    order_batches,
    run_open_loop,
    run_window,
)
from benchmarks.report import Figure, judge, percentile, reference
from benchmarks.stack import BenchHost, HostOptions, start_host
from benchmarks.taskhub import TaskHubReader
from simulation.bus import Broker
from simulation.catalog import Catalog

MB = 1024 * 1024
RSS_SAMPLE_SECONDS = 0.5
SETTLE_TIMEOUT_SECONDS = 600.0


@dataclass(frozen=True)
class Plan:
    """The sizes of a run's phases."""

    warmup_orders: int
    orders: int
    window: int
    ceiling_sagas: int
    latency_rate: float
    latency_seconds: float
    light_rate: float = 5.0
    light_seconds: float = 10.0


@dataclass
class Measurements:
    """Raw results of one run, turned into figures by `figures`."""

    startup_seconds: float = 0.0
    restart_seconds: float | None = None
    throughput: PhaseResult | None = None
    completion_times: list[float] | None = None
    rss_before: int = 0
    rss_after: int = 0
    rss_peak: int = 0
    cpu_samples: list[tuple[float, float]] | None = None
    """(POSIX time, CPU seconds of the host tree) sampled through the throughput phase."""
    ceiling: dict | None = None
    latency: PhaseResult | None = None
    event_delays: list[float] | None = None
    unrecorded_events: int = 0
    light: PhaseResult | None = None
    light_event_delays: list[float] | None = None
    light_unrecorded_events: int = 0
    statuses: dict[str, int] | None = None
    host_cpu_seconds: float = 0.0
    worker_cpu_seconds: float = 0.0
    client_cpu_seconds: float = 0.0
    window: int = 0


async def run(args: argparse.Namespace, plan: Plan, catalog: Catalog, state_dir: Path,
              options: HostOptions) -> Measurements:
    """Run every phase on a fresh state folder and return the raw measurements."""
    measured = Measurements()
    host = await start_host(state_dir, options)
    measured.startup_seconds = host.startup_seconds
    print(f"devhost ready in {host.startup_seconds:.2f} s (pid {host.process.pid}, "
          f"gateway {host.gateway_url})", flush=True)

    try:
        await _measure_load(host, plan, catalog, args.seed, measured, options)
    finally:
        await host.stop()

    restarted = await start_host(state_dir, options)
    measured.restart_seconds = restarted.startup_seconds
    await restarted.stop()
    return measured


async def _measure_load(host: BenchHost, plan: Plan, catalog: Catalog, seed: int,
                        measured: Measurements, options: HostOptions) -> None:
    broker = Broker(host.state_dir)
    carrier = CarrierService(broker)
    carrier.start()
    reader = TaskHubReader(host.state_dir)
    progress = Progress(TaskHubReader(host.state_dir))
    progress.start()
    batches = order_batches(catalog, f"bench{int(time.time())}", seed)

    try:
        started = time.monotonic()
        await load_stock(broker, host.gateway_url, host.subscription_key(), catalog)
        print(f"stock loaded in {time.monotonic() - started:.1f} s", flush=True)

        async with OrderClient(host.gateway_url, host.subscription_key()) as client:
            await _throughput(client, progress, reader, host, plan, batches, measured)
            measured.ceiling = await _ceiling(host, measured, plan, options)
            await _latency(client, progress, reader, host, plan, batches, carrier, measured)
    finally:
        await progress.stop()
        await carrier.stop()
        reader.close()
        broker.close()


async def _throughput(client, progress, reader, host, plan, batches, measured) -> None:
    warmup = _take(batches, plan.warmup_orders)
    result = await run_window(client, progress, warmup, plan.window, SETTLE_TIMEOUT_SECONDS)
    print(f"warm-up: {len(result.order_ids)} sagas in {result.seconds:.1f} s", flush=True)

    orders = _take(batches, plan.orders)
    measured.rss_before = host.rss_bytes()
    host_cpu, client_cpu = host.cpu_seconds(), time.process_time()
    sampler = asyncio.create_task(_sample_rss(host, measured))
    try:
        result = await run_window(client, progress, orders, plan.window, SETTLE_TIMEOUT_SECONDS)
    finally:
        sampler.cancel()
    host_after = host.cpu_seconds()
    measured.host_cpu_seconds = host_after[0] - host_cpu[0]
    measured.worker_cpu_seconds = host_after[1] - host_cpu[1]
    measured.client_cpu_seconds = time.process_time() - client_cpu
    measured.window = plan.window
    measured.rss_after = host.rss_bytes()
    measured.throughput = result
    measured.completion_times = reader.completion_times(result.order_ids)
    measured.statuses = reader.statuses(result.order_ids)
    print(f"throughput: {len(result.order_ids)} sagas in {result.seconds:.1f} s "
          f"({len(result.order_ids) / result.seconds:.1f}/s), errors {result.errors}", flush=True)


async def _ceiling(host: BenchHost, measured: Measurements, plan: Plan,
                   options: HostOptions) -> dict:
    assert measured.throughput is not None
    sample = measured.throughput.order_ids[: plan.ceiling_sagas]
    processes = options.replay_processes
    ceiling = await asyncio.to_thread(
        measure_ceiling, host.state_dir, sample, processes, options.compact_replay
    )
    print(f"SDK replay ceiling: {ceiling.sagas_per_second:.1f} sagas/s on {processes} "
          f"process(es), {ceiling.cpu_ms_per_episode:.2f} ms CPU per episode", flush=True)
    return asdict(ceiling)


async def _latency(client, progress, reader, host, plan, batches, carrier, measured) -> None:
    light, light_delays, light_unrecorded = await _open_loop_phase(
        client, progress, reader, host, batches, carrier, plan.light_rate, plan.light_seconds
    )
    measured.light, measured.light_event_delays = light, light_delays
    measured.light_unrecorded_events = light_unrecorded

    loaded, delays, unrecorded = await _open_loop_phase(
        client, progress, reader, host, batches, carrier, plan.latency_rate,
        plan.latency_seconds,
    )
    measured.latency, measured.event_delays = loaded, delays
    measured.unrecorded_events = unrecorded


async def _open_loop_phase(client, progress, reader, host, batches, carrier, rate: float,
                           seconds: float) -> tuple[PhaseResult, list[float], int]:
    orders = _take(batches, int(rate * seconds))
    result = await run_open_loop(client, progress, orders, rate, SETTLE_TIMEOUT_SECONDS)
    delays, unrecorded = event_to_step_seconds(
        host.state_dir, reader, carrier.sent, set(result.order_ids)
    )
    print(f"fixed rate: {len(result.latencies)} requests at {rate:g}/s, POST p99 "
          f"{1000 * (percentile(result.latencies, 0.99) or 0):.1f} ms, event to step p50 "
          f"{1000 * (percentile(delays, 0.50) or 0):.1f} ms, errors {result.errors}", flush=True)
    return result, delays, unrecorded


async def _sample_rss(host: BenchHost, measured: Measurements) -> None:
    measured.cpu_samples = []
    while True:
        measured.rss_peak = max(measured.rss_peak, host.rss_bytes())
        measured.cpu_samples.append((time.time(), sum(host.cpu_seconds())))
        await asyncio.sleep(RSS_SAMPLE_SECONDS)


def _take(batches, count: int) -> list:
    orders: list = []
    while len(orders) < count:
        orders += next(batches)
    return orders[:count]


def figures(measured: Measurements) -> list[Figure]:
    """Turn the measurements into the figures of the targets table."""
    result = measured.throughput
    rate = len(result.order_ids) / result.seconds if result and result.seconds else None
    ceiling = (measured.ceiling or {}).get("sagas_per_second")
    share = rate / ceiling if rate and ceiling else None
    latencies = measured.latency.latencies if measured.latency else []
    delays = measured.event_delays or []
    light_latencies = measured.light.latencies if measured.light else []
    light_delays = measured.light_event_delays or []
    first, last = _tenth_rates(measured.completion_times or [], measured.window)
    slowdown = 1 - last / first if first and last else None
    first_cpu, last_cpu = _tenth_cpu(measured.completion_times or [], measured.window,
                                     measured.cpu_samples or [])
    growth = (measured.rss_after - measured.rss_before) / MB
    sagas = len(result.order_ids) if result else 0
    host_cpu = 1000 * measured.host_cpu_seconds / sagas if sagas else None
    replay_cpu = _replay_cpu_per_saga(measured.ceiling or {})
    worker_cpu = 1000 * measured.worker_cpu_seconds / sagas if sagas else None
    client_cpu = 1000 * measured.client_cpu_seconds / sagas if sagas else None

    return [
        judge("completed sagas/s (gateway, carrier instant)", rate, "/s", ">= 150 (stretch 250)",
              150, True),
        judge("share of SDK replay ceiling", share, "", ">= 0.6", 0.6, True),
        reference("SDK replay ceiling", ceiling, "/s"),
        reference("SDK replay CPU per saga (ceiling run)", replay_cpu, "ms"),
        reference("host process CPU per saga", host_cpu, "ms"),
        reference("episode worker CPU per saga", worker_cpu, "ms"),
        reference("benchmark client CPU per saga", client_cpu, "ms"),
        reference("POST /orders p50 at 100/s", _ms(percentile(latencies, 0.50)), "ms"),
        reference("POST /orders p95 at 100/s", _ms(percentile(latencies, 0.95)), "ms"),
        judge("POST /orders p99 at 100/s", _ms(percentile(latencies, 0.99)), "ms",
              "<= 25 ms", 25, False),
        judge("carrier event -> saga step p50, 100/s", _ms(percentile(delays, 0.50)), "ms",
              "<= 10 ms", 10, False),
        reference("carrier event -> saga step p99, 100/s", _ms(percentile(delays, 0.99)), "ms"),
        reference("POST /orders p99 at light load", _ms(percentile(light_latencies, 0.99)), "ms"),
        reference("carrier event -> saga step p50, light load", _ms(percentile(light_delays, 0.5)),
                  "ms"),
        reference("carrier event -> saga step p99, light load",
                  _ms(percentile(light_delays, 0.99)), "ms"),
        judge("RSS growth over the orders", growth, "MB", "<= 100 MB", 100, False),
        reference("RSS at the end (host tree)", measured.rss_after / MB, "MB"),
        reference("sagas/s first tenth", first, "/s"),
        reference("sagas/s last tenth", last, "/s"),
        judge("slowdown first -> last tenth (< 0: faster)",
              None if slowdown is None else 100 * slowdown, "%", "<= 20 %", 20, False),
        reference("host CPU per saga, first tenth", _ms(first_cpu), "ms"),
        reference("host CPU per saga, last tenth", _ms(last_cpu), "ms"),
        judge("devhost start to ready (fresh)", measured.startup_seconds, "s", "<= 3 s", 3, False),
        judge("devhost start to ready (restart)", measured.restart_seconds, "s", "<= 3 s", 3,
              False),
    ]


def _tenth_rates(times: list[float], drain: int) -> tuple[float | None, float | None]:
    """Return completions per second within the first and the last tenth of the completions.

    The last `drain` completions are left out: they finish after the last order is placed,
    while fewer sagas are in flight, so they would flatter the last tenth.
    """
    size = len(times) // 10
    steady = times[: len(times) - drain] if drain else times
    if size < 2 or len(steady) < 2 * size:
        return None, None
    return _rate(steady[:size]), _rate(steady[-size:])


def _replay_cpu_per_saga(ceiling: dict) -> float | None:
    """Return the CPU milliseconds the SDK alone spent per saga in the ceiling run."""
    if not ceiling.get("sagas"):
        return None
    return ceiling["cpu_ms_per_episode"] * ceiling["episodes"] / ceiling["sagas"]


def _tenth_cpu(times: list[float], drain: int, samples: list[tuple[float, float]]
               ) -> tuple[float | None, float | None]:
    """Return the host's CPU seconds per saga over the first and the last tenth.

    Unlike the rates, this changes little when other processes take the cores, so it separates
    a slower host from a busier machine.
    """
    size = len(times) // 10
    steady = times[: len(times) - drain] if drain else times
    if size < 2 or len(steady) < 2 * size or len(samples) < 2:
        return None, None
    first, last = steady[:size], steady[-size:]
    return (_cpu_between(samples, first[0], first[-1]) / (size - 1),
            _cpu_between(samples, last[0], last[-1]) / (size - 1))


def _cpu_between(samples: list[tuple[float, float]], start: float, end: float) -> float:
    """Return the CPU seconds used between two times, from the samples nearest to each."""
    at_start = min(samples, key=lambda sample: abs(sample[0] - start))
    at_end = min(samples, key=lambda sample: abs(sample[0] - end))
    return at_end[1] - at_start[1]


def _rate(times: list[float]) -> float | None:
    span = times[-1] - times[0]
    return (len(times) - 1) / span if span > 0 else None


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else 1000 * seconds
