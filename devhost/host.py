"""Run one Function App: load it, serve HTTP and the Durable API, start the extensions."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import fcntl
import importlib
import logging
import os
import signal
import socket
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from aiohttp import web

from devhost.context import HostContext, Stoppable
from devhost.durable.api import DurableHttpApi
from devhost.durable.engine import DurableEngine, SharedHub
from devhost.durable.store import TaskHubStore
from devhost.durable.workers import start_episode_workers
from devhost.http_triggers import HttpTriggers
from devhost.invoker import Invoker
from devhost.keys import load_or_create_keys
from devhost.loader import (
    ACTIVITY_TRIGGER,
    HTTP_TRIGGER,
    ORCHESTRATION_TRIGGER,
    LoadedApp,
    LoadError,
    load_app,
)
from devhost.traces import open_recorder

logger = logging.getLogger("devhost")

EXTENSION_MODULES = ("devhost.servicebus", "devhost.gateway")
TASK_HUB_FILE = "taskhub.sqlite"
LOCK_FILE = "host.lock"
# Set by the supervisor for the host processes it starts: listen with SO_REUSEPORT, so that
# every process serves the same ports and the kernel spreads connections over them.
REUSE_PORT_VARIABLE = "DEVHOST_REUSE_PORT"
PR_SET_PDEATHSIG = 1  # prctl option from <linux/prctl.h>


class StartupError(Exception):
    """The host cannot start; the message gives the reason and the fix."""


def lock_state_dir(state_dir: Path) -> Any:
    """Take the state folder's lock for this process's lifetime, or raise StartupError."""
    handle = open(state_dir / LOCK_FILE, "w")  # noqa: SIM115 - held open for the host's lifetime
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError as error:
        handle.close()
        raise StartupError(
            f"Another devhost is using the state folder {state_dir}. Stop it or pass --state."
        ) from error
    return handle


def reuse_port() -> bool:
    """Tell whether this process shares its listening ports with other host processes."""
    return os.environ.get(REUSE_PORT_VARIABLE) == "1"


def _bind(port: int) -> socket.socket:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port():
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        listener.bind(("127.0.0.1", port))
    except OSError as error:
        listener.close()
        raise StartupError(f"Cannot listen on 127.0.0.1:{port}: {error}. Pass another --port.") \
            from error
    listener.listen(1024)
    listener.setblocking(False)
    return listener


def _die_with_parent() -> None:
    """Ask Linux to send this process SIGTERM when its parent, the supervisor, dies."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


DURABLE_HTTP_MODULE = "azure.durable_functions.models.utils.http_utils"


async def _close_durable_client_session() -> None:
    """Close the Durable SDK's shared aiohttp session, which the SDK never closes itself.

    azure-functions-durable 1.7 keeps one module-level ClientSession for its client calls and
    offers `_close_session()` to close it. The app's async functions run on this loop, so the
    session belongs to it. Apps that never imported the SDK are left alone.
    """
    http_utils = sys.modules.get(DURABLE_HTTP_MODULE)
    close_session = getattr(http_utils, "_close_session", None)
    if close_session is None:
        return
    try:
        await close_session()
    except (RuntimeError, OSError) as error:
        # NOTE: a session opened on another loop (an app calling asyncio.run in a thread)
        # cannot be closed from this one; its unclosed-session warning remains.
        logger.warning("could not close the Durable SDK's HTTP session: %s", error)


def function_table(app: LoadedApp, handled: set[str]) -> str:
    """Format the indexed functions, their triggers and routes as a table."""
    rows = [("Function", "Trigger", "Route / details")]
    for function in app.functions:
        trigger = function.trigger
        if function.trigger_type == HTTP_TRIGGER:
            methods = ",".join(sorted(function.methods)) if function.methods else "ANY"
            prefix = f"/{app.route_prefix}" if app.route_prefix else ""
            detail = f"{methods} {prefix}/{function.route.template} [{function.auth_level}]"
        else:
            detail = ", ".join(f"{k}={v}" for k, v in trigger.items()
                               if k not in ("type", "name", "direction"))
        if function.trigger_type not in handled:
            detail = (detail + " " if detail else "") + "(not run by devhost)"
        rows.append((function.name, function.trigger_type, detail))
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    return "\n".join(f"  {r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]}" for r in rows)


