"""`python -m devhost` operator commands behave as Unix tools when their reader goes away."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from devhost_support import REPO_ROOT, launch


@pytest.fixture(scope="module")
def state_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the state folder of a devhost that ran one orchestration and stopped."""
    state = tmp_path_factory.mktemp("devhost-state")
    host = launch("durable_app", state)
    try:
        host.wait_for(host.start("chain"))
    finally:
        host.stop()
    return state


def _run_with_closed_stdout(*arguments: str) -> tuple[int, str]:
    # The pipe's read end is closed before the command writes, as `| head -1` does once it
    # has read its line.
    process = subprocess.Popen(
        [sys.executable, "-m", "devhost", *arguments],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    process.stdout.close()
    stderr = process.stderr.read()
    process.stderr.close()
    return process.wait(timeout=60), stderr


@pytest.mark.parametrize(
    "arguments",
    [
        ("instances", "--state", "{state}"),
        ("servicebus", "--app", "{app}", "--state", "{state}", "entities"),
    ],
)
def test_closed_stdout_exits_quietly(state_dir: Path, arguments: tuple[str, ...]):
    # The repository's app declares the Service Bus entities that the command lists.
    filled = [part.format(state=state_dir, app=REPO_ROOT) for part in arguments]

    exit_code, stderr = _run_with_closed_stdout(*filled)

    assert stderr == ""
    assert exit_code == 141
