"""Keep the spans of one state folder in `traces.sqlite3` and print one order's trace as a tree.

devhost records the spans the Functions host would create (HTTP request, orchestration episode,
activity, Service Bus trigger) through a `SpanRecorder`. The app's offline OpenTelemetry
exporter writes its own spans (published messages, raised events) into the same table, so
`python -m devhost traces ORDER_ID` shows both in one tree.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sqlite3
import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

TRACES_FILE = "traces.sqlite3"

# The OpenTelemetry SDK's switch; devhost honours it for its own spans too.
DISABLED_SETTING = "OTEL_SDK_DISABLED"

# Attributes that name the order of a span: the app's own, and the Durable instance id,
# which is the order id in an app whose instance ids are order ids.
ORDER_ATTRIBUTES = ("aj.order_id", "durable.instance_id")

SCHEMA = """
CREATE TABLE IF NOT EXISTS spans (
    trace_id TEXT NOT NULL,
    span_id TEXT NOT NULL,
    parent_span_id TEXT,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    start_ns INTEGER NOT NULL,
    end_ns INTEGER NOT NULL,
    status TEXT NOT NULL,
    attributes TEXT NOT NULL,
    order_id TEXT
);
CREATE INDEX IF NOT EXISTS spans_trace ON spans (trace_id);
CREATE INDEX IF NOT EXISTS spans_order ON spans (order_id);
"""


def telemetry_disabled(environ: Mapping[str, str] | None = None) -> bool:
    """Tell whether OTEL_SDK_DISABLED=true switches span recording off."""
    env = os.environ if environ is None else environ
    return env.get(DISABLED_SETTING, "").strip().lower() == "true"


# --- W3C trace context ------------------------------------------------------------------

_HEX = re.compile("[0-9a-f]+")
# W3C Trace Context makes an all-zero trace id or span id invalid.
_ZERO_IDS = re.compile("0+-.*|.*-0+")


def parse_traceparent(header: str | None) -> tuple[str, str] | None:
    """Return (trace id, parent span id) of a W3C traceparent, or None when it is invalid."""
    parts = (header or "").strip().split("-")
    if len(parts) < 4 or len(parts[1]) != 32 or len(parts[2]) != 16:
        return None
    trace_id, span_id = parts[1].lower(), parts[2].lower()
    if not _HEX.fullmatch(trace_id + span_id) or _ZERO_IDS.fullmatch(trace_id + "-" + span_id):
        return None
    return trace_id, span_id


def format_traceparent(trace_id: str, span_id: str) -> str:
    """Return the W3C traceparent of a sampled span."""
    return f"00-{trace_id}-{span_id}-01"


def _random_hex(bits: int) -> str:
    # Trace and span ids need to be unique, not unpredictable, so the random module serves.
    return f"{random.getrandbits(bits) or 1:0{bits // 4}x}"


# --- spans ------------------------------------------------------------------------------


@dataclass
class HostSpan:
    """A span devhost creates for an invocation; `end()` hands it to the recorder."""

    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_span_id: str | None
    attributes: dict[str, Any] = field(default_factory=dict)
    start_ns: int = field(default_factory=time.time_ns)
    end_ns: int = 0
    status: str = "UNSET"
    recorder: SpanRecorder | None = None

    @property
    def traceparent(self) -> str:
        return format_traceparent(self.trace_id, self.span_id)

    def end(self, error: BaseException | None = None) -> None:
        """Close the span, marking it ERROR with the exception's type and text when given."""
        self.end_ns = time.time_ns()
        if error is not None:
            self.status = "ERROR"
            self.attributes["exception.type"] = type(error).__name__
            self.attributes["exception.message"] = str(error)[:500]
        if self.recorder is not None:
            self.recorder.record(self)


def span_row(
    trace_id: str, span_id: str, parent_span_id: str | None, name: str, kind: str, source: str,
    start_ns: int, end_ns: int, status: str, attributes: Mapping[str, Any],
) -> tuple:
    """Build one `spans` row; the order id column is filled from ORDER_ATTRIBUTES."""
    order_id = next((str(attributes[a]) for a in ORDER_ATTRIBUTES if attributes.get(a)), None)
    return (trace_id, span_id, parent_span_id, name, kind, source, start_ns, end_ns, status,
            json.dumps(dict(attributes), default=str), order_id)


class TraceStore:
    """The `spans` table of `<state>/traces.sqlite3`, written by devhost and the app."""

    def __init__(self, path: str | Path, read_only: bool = False) -> None:
        self.path = Path(path)
        if read_only:
            self._connection = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True,
                                               check_same_thread=False)
        else:
            self._connection = sqlite3.connect(self.path, timeout=30, check_same_thread=False)
            self._connection.execute("PRAGMA journal_mode=WAL")
            self._connection.execute("PRAGMA synchronous=NORMAL")
            self._connection.executescript(SCHEMA)
        self._connection.row_factory = sqlite3.Row
        self._lock = threading.Lock()

    def write(self, rows: Iterable[tuple]) -> None:
        with self._lock, self._connection:
            self._connection.executemany(
                "INSERT INTO spans VALUES (?,?,?,?,?,?,?,?,?,?,?)", list(rows)
            )

    def trace_ids_of_order(self, order_id: str) -> list[str]:
        """Return the ids of the traces with a span of the order, oldest first."""
        with self._lock:
            rows = self._connection.execute(
                "SELECT trace_id, MIN(start_ns) AS first FROM spans WHERE order_id=? "
                "GROUP BY trace_id ORDER BY first", (order_id,),
            ).fetchall()
        return [row["trace_id"] for row in rows]

    def spans_of_trace(self, trace_id: str) -> list[dict[str, Any]]:
        """Return every span of a trace as a dict, in start order."""
        with self._lock:
            rows = self._connection.execute(
                "SELECT * FROM spans WHERE trace_id=? ORDER BY start_ns", (trace_id,)
            ).fetchall()
        return [{**dict(row), "attributes": json.loads(row["attributes"])} for row in rows]

    def close(self) -> None:
        with self._lock:
            self._connection.close()


