"""`python -m simulation run --exit` as a user starts it: devhost, gateway, carrier, workload."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from simulation.catalog import REPO_ROOT
from simulation.run import SUMMARY_FILE

RUN_TIMEOUT_SECONDS = 240


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, dict, str]:
    state_dir = tmp_path_factory.mktemp("simulation-state")
    command = [
        sys.executable, "-m", "simulation", "run",
        "--orders", "20", "--exit",
        "--profile", "fast",
        "--catalog", "sample",
        "--cancel-rate", "0.1",
        "--dispatch-deadline", "5",
        "--delivery-deadline", "10",
        "--state", str(state_dir),
        "--port", "0", "--gateway-port", "0",
    ]
    completed = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS,
        stdin=subprocess.DEVNULL,
    )
    output = completed.stdout + completed.stderr
    summary_path = Path(state_dir) / SUMMARY_FILE
    summary = json.loads(summary_path.read_text()) if summary_path.exists() else {}
    return completed.returncode, summary, output


@pytest.mark.slow
def test_run_exits_zero(finished_run):
    returncode, _, output = finished_run

    assert returncode == 0, output


@pytest.mark.slow
def test_run_places_all_twenty_orders(finished_run):
    _, summary, output = finished_run

    assert sum(summary.get("statuses", {}).values()) == 20, output


@pytest.mark.slow
def test_run_leaves_no_order_unfinished(finished_run):
    _, summary, output = finished_run

    assert summary.get("unfinished") == 0, output


@pytest.mark.slow
def test_run_conserves_stock(finished_run):
    _, summary, output = finished_run

    assert (summary.get("stockCheck") or {}).get("passed"), output


@pytest.mark.slow
def test_run_leaves_no_stock_reserved(finished_run):
    _, summary, output = finished_run

    assert (summary.get("stockCheck") or {}).get("reservedLeft") == 0, output


@pytest.mark.slow
def test_run_prints_the_summary_and_state_folder(finished_run):
    _, _, output = finished_run

    assert "Result: passed" in output, output
    assert "State folder:" in output, output


@pytest.mark.slow
def test_exiting_run_prints_no_host_url(finished_run):
    _, _, output = finished_run

    assert "http://" not in output, output
