"""The app's telemetry set-up: off by the SDK's switch, once per process, and the file exporter."""

from __future__ import annotations

from pathlib import Path

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult

from adapters import telemetry
from adapters.settings import load_settings
from devhost.traces import TraceStore


@pytest.fixture
def unconfigured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(telemetry, "_configured", False)


def test_disabled_setting_turns_telemetry_off(unconfigured, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    settings = load_settings({"DEVHOST_STATE_DIR": str(tmp_path)})

    assert telemetry.configure_telemetry(settings) == "off"
    assert not (tmp_path / telemetry.TRACES_FILE).exists()


def test_second_configuration_changes_nothing(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(telemetry, "_configured", True)
    settings = load_settings({"DEVHOST_STATE_DIR": str(tmp_path)})

    assert telemetry.configure_telemetry(settings) == "already configured"


def test_exporter_creates_state_folder_and_table(tmp_path: Path) -> None:
    path = tmp_path / "new" / telemetry.TRACES_FILE
    exporter = telemetry.SqliteSpanExporter(path)
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    with provider.get_tracer("test").start_as_current_span("send order-events") as span:
        trace_id = f"{span.get_span_context().trace_id:032x}"
    provider.shutdown()

    [written] = TraceStore(path, read_only=True).spans_of_trace(trace_id)
    assert written["name"] == "send order-events"
    assert written["parent_span_id"] is None


def test_exporter_reports_failure_without_raising(tmp_path: Path) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    exporter = telemetry.SqliteSpanExporter(blocked / telemetry.TRACES_FILE)
    provider = TracerProvider()
    with provider.get_tracer("test").start_as_current_span("send order-events") as span:
        pass

    assert exporter.export([span]) == SpanExportResult.FAILURE
