"""The span store, the batching recorder, the app's exporter and the `traces` tree printer."""

from __future__ import annotations

from pathlib import Path

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from adapters.telemetry import SqliteSpanExporter
from devhost.traces import (
    SpanRecorder,
    TraceStore,
    format_traceparent,
    format_tree,
    parse_traceparent,
)

CALLER = "00-12341234123412341234123412341234-5678567856785678-01"


def test_traceparent_parses_trace_and_span_ids() -> None:
    assert parse_traceparent(CALLER) == ("12341234123412341234123412341234", "5678567856785678")


def test_traceparent_rejects_zero_and_malformed_ids() -> None:
    assert parse_traceparent("00-" + "0" * 32 + "-5678567856785678-01") is None
    assert parse_traceparent("00-12341234123412341234123412341234-" + "0" * 16 + "-01") is None
    assert parse_traceparent("00-xyz-5678567856785678-01") is None
    assert parse_traceparent("00-1234123412341234123412341234123g-5678567856785678-01") is None
    assert parse_traceparent("") is None


def test_traceparent_ids_are_read_in_lower_case() -> None:
    parsed = parse_traceparent("00-ABCDABCDABCDABCDABCDABCDABCDABCD-00000000000000F1-01")

    assert parsed == ("abcdabcdabcdabcdabcdabcdabcdabcd", "00000000000000f1")


def test_recorder_child_span_keeps_callers_trace(tmp_path: Path) -> None:
    store = TraceStore(tmp_path / "traces.sqlite3")
    recorder = SpanRecorder(store, flush_seconds=60)
    span = recorder.start_span("http_place_order", "SERVER", CALLER,
                               {"aj.order_id": "o-1"})
    span.end()
    recorder.close()

    [written] = store.spans_of_trace("12341234123412341234123412341234")
    assert written["parent_span_id"] == "5678567856785678"
    assert written["source"] == "host"
    assert store.trace_ids_of_order("o-1") == ["12341234123412341234123412341234"]


def test_recorder_without_parent_starts_new_trace(tmp_path: Path) -> None:
    recorder = SpanRecorder(TraceStore(tmp_path / "traces.sqlite3"), flush_seconds=60)
    first = recorder.start_span("a", "SERVER")
    second = recorder.start_span("b", "SERVER")
    recorder.close()

    assert first.parent_span_id is None
    assert first.trace_id != second.trace_id


def test_recorder_marks_failed_span_as_error(tmp_path: Path) -> None:
    store = TraceStore(tmp_path / "traces.sqlite3")
    recorder = SpanRecorder(store, flush_seconds=60)
    span = recorder.start_span("activity:reserve_stock", "SERVER", CALLER)
    span.end(ValueError("store s-9 not found"))
    recorder.close()

    [written] = store.spans_of_trace(span.trace_id)
    assert written["status"] == "ERROR"
    assert written["attributes"]["exception.message"] == "store s-9 not found"


def test_recorder_writes_nothing_before_flush(tmp_path: Path) -> None:
    store = TraceStore(tmp_path / "traces.sqlite3")
    recorder = SpanRecorder(store, flush_seconds=60)
    span = recorder.start_span("a", "SERVER", CALLER)
    span.end()

    assert store.spans_of_trace(span.trace_id) == []
    recorder.close()
    assert len(store.spans_of_trace(span.trace_id)) == 1


def test_exporter_writes_app_spans_under_host_parent(tmp_path: Path) -> None:
    path = tmp_path / "traces.sqlite3"
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(SqliteSpanExporter(path)))
    tracer = provider.get_tracer("test")
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    parent = TraceContextTextMapPropagator().extract({"traceparent": CALLER})
    with tracer.start_as_current_span("send carrier-requests", context=parent,
                                      attributes={"aj.order_id": "o-2"}):
        pass
    provider.shutdown()

    store = TraceStore(path)
    [written] = store.spans_of_trace("12341234123412341234123412341234")
    assert written["parent_span_id"] == "5678567856785678"
    assert written["source"] == "app"
    assert written["kind"] == "INTERNAL"
    assert store.trace_ids_of_order("o-2") == ["12341234123412341234123412341234"]


def _span(span_id: str, parent: str | None, name: str, start: int, end: int) -> dict:
    return {"span_id": span_id, "parent_span_id": parent, "name": name, "kind": "SERVER",
            "start_ns": start, "end_ns": end, "status": "UNSET", "attributes": {}}


def test_tree_indents_children_under_parents_in_start_order() -> None:
    spans = [
        _span("b", "a", "orchestration:order_saga", 2_000_000, 3_000_000),
        _span("a", "caller", "http_place_order", 0, 5_000_000),
        _span("c", "b", "activity:record_order", 2_500_000, 2_750_000),
        _span("d", "a", "start_new order_saga", 1_000_000, 1_500_000),
    ]

    lines = format_tree(spans)

    assert [line.split(" ms ")[1].split(" [")[0] for line in lines] == [
        " http_place_order",
        "   start_new order_saga",
        "   orchestration:order_saga",
        "     activity:record_order",
    ]
    assert lines[0].startswith("      5.0 ms")


def test_format_traceparent_round_trips() -> None:
    assert parse_traceparent(format_traceparent("ab" * 16, "cd" * 8)) == ("ab" * 16, "cd" * 8)
