"""Run `python -m devhost start` as a subprocess on a free loopback port, for host-level tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

REPOSITORY = Path(__file__).resolve().parents[3]
READY_TIMEOUT_SECONDS = 30.0


class DevhostProcess:
    """One devhost serving an app folder with a state folder; its stderr goes to a log file."""

    def __init__(self, app_dir: Path, state_dir: Path, env: dict[str, str] | None = None):
        self.app_dir = app_dir
        self.state_dir = state_dir
        self.env = {**os.environ, "PYTHONPATH": str(REPOSITORY), **(env or {})}
        self.process: subprocess.Popen[str] | None = None
        self.base_url = ""
        self.runs = 0

    @property
    def log_path(self) -> Path:
        return self.state_dir / f"devhost-{self.runs}.log"

    def start(self) -> None:
        self.runs += 1
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "devhost",
                "start",
                "--app",
                str(self.app_dir),
                "--state",
                str(self.state_dir),
                "--port",
                "0",
                "--no-gateway",
            ],
            cwd=REPOSITORY,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=self.log_path.open("w"),
            text=True,
        )
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            line = self.process.stdout.readline()
            if not line:
                raise RuntimeError(f"devhost exited before it was ready; see {self.log_path}")
            if line.startswith("devhost ready on "):
                self.base_url = line.split()[3]
                return
        raise RuntimeError(f"devhost was not ready within {READY_TIMEOUT_SECONDS} s")

    def stop(self) -> None:
        """Stop with SIGTERM as an operator would, and wait for the process to end."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            self.process.wait(timeout=30)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=30)

    def logs(self) -> str:
        return "".join(
            (self.state_dir / f"devhost-{run}.log").read_text() for run in range(1, self.runs + 1)
        )


def read_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def wait_for(condition: Callable[[], Any], timeout: float = 20.0, interval: float = 0.02) -> Any:
    """Poll condition until it returns a truthy value; fail the test after timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s")


def run_cli(app_dir: Path, state_dir: Path, *arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "devhost",
            "servicebus",
            "--app",
            str(app_dir),
            "--state",
            str(state_dir),
            *arguments,
        ],
        cwd=REPOSITORY,
        env={**os.environ, "PYTHONPATH": str(REPOSITORY)},
        capture_output=True,
        text=True,
        timeout=60,
    )
