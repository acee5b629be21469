"""Planning workloads: generated orders and the BikeStores replay on a compressed clock."""

from __future__ import annotations

from collections import Counter

import pytest

from domain.orders import parse_place_order
from simulation.carrier import Outcome
from simulation.catalog import sample_catalog
from simulation.replay import RestockPolicy, plan_deliveries, schedule
from simulation.workload import generate, replay


def test_generated_orders_are_valid_place_order_requests():
    workload = generate(sample_catalog(), 50, rate=10, seed=1, cancel_rate=0.2, run_id="t")

    for planned in workload.orders:
        parse_place_order(planned.body)


def test_generated_orders_only_buy_stocked_products():
    catalog = sample_catalog()
    workload = generate(catalog, 50, rate=10, seed=1, cancel_rate=0.0, run_id="t")

    for planned in workload.orders:
        store_id = planned.body["storeId"]
        for line in planned.body["lines"]:
            assert catalog.stock[(store_id, line["productId"])] > 0


def test_generated_orders_follow_the_rate():
    workload = generate(sample_catalog(), 11, rate=5, seed=1, cancel_rate=0.0, run_id="t")

    assert workload.orders[-1].at == pytest.approx(2.0)


def test_generation_is_repeatable_with_a_seed():
    first = generate(sample_catalog(), 20, rate=10, seed=4, cancel_rate=0.3, run_id="t")
    second = generate(sample_catalog(), 20, rate=10, seed=4, cancel_rate=0.3, run_id="t")

    assert first == second


def test_generated_idempotency_keys_are_unique():
    workload = generate(sample_catalog(), 100, rate=10, seed=1, cancel_rate=0.0, run_id="t")

    assert len({planned.key for planned in workload.orders}) == 100


def test_cancel_rate_marks_about_that_share():
    workload = generate(sample_catalog(), 1000, rate=100, seed=2, cancel_rate=0.25, run_id="t")
    marked = sum(planned.cancel_after is not None for planned in workload.orders)

    assert 200 < marked < 300


def test_replay_places_every_order_on_the_compressed_clock(bikestores):
    steps = schedule(bikestores, plan_deliveries(bikestores, RestockPolicy()))

    workload = replay(bikestores, steps, days_per_second=10, run_id="t")

    assert len(workload.orders) == 1615
    assert workload.orders[0].at == 0.0
    assert workload.orders[-1].at == pytest.approx((steps[-1].day - steps[0].day).days / 10)


def test_replayed_orders_are_valid_place_order_requests(bikestores):
    workload = replay(bikestores, schedule(bikestores, []), days_per_second=10, run_id="t")

    for planned in workload.orders:
        parse_place_order(planned.body)


def test_replay_scripts_1445_deliveries_as_in_the_data(bikestores):
    workload = replay(bikestores, schedule(bikestores, []), days_per_second=10, run_id="t")
    outcomes = Counter(planned.outcome for planned in workload.orders)

    assert outcomes[Outcome.DELIVERED] == 1445
    assert outcomes[Outcome.NO_SHOW] == 170


def test_replay_cancels_the_rejected_orders_of_the_data(bikestores):
    workload = replay(bikestores, schedule(bikestores, []), days_per_second=10, run_id="t")
    cancelled = Counter(p.source_status for p in workload.orders if p.cancel_after is not None)

    assert cancelled == {"rejected": 45}
