"""Configure OpenTelemetry for the app: Azure Monitor on Azure, devhost's span file offline.

With `APPLICATIONINSIGHTS_CONNECTION_STRING` set, `configure_azure_monitor` exports spans and
logs to Application Insights. Without it, a BatchSpanProcessor writes the app's spans to
`<DEVHOST_STATE_DIR>/traces.sqlite3`, beside the spans devhost records for the invocations.
`OTEL_SDK_DISABLED=true` turns both off. Invocation spans come from the host either way: the
app only adds its own spans (published messages, raised events, started sagas) under them.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from adapters.settings import Settings

logger = logging.getLogger(__name__)

SERVICE_NAME = "aj-bikes"
TRACES_FILE = "traces.sqlite3"
DISABLED_SETTING = "OTEL_SDK_DISABLED"

# How long ended spans wait before the offline exporter writes them, in milliseconds.
EXPORT_DELAY_MS = 500

_configured = False
_configure_lock = threading.Lock()


def configure_telemetry(settings: Settings) -> str:
    """Set up tracing once per process and return where spans go: "azure-monitor", "file", "off"."""
    global _configured
    with _configure_lock:
        if _configured:
            return "already configured"
        _configured = True

        if os.environ.get(DISABLED_SETTING, "").strip().lower() == "true":
            logger.info("telemetry is off: %s=true", DISABLED_SETTING)
            return "off"
        if settings.applicationinsights_connection_string:
            return _configure_azure_monitor(settings.applicationinsights_connection_string)
        return _configure_offline(settings.embedded_state_dir / TRACES_FILE)


def _configure_azure_monitor(connection_string: str) -> str:
    from azure.monitor.opentelemetry import configure_azure_monitor

    configure_azure_monitor(connection_string=connection_string)
    logger.info("telemetry goes to Application Insights")
    return "azure-monitor"


def _configure_offline(path: Path) -> str:
    from opentelemetry import trace

    try:
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        logger.warning(
            "the app's spans are not recorded: opentelemetry-sdk is not installed; "
            "install it (requirements-dev.txt) to see them in %s", path
        )
        return "off"

    provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}))
    exporter = SqliteSpanExporter(path)
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=EXPORT_DELAY_MS))
    trace.set_tracer_provider(provider)
    logger.info("telemetry goes to %s", path)
    return "file"


class SqliteSpanExporter:
    """An OpenTelemetry SpanExporter that appends finished spans to devhost's `spans` table."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._store = None
        self._lock = threading.Lock()

    def export(self, spans: Sequence) -> object:
        from opentelemetry.sdk.trace.export import SpanExportResult

        rows = [_row(span) for span in spans]
        try:
            self._open().write(rows)
        except Exception as error:  # the exporter must not raise into the batch processor
            logger.warning("writing %d spans to %s failed: %s", len(rows), self.path, error)
            return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True

    def _open(self):
        with self._lock:
            if self._store is None:
                from devhost.traces import TraceStore

                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._store = TraceStore(self.path)
            return self._store


def _row(span) -> tuple:
    from devhost.traces import span_row

    context = span.get_span_context()
    parent = f"{span.parent.span_id:016x}" if span.parent is not None else None
    return span_row(
        f"{context.trace_id:032x}", f"{context.span_id:016x}", parent, span.name,
        span.kind.name, "app", span.start_time, span.end_time, span.status.status_code.name,
        dict(span.attributes or {}),
    )
