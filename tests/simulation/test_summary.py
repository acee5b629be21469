"""Run summary statistics and the stock conservation check."""

from __future__ import annotations

from collections import Counter

import pytest

from simulation.summary import RunSummary, check_stock, durations, percentile


def test_percentile_uses_the_nearest_rank():
    values = [float(value) for value in range(1, 101)]

    assert percentile(values, 0.50) == 50.0
    assert percentile(values, 0.95) == 95.0
    assert percentile(values, 1.0) == 100.0


def test_percentile_of_one_value_is_that_value():
    assert percentile([3.5], 0.95) == 3.5


def test_percentile_of_nothing_is_refused():
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)


def test_durations_report_p50_p95_and_max():
    stats = durations([4.0, 1.0, 3.0, 2.0])

    assert (stats.p50, stats.p95, stats.max, stats.count) == (2.0, 4.0, 4.0, 4)


def test_durations_of_nothing_are_none():
    assert durations([]) is None


def test_stock_check_passes_when_conserved():
    check = check_stock({("s1", "p1"): 10}, {("s1", "p1"): (6, 1, 3)})

    assert check.passed
    assert check.reserved_left == 1


def test_stock_check_names_the_pair_that_lost_units():
    check = check_stock({("s1", "p1"): 10, ("s1", "p2"): 5}, {("s1", "p1"): (6, 0, 3)})

    assert [(m.store_id, m.product_id) for m in check.mismatches] == [("s1", "p1"), ("s1", "p2")]


def test_stock_check_flags_stock_nobody_received():
    check = check_stock({}, {("s1", "p9"): (1, 0, 0)})

    assert not check.passed


def test_summary_fails_with_an_unfinished_order():
    summary = RunSummary(
        orders=2,
        elapsed_seconds=1.0,
        statuses=Counter({"Completed": 1, "Pending": 1}),
        stock=check_stock({}, {}),
    )

    assert summary.unfinished == 1
    assert not summary.ok


def test_summary_passes_when_all_final_and_stock_conserved():
    summary = RunSummary(
        orders=2,
        elapsed_seconds=1.0,
        statuses=Counter({"Completed": 1, "Cancelled": 1}),
        stock=check_stock({("s1", "p1"): 2}, {("s1", "p1"): (1, 0, 1)}),
    )

    assert summary.ok
    assert summary.lines()[-1] == "Result: passed"


def test_summary_without_stock_check_fails():
    summary = RunSummary(orders=0, elapsed_seconds=0.0, statuses=Counter())

    assert not summary.ok


def test_dead_letters_line_counts_consumed_entities():
    summary = RunSummary(
        orders=0, elapsed_seconds=0.0, statuses=Counter(), dead_letters={"carrier-requests": 2}
    )

    assert "Dead letters: 2 (carrier-requests 2)" in summary.lines()


def test_dead_letters_line_sets_unconsumed_subscriptions_apart():
    audit = "order-events/Subscriptions/audit"
    summary = RunSummary(
        orders=0, elapsed_seconds=0.0, statuses=Counter(), dead_letters={audit: 7}
    )

    assert (
        f"Dead letters: 0; not counted, on subscriptions with no consumer offline: {audit} 7"
        in summary.lines()
    )
