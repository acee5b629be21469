"""Start devhost as a subprocess on a free loopback port and talk to it over real HTTP."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
APPS = Path(__file__).resolve().parent / "apps"
READY = re.compile(r"devhost ready on (http://127\.0\.0\.1:\d+)")
TERMINAL = ("Completed", "Failed", "Terminated", "Canceled")


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class RunningHost:
    """A devhost subprocess and its output so far."""

    process: subprocess.Popen
    state_dir: Path
    base_url: str = ""
    output: list[str] = field(default_factory=list)

    @property
    def keys(self) -> dict[str, Any]:
        return json.loads((self.state_dir / "keys.json").read_text())

    def text(self) -> str:
        return "".join(self.output)

    def request(self, method: str, path: str, body: Any = None, *,
                headers: dict[str, str] | None = None, raw: bytes | None = None) -> Response:
        data = raw
        if data is None and body is not None:
            data = json.dumps(body).encode()
        all_headers = {"Content-Type": "application/json"} if data is not None else {}
        all_headers.update(headers or {})
        url = path if path.startswith("http") else self.base_url + path
        request = urllib.request.Request(url, data=data, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return Response(answer.status, dict(answer.headers), answer.read())
        except urllib.error.HTTPError as error:
            return Response(error.code, dict(error.headers), error.read())

    def start(self, orchestrator: str, payload: Any = None, instance_id: str | None = None) -> str:
        query = f"?id={instance_id}" if instance_id else ""
        answer = self.request("POST", f"/api/start/{orchestrator}{query}", payload)
        assert answer.status == 202, answer.body
        return answer.json()["id"]

    def status(self, instance_id: str) -> dict[str, Any] | None:
        return self.request("GET", f"/durabletask/instances/{instance_id}").json()

    def wait_for(self, instance_id: str, statuses: tuple[str, ...] = TERMINAL,
                 timeout: float = 30.0) -> dict[str, Any]:
        """Poll the status until its runtimeStatus is one of statuses."""
        deadline = time.monotonic() + timeout
        status = None
        while time.monotonic() < deadline:
            status = self.status(instance_id)
            if status and status["runtimeStatus"] in statuses:
                return status
            time.sleep(0.05)
        raise AssertionError(f"instance {instance_id} did not reach {statuses}: {status}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout=30)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(timeout=30)


def _drain(process: subprocess.Popen, output: list[str], ready: threading.Event) -> None:
    for line in process.stdout:
        output.append(line)
        if READY.search(line):
            ready.set()
    ready.set()


def launch(app: str | Path, state_dir: Path, env: dict[str, str] | None = None,
           timeout: float = 30.0, extra_args: tuple[str, ...] = ()) -> RunningHost:
    """Start `python -m devhost start` on port 0 and wait for its ready line (or its exit)."""
    app_dir = APPS / app if isinstance(app, str) else app
    command = [sys.executable, "-m", "devhost", "start", "--app", str(app_dir), "--port", "0",
               "--state", str(state_dir), "--no-gateway", *extra_args]
    process = subprocess.Popen(
        command, cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "DEVHOST_LOG_LEVEL": "WARNING", **(env or {})},
    )
    host = RunningHost(process, state_dir)
    ready = threading.Event()
    threading.Thread(target=_drain, args=(process, host.output, ready), daemon=True).start()
    if not ready.wait(timeout):
        process.kill()
        raise AssertionError(f"devhost did not become ready:\n{host.text()}")
    found = READY.search(host.text())
    if found:
        host.base_url = found.group(1)
    return host
