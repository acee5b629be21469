"""The benchmark harness end to end with tiny numbers: it runs, and its figures are filled in.

No figure is compared with its target here; only `make bench` does that.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.stack import REPO_ROOT


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[subprocess.CompletedProcess, dict]:
    """Run `python -m benchmarks` with 20 orders and one second at 20 requests/s."""
    folder = tmp_path_factory.mktemp("bench")
    output = folder / "results.json"
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--orders", "20", "--warmup", "5",
         "--rate", "20", "--latency-seconds", "1", "--window", "5",
         "--state", str(folder / "state"), "--output", str(output)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=240,
    )
    document = json.loads(output.read_text()) if output.exists() else {}
    return completed, document


def _figure(document: dict, name: str) -> dict:
    return next(figure for figure in document["figures"] if figure["name"] == name)


@pytest.mark.slow
def test_harness_exits_zero_and_prints_the_table(tiny_run) -> None:
    completed, _ = tiny_run
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert "completed sagas/s" in completed.stdout


@pytest.mark.slow
def test_harness_completes_every_saga_of_the_throughput_phase(tiny_run) -> None:
    _, document = tiny_run
    assert document["details"]["throughput_statuses"] == {"Completed": 20}
    assert document["details"]["throughput_errors"] == {}


@pytest.mark.slow
def test_harness_measures_every_figure(tiny_run) -> None:
    _, document = tiny_run
    names = [
        "completed sagas/s (gateway, carrier instant)",
        "share of SDK replay ceiling",
        "POST /orders p99 at 100/s",
        "POST /orders p99 at light load",
        "carrier event -> saga step p50, light load",
        "carrier event -> saga step p50, 100/s",
        "RSS growth over the orders",
        "slowdown first -> last tenth (< 0: faster)",
        "devhost start to ready (fresh)",
        "devhost start to ready (restart)",
    ]
    missing = [name for name in names if _figure(document, name)["value"] is None]
    assert missing == []


@pytest.mark.slow
def test_harness_times_both_carrier_events_of_each_latency_order(tiny_run) -> None:
    _, document = tiny_run
    details = document["details"]
    # One second at 20 requests/s places 20 orders; the carrier dispatches and delivers each.
    # A dispatch that reaches its saga after the delivery finds it finished and goes unrecorded.
    assert details["event_delays_counted"] + details["carrier_events_unrecorded"] == 40
    # Every saga acts on the first carrier event that reaches it.
    assert details["event_delays_counted"] >= 20


@pytest.mark.slow
def test_harness_times_carrier_events_at_light_load(tiny_run) -> None:
    _, document = tiny_run
    details = document["details"]
    # One second at 5 requests/s places 5 orders, each with two carrier events.
    assert details["light_event_delays_counted"] + details["light_carrier_events_unrecorded"] == 10
    assert details["light_event_delays_counted"] >= 5


@pytest.mark.slow
def test_harness_replays_every_throughput_saga_for_the_ceiling(tiny_run) -> None:
    _, document = tiny_run
    assert document["details"]["ceiling"]["sagas"] == 20


@pytest.mark.slow
def test_harness_keeps_a_given_state_folder(tiny_run) -> None:
    completed, _ = tiny_run
    state = Path(completed.args[completed.args.index("--state") + 1])
    assert (state / "taskhub.sqlite").is_file()
