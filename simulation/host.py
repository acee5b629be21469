"""Start and stop devhost in a subprocess for a simulation run, and read its local keys."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from simulation.catalog import REPO_ROOT

log = logging.getLogger(__name__)

READY_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0
LOG_FILE = "simulation-devhost.log"
READY_LINE = b"devhost ready on "


class HostFailed(RuntimeError):
    """devhost exited or did not get ready in time."""


@dataclass
class RunningHost:
    """A devhost process started by the simulation, with its ports and state folder."""

    process: asyncio.subprocess.Process
    state_dir: Path
    port: int
    gateway_port: int
    log_path: Path

    @property
    def functions_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    def subscription_key(self) -> str:
        """Return the primary key of the gateway's first local subscription."""
        path = self.state_dir / "apim-subscriptions.json"
        data = json.loads(path.read_text(encoding="utf-8"))
        return data["subscriptions"][0]["primaryKey"]

    async def stop(self) -> int:
        """Stop devhost with SIGINT, as Ctrl-C would; kill it if it does not stop in time."""
        if self.process.returncode is not None:
            return self.process.returncode

        self.process.send_signal(signal.SIGINT)
        try:
            return await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT_SECONDS)
        except TimeoutError:
            log.warning("devhost (pid %d) did not stop in %.0f s; killing it",
                        self.process.pid, STOP_TIMEOUT_SECONDS)
            self.process.kill()
            return await self.process.wait()


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def start_host(
    app_dir: Path,
    state_dir: Path,
    port: int,
    gateway_port: int,
    settings: dict[str, str],
    *,
    extra_arguments: Sequence[str] = (),
    log_file: str = LOG_FILE,
    poll_seconds: float = 0.1,
) -> RunningHost:
    """Start `python -m devhost start` on the app in `app_dir` and wait for its ready line.

    `settings` are app settings passed in the environment, where they win over the
    `Values` of local.settings.json. `extra_arguments` go to `devhost start` as they are.
    The host's output replaces `log_file` in the state folder, so the file and any start-up
    error show this run's output only. Readiness is checked every `poll_seconds`.
    """
    state_dir.mkdir(parents=True, exist_ok=True)
    log_path = state_dir / log_file
    command = [
        sys.executable, "-m", "devhost", "start",
        "--app", str(app_dir),
        "--port", str(port),
        "--gateway-port", str(gateway_port),
        "--state", str(state_dir),
        *extra_arguments,
    ]
    environment = os.environ | settings | {"PYTHONUNBUFFERED": "1"}

    with log_path.open("wb") as output:
        process = await asyncio.create_subprocess_exec(
            *command, cwd=REPO_ROOT, env=environment, stdout=output, stderr=output,
            start_new_session=True,
        )
    host = RunningHost(process, state_dir, port, gateway_port, log_path)

    try:
        await _wait_ready(host, poll_seconds)
    except BaseException:
        await host.stop()
        raise
    return host


async def _wait_ready(host: RunningHost, poll_seconds: float) -> None:
    """Wait for devhost's ready line and for the gateway to listen."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + READY_TIMEOUT_SECONDS

    while loop.time() < deadline:
        if host.process.returncode is not None:
            raise HostFailed(
                f"devhost exited with code {host.process.returncode} before it was ready; "
                f"see {host.log_path}:\n{_tail(host.log_path)}"
            )
        if _has_ready_line(host.log_path) and _gateway_listens(host.gateway_port):
            return
        await asyncio.sleep(poll_seconds)

    raise HostFailed(
        f"devhost was not ready after {READY_TIMEOUT_SECONDS:.0f} s; see {host.log_path}:\n"
        + _tail(host.log_path)
    )


def _has_ready_line(path: Path) -> bool:
    with contextlib.suppress(FileNotFoundError), path.open("rb") as handle:
        return any(line.startswith(READY_LINE) for line in handle)
    return False


def _gateway_listens(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return "(no output)"
    return "\n".join(text.splitlines()[-lines:])
