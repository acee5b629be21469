"""`python -m simulation run` rejects unusable options before it starts devhost."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pytest

from simulation import run
from simulation.catalog import DATA_DIR_VARIABLE, REPO_ROOT


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


def test_missing_data_folder_exits_2(tmp_path: Path):
    missing = tmp_path / "missing"

    completed = _run("--data", str(missing), "--state", str(tmp_path / "state"))

    assert completed.returncode == 2
    assert f"BikeStores data not found: {missing}" in completed.stderr
    assert not (tmp_path / "state").exists()


def test_missing_default_data_warns_about_data_option(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    monkeypatch.setattr(run, "DEFAULT_DATA_DIR", tmp_path / "missing")
    args = argparse.Namespace(replay=False, catalog="auto", data=None)

    catalog = run.load_catalog(args)

    assert catalog.name == "sample"
    assert "--data DIR" in caplog.text
    assert DATA_DIR_VARIABLE in caplog.text


def test_data_variable_sets_default_folder(tmp_path: Path):
    missing = tmp_path / "missing"
    environment = os.environ | {DATA_DIR_VARIABLE: str(missing)}

    completed = subprocess.run(
        [sys.executable, "-c", "from simulation.catalog import DEFAULT_DATA_DIR; "
         "print(DEFAULT_DATA_DIR)"],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=30, env=environment,
    )

    assert completed.stdout.strip() == str(missing)


def test_zero_rate_exits_2(tmp_path: Path):
    completed = _run("--rate", "0", "--state", str(tmp_path))

    assert completed.returncode == 2
    assert "--rate 0.0 is invalid" in completed.stderr


def test_rejected_options_start_no_host(tmp_path: Path):
    _run("--cancel-rate", "2", "--state", str(tmp_path))

    assert list(tmp_path.iterdir()) == []
