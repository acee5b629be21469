"""The invoker's invocation spans and the trace context it hands to each function."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import azure.durable_functions as df
import azure.functions as func
import pytest
from azure.functions import meta
from opentelemetry import propagate

from devhost.invoker import InvocationError, Invoker
from devhost.loader import index_functions
from devhost.traces import SpanRecorder, TraceStore, parse_traceparent

CALLER_TRACE = "12341234123412341234123412341234"
CALLER = f"00-{CALLER_TRACE}-5678567856785678-01"


def _current_traceparent() -> str | None:
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier.get("traceparent")


def _app(seen: dict[str, tuple]) -> list:
    app = df.DFApp()

    @app.activity_trigger(input_name="payload")
    def sync_activity(payload: str, context: func.Context) -> str:
        seen["sync"] = (context.trace_context.trace_parent, _current_traceparent())
        return payload

    @app.activity_trigger(input_name="payload")
    async def async_activity(payload: str, context: func.Context) -> str:
        seen["async"] = (context.trace_context.trace_parent, _current_traceparent())
        return payload

    @app.activity_trigger(input_name="payload")
    def failing_activity(payload: str) -> str:
        raise ValueError(f"cannot handle {payload}")

    return index_functions(app)


@pytest.fixture
def traced(tmp_path: Path):
    store = TraceStore(tmp_path / "traces.sqlite3")
    invoker = Invoker(str(tmp_path), ThreadPoolExecutor(max_workers=2))
    invoker.recorder = SpanRecorder(store, flush_seconds=60)
    seen: dict[str, tuple] = {}
    functions = {function.name: function for function in _app(seen)}
    yield invoker, store, functions, seen
    invoker.recorder.close()
    store.close()


async def _invoke(invoker: Invoker, function, name: str = "activity:x") -> None:
    await invoker.invoke(function, trigger=meta.Datum(type="string", value='"parcel"'),
                         trace_parent=CALLER, span_name=name,
                         span_attributes={"durable.instance_id": "o-1"})


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_function_context_is_invocation_span(traced, kind: str) -> None:
    invoker, store, functions, seen = traced
    await _invoke(invoker, functions[f"{kind}_activity"])
    invoker.recorder.flush()

    [span] = store.spans_of_trace(CALLER_TRACE)
    context_parent, current = seen[kind]
    assert parse_traceparent(context_parent) == (CALLER_TRACE, span["span_id"])
    assert current == context_parent
    assert span["parent_span_id"] == "5678567856785678"


async def test_invocation_span_carries_name_and_attributes(traced) -> None:
    invoker, store, functions, _ = traced
    await _invoke(invoker, functions["sync_activity"], "activity:sync_activity")
    invoker.recorder.flush()

    [span] = store.spans_of_trace(CALLER_TRACE)
    assert span["name"] == "activity:sync_activity"
    assert span["kind"] == "SERVER"
    assert span["attributes"]["durable.instance_id"] == "o-1"
    assert span["attributes"]["faas.name"] == "sync_activity"
    assert store.trace_ids_of_order("o-1") == [CALLER_TRACE]


async def test_failed_invocation_span_is_error(traced) -> None:
    invoker, store, functions, _ = traced
    with pytest.raises(InvocationError):
        await _invoke(invoker, functions["failing_activity"])
    invoker.recorder.flush()

    [span] = store.spans_of_trace(CALLER_TRACE)
    assert span["status"] == "ERROR"
    assert span["attributes"]["exception.type"] == "ValueError"


async def test_context_is_detached_after_invocation(traced) -> None:
    invoker, _, functions, _ = traced
    await _invoke(invoker, functions["async_activity"])

    assert _current_traceparent() is None


async def test_invoker_without_recorder_passes_caller_context(tmp_path: Path) -> None:
    invoker = Invoker(str(tmp_path), ThreadPoolExecutor(max_workers=1))
    seen: dict[str, tuple] = {}
    functions = {function.name: function for function in _app(seen)}
    await _invoke(invoker, functions["sync_activity"])

    assert seen["sync"] == (CALLER, CALLER)
