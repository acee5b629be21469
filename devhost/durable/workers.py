"""The episode workers: forked processes that replay orchestrator episodes off the host's GIL.

Each worker has its own pipe to the host, and one host thread reads every worker's results,
so each call is one pickled request and one pickled reply, with no pool manager thread.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import pickle
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Executor, Future
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection
from multiprocessing.connection import wait as connection_wait
from typing import Any

from devhost.durable.episode import execute_orchestrator

PR_SET_PDEATHSIG = 1  # prctl option from <linux/prctl.h>

_REGISTERED_HANDLES: dict[str, Callable[..., Any]] = {}


def register_handles(handles: dict[str, Callable[..., Any]]) -> None:
    """Register orchestrator handles by name for `execute_registered` in forked workers."""
    _REGISTERED_HANDLES.update(handles)


def execute_registered(name: str, context_json: str) -> tuple[dict, str | None]:
    """Run a registered orchestrator by name; the picklable form of `execute_orchestrator`."""
    return execute_orchestrator(_REGISTERED_HANDLES[name], context_json)


def _init_worker(inherited_fds: tuple[int, ...]) -> None:
    """Close descriptors the host keeps (its state-folder lock) and die with the host.

    The host's stop signals are reset: SIGTERM ends a worker, and SIGINT from a terminal is
    left to the host, which shuts the pool down.
    """
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.set_wakeup_fd(-1)
    for descriptor in inherited_fds:
        os.close(descriptor)
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


_STOP = b""  # the request that ends a worker's loop


def _serve_requests(connection: Connection, host_ends: list[Connection],
                    inherited_fds: tuple[int, ...]) -> None:
    """Run pickled (function, args, kwargs) requests from the host until it sends _STOP.

    The worker first closes its inherited copies of the host's pipe ends, so that its own pipe
    reaches end of file when the host closes the host's end.
    """
    for end in host_ends:
        end.close()
    _init_worker(inherited_fds)
    while True:
        try:
            request = connection.recv_bytes()
        except EOFError:
            return
        if request == _STOP:
            return
        function, args, kwargs = pickle.loads(request)
        try:
            reply = (True, function(*args, **kwargs))
        except Exception as error:
            reply = (False, error)
        connection.send_bytes(_pickle_reply(reply))


def _pickle_reply(reply: tuple[bool, Any]) -> bytes:
    try:
        return pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as error:  # an unpicklable result or exception
        failure = RuntimeError(f"The episode worker could not send its result back: {error!r}")
        return pickle.dumps((False, failure), protocol=pickle.HIGHEST_PROTOCOL)


class EpisodeWorkerPool(Executor):
    """Run picklable calls in forked worker processes, one call per worker at a time.

    This is a lighter stand-in for ProcessPoolExecutor. The submitting thread writes each
    request straight to an idle worker's pipe, and one reader thread takes the results back.
    A call therefore passes through one extra host thread, where ProcessPoolExecutor passes it
    through two (its manager thread and its queue feeder thread). Calls wait in submission
    order while every worker is busy. A worker that dies breaks the pool, as it breaks a
    ProcessPoolExecutor: its call and every waiting call fail with BrokenProcessPool.
    """

    def __init__(self, count: int, inherited_fds: tuple[int, ...] = ()) -> None:
        context = multiprocessing.get_context("fork")
        self._connections: list[Connection] = []
        self._processes: list[multiprocessing.process.BaseProcess] = []
        for _ in range(count):
            host_end, worker_end = context.Pipe(duplex=True)
            process = context.Process(
                target=_serve_requests, daemon=True, name="devhost-episode-worker",
                args=(worker_end, [*self._connections, host_end], inherited_fds),
            )
            process.start()
            worker_end.close()
            self._connections.append(host_end)
            self._processes.append(process)

        self._lock = threading.Lock()
        self._idle = list(range(count))
        self._running: dict[int, Future] = {}
        self._waiting: deque[tuple[Future, bytes]] = deque()
        self._reader: threading.Thread | None = None
        self._broken: str | None = None
        self._shutdown = False

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        request = pickle.dumps((fn, args, kwargs), protocol=pickle.HIGHEST_PROTOCOL)
        future: Future = Future()
        with self._lock:
            if self._broken:
                raise BrokenProcessPool(self._broken)
            if self._shutdown:
                raise RuntimeError("cannot schedule new futures after shutdown")
            if self._reader is None:
                # Started on the first call, not in __init__, so that the host forks nothing
                # while a pool thread runs.
                self._reader = threading.Thread(target=self._read_results, daemon=True,
                                                name="devhost-episode-results")
                self._reader.start()
            self._waiting.append((future, request))
            dispatch = self._assign_waiting()
        self._send(dispatch)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop each worker once no call is left for it, and with `wait` join the workers."""
        with self._lock:
            self._shutdown = True
            if cancel_futures:
                while self._waiting:
                    self._waiting.popleft()[0].cancel()
            idle, self._idle = self._idle, []
        for worker in idle:
            self._stop(worker)
        if wait:
            for process in self._processes:
                process.join()
            if self._reader is not None:
                self._reader.join()

    def _stop(self, worker: int) -> None:
        with contextlib.suppress(OSError):  # the worker has already gone
            self._connections[worker].send_bytes(_STOP)

    def _assign_waiting(self) -> list[tuple[int, bytes]]:
        """Assign waiting requests to idle workers. The caller holds the lock, then sends them."""
        dispatch = []
        while self._idle and self._waiting:
            future, request = self._waiting.popleft()
            if future.set_running_or_notify_cancel():
                worker = self._idle.pop()
                self._running[worker] = future
                dispatch.append((worker, request))
        return dispatch

    def _send(self, dispatch: list[tuple[int, bytes]]) -> None:
        # NOTE: a request larger than the pipe's buffer (64 KiB on Linux) blocks the sending
        # thread, often the event loop, until the idle worker has read it.
        for worker, request in dispatch:
            # A worker that died keeps its call in _running, and the reader thread fails that
            # call when it reads the end of the worker's pipe.
            with contextlib.suppress(OSError):
                self._connections[worker].send_bytes(request)

    def _read_results(self) -> None:
        """Complete each call's future as its worker replies, then give the worker more work."""
        open_connections = dict(zip(self._connections, range(len(self._connections)),
                                    strict=True))
        while open_connections:
            for connection in connection_wait(list(open_connections)):
                worker = open_connections[connection]
                try:
                    reply = connection.recv_bytes()
                except (EOFError, OSError):
                    del open_connections[connection]
                    self._worker_ended(worker)
                    continue
                self._complete(worker, pickle.loads(reply))

    def _complete(self, worker: int, reply: tuple[bool, Any]) -> None:
        with self._lock:
            future = self._running.pop(worker)
            self._idle.append(worker)
            dispatch = self._assign_waiting()
            stopping = self._shutdown and worker in self._idle
            if stopping:
                self._idle.remove(worker)
        self._send(dispatch)
        if stopping:
            self._stop(worker)

        succeeded, value = reply
        if succeeded:
            future.set_result(value)
        else:
            future.set_exception(value)

    def _worker_ended(self, worker: int) -> None:
        """Break the pool when a worker ended before shutdown, or while it ran a call."""
        with self._lock:
            future = self._running.pop(worker, None)
            if self._shutdown and future is None:
                return
            self._broken = (f"An episode worker (pid {self._processes[worker].pid}) ended "
                            "unexpectedly; restart devhost.")
            failed = [future] if future is not None else []
            failed += [waiting for waiting, _ in self._waiting]
            self._waiting.clear()
        for future in failed:
            if not future.cancelled():
                future.set_exception(BrokenProcessPool(self._broken))


def start_episode_workers(
    handles: dict[str, Callable[..., Any]], count: int, inherited_fds: tuple[int, ...] = ()
) -> Executor:
    """Fork `count` worker processes that run orchestrator episodes by name.

    The workers are forked at once, before the host starts its threads, and inherit the
    imported app, so the app's module code runs only once. Episodes then replay on several
    cores instead of sharing the host's interpreter lock. Each worker closes inherited_fds and,
    on Linux, is killed when the host dies, so a SIGKILLed host leaves no worker holding its
    state folder.
    """
    register_handles(handles)
    return EpisodeWorkerPool(count, inherited_fds)
