"""`python -m simulation run` rejects unusable options before it starts devhost."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from simulation.catalog import REPO_ROOT


def _run(*options: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "simulation", "run", "--exit", *options],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
    )


def test_replay_without_data_exits_2(tmp_path: Path):
    completed = _run("--replay", "--data", str(tmp_path / "missing"), "--state", str(tmp_path))

    assert completed.returncode == 2
    assert "BikeStores data not found" in completed.stderr
    assert "--data DIR" in completed.stderr


def test_zero_rate_exits_2(tmp_path: Path):
    completed = _run("--rate", "0", "--state", str(tmp_path))

    assert completed.returncode == 2
    assert "--rate 0.0 is invalid" in completed.stderr


def test_rejected_options_start_no_host(tmp_path: Path):
    _run("--cancel-rate", "2", "--state", str(tmp_path))

    assert list(tmp_path.iterdir()) == []
