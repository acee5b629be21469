"""A second `python -m simulation run` on the same state folder behaves like the first."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from simulation.catalog import REPO_ROOT
from simulation.run import SUMMARY_FILE

RUN_TIMEOUT_SECONDS = 120


def _run(state_dir: Path, run_id: str) -> dict:
    command = [
        sys.executable, "-m", "simulation", "run",
        "--orders", "20", "--exit",
        "--profile", "fast",
        "--catalog", "sample",
        "--cancel-rate", "0",
        "--run-id", run_id,
        "--state", str(state_dir),
        "--port", "0", "--gateway-port", "0",
    ]
    completed = subprocess.run(
        command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS,
        stdin=subprocess.DEVNULL,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return json.loads((state_dir / SUMMARY_FILE).read_text())


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, dict]:
    state_dir = tmp_path_factory.mktemp("repeated-state")
    return _run(state_dir, "first"), _run(state_dir, "second")


@pytest.mark.slow
def test_repeat_run_ends_orders_as_the_first(two_runs):
    first, second = two_runs

    assert second["statuses"] == first["statuses"]


@pytest.mark.slow
def test_repeat_run_conserves_stock(two_runs):
    _, second = two_runs

    assert second["stockCheck"]["passed"]