class Host:
    """One running devhost: HTTP server, Durable engine and extensions over one state folder."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.app_dir = Path(args.app).resolve()
        self.state_dir = Path(args.state).resolve() if args.state else self.app_dir / ".devhost"
        self._extensions: list[Stoppable] = []

    async def run(self) -> None:
        """Start everything, print the ready line, and serve until SIGINT or SIGTERM."""
        started = time.monotonic()
        stop = self._catch_stop_signals()
        self.state_dir.mkdir(parents=True, exist_ok=True)
        shared = self._shared_hub()
        # A host process of the supervisor runs under the supervisor's lock of the folder.
        lock = None if shared else lock_state_dir(self.state_dir)
        try:
            app = load_app(self.app_dir, self.state_dir)
        except LoadError as error:
            if lock is not None:
                lock.close()
            raise StartupError(str(error)) from error

        episode_pool = None
        if self.args.episode_workers > 0:
            handles = {f.name: f.func for f in app.functions
                       if f.trigger_type == ORCHESTRATION_TRIGGER}
            episode_pool = start_episode_workers(
                handles, self.args.episode_workers,
                inherited_fds=(lock.fileno(),) if lock is not None else (),
            )

        keys = load_or_create_keys(self.state_dir)
        durable_options = app.host_json.get("extensions", {}).get("durableTask", {})
        threads = max(32, int(durable_options.get("maxConcurrentActivityFunctions", 0)))
        executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="devhost-function")
        asyncio.get_running_loop().set_default_executor(executor)
        invoker = Invoker(str(self.app_dir), executor)
        invoker.recorder = open_recorder(self.state_dir)
        store = TaskHubStore(self.state_dir / TASK_HUB_FILE)
        try:
            engine = DurableEngine(app, store, invoker, compact_replay=self.args.compact_replay,
                                   episode_pool=episode_pool, shared=shared)
        except ValueError as error:
            raise StartupError(str(error)) from error

        listener = _bind(self.args.port)
        port = listener.getsockname()[1]
        base_url = f"http://127.0.0.1:{port}"
        durable_api = DurableHttpApi(engine, keys)
        invoker.register_input("durableClient", durable_api.client_binding(base_url))

        application = web.Application(client_max_size=100 * 1024 * 1024)
        durable_api.add_routes(application)
        HttpTriggers(app, invoker, keys).add_routes(application)
        runner = web.AppRunner(application, access_log=None, handle_signals=False)
        await runner.setup()
        await web.SockSite(runner, listener).start()
        await engine.start()

        context = HostContext(
            app_dir=str(self.app_dir), state_dir=str(self.state_dir), functions=app.functions,
            invoker=invoker, host_json=app.host_json, settings=app.settings, base_url=base_url,
            args=self.args, keys=keys, logger=logging.getLogger("devhost.extension"),
            extras={"engine": engine, "durable_api": durable_api},
        )
        handled = await self._start_extensions(context)

        print(f"Functions in {self.app_dir}:\n{function_table(app, handled)}", flush=True)
        elapsed = time.monotonic() - started
        print(f"devhost ready on {base_url} (state {self.state_dir}, {elapsed:.2f} s)", flush=True)

        await stop.wait()
        logger.info("Stopping devhost")
        for extension in reversed(self._extensions):
            await extension.stop()
        await runner.cleanup()
        await _close_durable_client_session()
        await engine.stop()
        store.close()
        if invoker.recorder is not None:
            invoker.recorder.close()
        executor.shutdown(wait=False, cancel_futures=True)
        if lock is not None:
            lock.close()
        print("devhost stopped", flush=True)

    def _shared_hub(self) -> SharedHub | None:
        """Return how this process shares the hub when the supervisor started it, else None."""
        processes = getattr(self.args, "process_count", None)
        if not processes:
            return None
        _die_with_parent()
        return SharedHub(processes=processes, lease_seconds=self.args.partition_lease_seconds)

    async def _start_extensions(self, context: HostContext) -> set[str]:
        """Start each extension module; return the trigger types now served."""
        handled = {HTTP_TRIGGER, ORCHESTRATION_TRIGGER, ACTIVITY_TRIGGER}
        for name in EXTENSION_MODULES:
            module = importlib.import_module(name)
            started = await module.start(context)
            if started is not None:
                self._extensions.append(started)
            handled.update(getattr(module, "TRIGGER_TYPES", ()))
        return handled

    @staticmethod
    def _catch_stop_signals() -> asyncio.Event:
        """Return an event set by SIGINT or SIGTERM; installed before the ready line is printed."""
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signal_number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signal_number, stop.set)
        return stop


def run_host(args: argparse.Namespace) -> int:
    """Run the host to completion; print a clear error and return 1 when it cannot start."""
    # The supervisor's host processes share stderr, so their lines carry the process id.
    process = "[%(process)d]" if getattr(args, "process_count", None) else ""
    logging.basicConfig(
        level=os.environ.get("DEVHOST_LOG_LEVEL", "INFO").upper(),
        format=f"%(asctime)s %(levelname)s %(name)s{process}: %(message)s",
        stream=sys.stderr,
    )
    try:
        asyncio.run(Host(args).run())
    except StartupError as error:
        print(f"devhost: start-up failed: {error}", file=sys.stderr, flush=True)
        return 1
    with contextlib.suppress(Exception):
        sys.stdout.flush()
    return 0
