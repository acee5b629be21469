"""Helpers for the gateway tests: a recording backend, free ports, a HostContext."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from devhost.context import HostContext
from devhost.keys import HostKeys

REPOSITORY = Path(__file__).resolve().parents[3]
FUNCTION_KEY = "function-key-that-must-stay-behind-the-gateway"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class RecordingBackend:
    """A stand-in Functions host under /api that records what the gateway sends it."""

    url: str
    requests: list[web.Request] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)


async def backend_app(record: RecordingBackend) -> web.Application:
    async def remember(request: web.Request) -> None:
        record.requests.append(request)
        record.bodies.append(await request.read())

    async def place_order(request: web.Request) -> web.Response:
        await remember(request)
        if request.headers.get("x-functions-key") != FUNCTION_KEY:
            return web.json_response({"error": "function key missing"}, status=401)
        origin = f"{request.scheme}://{request.host}"
        order_url = f"{origin}/api/orders/o-1"
        body = {"orderId": "o-1", "links": {"order": order_url, "status": f"{order_url}/status"}}
        return web.json_response(body, status=202, headers={"Location": order_url})

    async def get_order(request: web.Request) -> web.Response:
        await remember(request)
        return web.json_response({"id": request.match_info["order_id"]})

    app = web.Application()
    app.router.add_post("/api/orders", place_order)
    app.router.add_get("/api/orders/{order_id}", get_order)
    return app


def host_context(
    app_dir: Path, state_dir: Path, base_url: str, settings: dict[str, str] | None = None
) -> HostContext:
    """Build the HostContext devhost hands to extensions, for the parts the gateway reads."""
    return HostContext(
        app_dir=str(app_dir),
        state_dir=str(state_dir),
        functions=[],
        invoker=None,
        host_json={},
        settings=settings or {},
        base_url=base_url,
        args=argparse.Namespace(gateway_port=free_port(), no_gateway=False),
        keys=HostKeys(master="master-key", function_keys={"default": FUNCTION_KEY}, system_keys={}),
        logger=logging.getLogger("devhost"),
    )


class DevhostProcess:
    """`python -m devhost start` for the repository's app, as a subprocess on free ports."""

    def __init__(self, state_dir: Path, environment: dict[str, str] | None = None) -> None:
        self.state_dir = state_dir
        self.port = free_port()
        self.gateway_port = free_port()
        self.environment = {**os.environ, **(environment or {})}
        self.process: subprocess.Popen[str] | None = None
        self.output: list[str] = []

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def backend_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        """Start the host and wait for its ready line; fail with its output when it exits."""
        command = [
            sys.executable, "-m", "devhost", "start", "--app", str(REPOSITORY),
            "--port", str(self.port), "--gateway-port", str(self.gateway_port),
            "--state", str(self.state_dir),
        ]  # fmt: skip
        self.process = subprocess.Popen(
            command,
            cwd=REPOSITORY,
            env=self.environment,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + timeout
        for line in self.process.stdout:
            self.output.append(line)
            if line.startswith("devhost ready"):
                return
            if time.monotonic() > deadline:
                self.stop()
                break
        else:
            # The output ended, so the host is exiting on its own.
            self.process.wait(timeout=15)
        raise RuntimeError("devhost did not become ready:\n" + "".join(self.output))

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def subscription_key(self) -> str:
        data = json.loads((self.state_dir / "apim-subscriptions.json").read_text())
        return data["subscriptions"][0]["primaryKey"]

    def function_key(self) -> str:
        data = json.loads((self.state_dir / "keys.json").read_text())
        return data["functionKeys"]["default"]
