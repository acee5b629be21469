"""Reading saga step times from history events, and the percentile and rate helpers."""

from __future__ import annotations

import pytest

from benchmarks.report import percentile
from benchmarks.run import _tenth_rates
from benchmarks.taskhub import event_step_times, parse_timestamp


def _event(kind: int, second: int, **fields) -> dict:
    return {"EventType": kind, "Timestamp": f"2026-12-04T21:00:{second:02d}.000000Z", **fields}


def test_event_step_is_the_next_activity_scheduled() -> None:
    history = [
        _event(12, 1), _event(15, 0, Name="ShipmentDispatched"),
        _event(4, 2, Name="record_dispatch"), _event(13, 2),
    ]
    steps = event_step_times(history)
    assert steps == {"ShipmentDispatched": parse_timestamp("2026-12-04T21:00:02.000000Z")}


def test_event_without_a_next_activity_takes_its_episode_start() -> None:
    history = [_event(12, 5), _event(15, 3, Name="ShipmentDelivered"), _event(13, 5)]
    steps = event_step_times(history)
    assert steps == {"ShipmentDelivered": parse_timestamp("2026-12-04T21:00:05.000000Z")}


def test_event_handled_in_an_episode_without_activity_keeps_that_episode() -> None:
    history = [
        _event(12, 5), _event(15, 3, Name="ShipmentDelivered"), _event(13, 5),
        _event(12, 9), _event(5, 8, TaskScheduledId=1), _event(4, 9, Name="complete_order"),
    ]
    steps = event_step_times(history)
    assert steps["ShipmentDelivered"] == parse_timestamp("2026-12-04T21:00:05.000000Z")


@pytest.mark.parametrize(("share", "expected"), [(0.5, 50), (0.95, 95), (0.99, 99), (1.0, 100)])
def test_percentile_takes_the_nearest_rank(share: float, expected: int) -> None:
    assert percentile([float(value) for value in range(100, 0, -1)], share) == expected


def test_percentile_of_nothing_is_none() -> None:
    assert percentile([], 0.5) is None


def test_tenth_rates_compare_first_and_last_tenth() -> None:
    times = [index * 0.1 for index in range(50)] + [5 + index * 0.2 for index in range(50)]
    first, last = _tenth_rates(times, drain=0)
    assert first == pytest.approx(10.0)
    assert last == pytest.approx(5.0)


def test_tenth_rates_leave_out_the_drain() -> None:
    steady = [index * 0.1 for index in range(90)]
    drain = [9 + index * 0.01 for index in range(10)]
    first, last = _tenth_rates(steady + drain, drain=10)
    assert first == pytest.approx(10.0)
    assert last == pytest.approx(10.0)