class SpanRecorder:
    """Buffer ended host spans and write them to the TraceStore in batches from one thread.

    Writing in batches keeps the cost per span to a list append on the invocation's path.
    Spans still buffered when the process is killed are lost; `close()` writes the rest.
    """

    def __init__(self, store: TraceStore, flush_seconds: float = 0.5,
                 max_batch: int = 2048) -> None:
        self._store = store
        self._flush_seconds = flush_seconds
        self._max_batch = max_batch
        self._pending: list[HostSpan] = []
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="devhost-traces", daemon=True)
        self._thread.start()

    def start_span(self, name: str, kind: str, traceparent: str | None = None,
                   attributes: dict[str, Any] | None = None) -> HostSpan:
        """Start a span as a child of `traceparent`, or as the root of a new trace."""
        parent = parse_traceparent(traceparent)
        trace_id, parent_span_id = parent if parent else (_random_hex(128), None)
        return HostSpan(name, kind, trace_id, _random_hex(64), parent_span_id,
                        dict(attributes or {}), recorder=self)

    def record(self, span: HostSpan) -> None:
        # Rows are built on the recorder's thread, so an invocation only appends its span.
        with self._lock:
            self._pending.append(span)
            full = len(self._pending) >= self._max_batch
        if full:
            self._wake.set()

    def flush(self) -> None:
        with self._lock:
            spans, self._pending = self._pending, []
        if spans:
            self._store.write(
                span_row(span.trace_id, span.span_id, span.parent_span_id, span.name, span.kind,
                         "host", span.start_ns, span.end_ns, span.status, span.attributes)
                for span in spans
            )

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        self._thread.join(timeout=10)
        self.flush()

    def _run(self) -> None:
        while not self._closed:
            self._wake.wait(self._flush_seconds)
            self._wake.clear()
            try:
                self.flush()
            except sqlite3.Error as error:
                print(f"devhost: writing spans to {self._store.path} failed: {error}",
                      file=sys.stderr, flush=True)


def open_recorder(state_dir: str | Path) -> SpanRecorder | None:
    """Return a recorder writing to `<state>/traces.sqlite3`, or None when telemetry is off."""
    if telemetry_disabled():
        return None
    return SpanRecorder(TraceStore(Path(state_dir) / TRACES_FILE))


# --- the tree ---------------------------------------------------------------------------


def format_tree(spans: list[dict[str, Any]]) -> list[str]:
    """Format a trace's spans as an indented tree: duration, name, kind and key attributes.

    A span whose parent is not in the trace (the caller's own span, or one still buffered)
    is shown as a root.
    """
    ids = {span["span_id"] for span in spans}
    children: dict[str | None, list[dict[str, Any]]] = {}
    for span in spans:
        parent = span["parent_span_id"] if span["parent_span_id"] in ids else None
        children.setdefault(parent, []).append(span)

    lines: list[str] = []

    def walk(parent: str | None, depth: int) -> None:
        for span in sorted(children.get(parent, []), key=lambda s: s["start_ns"]):
            lines.append(_tree_line(span, depth))
            walk(span["span_id"], depth + 1)

    walk(None, 0)
    return lines


SHOWN_ATTRIBUTES = ("cloudevents.event_type", "messaging.destination.name",
                    "messaging.message.id", "http.response.status_code",
                    "durable.runtime_status")


def _tree_line(span: dict[str, Any], depth: int) -> str:
    milliseconds = (span["end_ns"] - span["start_ns"]) / 1e6
    shown = [f"{name}={span['attributes'][name]}" for name in SHOWN_ATTRIBUTES
             if name in span["attributes"]]
    if span["status"] == "ERROR":
        shown.append(f"ERROR {span['attributes'].get('exception.message', '')}".rstrip())
    details = f"  {' '.join(shown)}" if shown else ""
    return f"{milliseconds:9.1f} ms  {'  ' * depth}{span['name']} [{span['kind']}]{details}"


# --- the command ------------------------------------------------------------------------


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("traces", help="print the trace of one order as a tree")
    parser.add_argument("order_id", help="order id (the saga's instance id)")
    parser.add_argument("--app", default=".", help="app folder (default .)")
    parser.add_argument("--state", default=None, help="state folder (default <app>/.devhost)")
    parser.set_defaults(handler=print_traces)


def print_traces(args: argparse.Namespace) -> int:
    state_dir = Path(args.state) if args.state else Path(args.app) / ".devhost"
    path = state_dir / TRACES_FILE
    if not path.exists():
        print(f"No spans at {path}. Run the app with devhost (without OTEL_SDK_DISABLED=true) "
              "first, or pass --state.", file=sys.stderr)
        return 1

    store = TraceStore(path, read_only=True)
    try:
        trace_ids = store.trace_ids_of_order(args.order_id)
        if not trace_ids:
            print(f"No spans for order {args.order_id} in {path}. Spans reach the file about "
                  "a second after they end; check the order id.", file=sys.stderr)
            return 1
        for trace_id in trace_ids:
            spans = store.spans_of_trace(trace_id)
            print(f"trace {trace_id} ({len(spans)} spans)")
            print("\n".join(format_tree(spans)))
    finally:
        store.close()
    return 0
