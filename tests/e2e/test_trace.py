"""One order's spans form one trace through devhost, the app, the broker and the carrier.

The test starts devhost on the real app and plays the carrier itself: it receives the
ShipmentRequested message and answers with ShipmentDispatched and ShipmentDelivered that
carry the request's traceparent, as a carrier that propagates W3C trace context does.
"""

from __future__ import annotations

import asyncio
import re
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "devhost"))

from devhost_support import REPO_ROOT, RunningHost, launch
from saga_support import place_order, wait_until

from adapters.messaging import message_properties
from devhost.servicebus.client import OutgoingMessage, ServiceBusClient
from devhost.traces import TRACES_FILE, TraceStore, parse_traceparent
from domain.messages import (
    CARRIER_REQUESTS,
    CloudEvent,
    ShipmentDelivered,
    ShipmentDispatched,
    parse_envelope,
)

SETTINGS = {
    "SAGA_DISPATCH_DEADLINE_SECONDS": "120",
    "SAGA_DELIVERY_DEADLINE_SECONDS": "120",
    "DEVHOST_LOG_LEVEL": "INFO",
}
CALLER_TRACE = "12341234123412341234123412341234"
CALLER_SPAN = "5678567856785678"
SAGA_LOG_LINES = ("external event received", "saga finished")


def _answer_as_carrier(state_dir: Path, order_id: str) -> str:
    """Receive the order's ShipmentRequested and reply, copying its traceparent; return it."""
    client = ServiceBusClient(state_dir)
    try:
        received = wait_until(lambda: client.receive(CARRIER_REQUESTS, 1), bool,
                               "the ShipmentRequested message")[0]
        client.complete(received)
        request = parse_envelope(received.body)
        traceparent = received.application_properties["traceparent"]
        now = datetime.now(UTC)
        replies = [
            ShipmentDispatched(shipment_id=request.data.shipment_id, order_id=order_id,
                               carrier="UPS", tracking_number="1Z999", dispatched_at=now),
            ShipmentDelivered(shipment_id=request.data.shipment_id, order_id=order_id,
                              delivered_at=now, carrier="UPS", tracking_number="1Z999"),
        ]
        for data in replies:
            event = CloudEvent(id=str(uuid.uuid4()), source="/carriers/test",
                               type=type(data).__name__, subject=order_id, time=now, data=data)
            client.send(event.entity, OutgoingMessage(**message_properties(event, traceparent)))
            time.sleep(0.3)  # dispatch first, then delivery, as a carrier reports them
    finally:
        client.close()
    return traceparent


def _spans_of_order(state_dir: Path, order_id: str) -> list[dict]:
    path = state_dir / TRACES_FILE
    if not path.exists():
        return []
    store = TraceStore(path, read_only=True)
    try:
        return [span for trace_id in store.trace_ids_of_order(order_id)
                for span in store.spans_of_trace(trace_id)]
    finally:
        store.close()


def _place_traced_order(host: RunningHost, state_dir: Path) -> str:
    """Place one order with the caller's traceparent; return its id."""
    headers = {"x-functions-key": host.keys["functionKeys"]["default"],
               "traceparent": f"00-{CALLER_TRACE}-{CALLER_SPAN}-01"}
    return place_order(host, state_dir, headers).json()["orderId"]


def _completed_spans(state_dir: Path, order_id: str) -> list[dict]:
    return wait_until(
        lambda: _spans_of_order(state_dir, order_id),
        lambda found: sum(s["name"] == "raise_event ShipmentDelivered" for s in found) == 1
        and any(s["attributes"].get("durable.runtime_status") == "Completed" for s in found)
        # The app exports its own spans apart from devhost's, so its last send may come later.
        and any(s["attributes"].get("cloudevents.event_type") == "OrderCompleted"
                and s["kind"] == "PRODUCER" for s in found),
        "the order's spans in traces.sqlite3",
    )


@pytest.fixture(scope="module")
def traced_order(tmp_path_factory: pytest.TempPathFactory) -> dict:
    state_dir = tmp_path_factory.mktemp("trace")
    host = launch(REPO_ROOT, state_dir, env=SETTINGS, timeout=60)
    try:
        order_id = _place_traced_order(host, state_dir)
        message_traceparent = _answer_as_carrier(state_dir, order_id)
        status = host.wait_for(order_id, timeout=60)
        spans = _completed_spans(state_dir, order_id)
    finally:
        host.stop()
    return {"order_id": order_id, "status": status, "spans": spans, "output": host.text(),
            "message_traceparent": message_traceparent, "state_dir": state_dir}


def _named(spans: list[dict], name: str) -> list[dict]:
    return [span for span in spans if span["name"] == name]


def _one(spans: list[dict], name: str) -> dict:
    found = _named(spans, name)
    assert len(found) == 1, f"expected one span {name!r}, found {len(found)}"
    return found[0]


@pytest.mark.slow
def test_order_completes_while_traced(traced_order: dict) -> None:
    assert traced_order["status"]["runtimeStatus"] == "Completed"


@pytest.mark.slow
def test_every_span_shares_the_callers_trace_id(traced_order: dict) -> None:
    assert {span["trace_id"] for span in traced_order["spans"]} == {CALLER_TRACE}


@pytest.mark.slow
def test_http_span_is_child_of_callers_span(traced_order: dict) -> None:
    http = _one(traced_order["spans"], "http_place_order")
    assert http["parent_span_id"] == CALLER_SPAN
    assert http["kind"] == "SERVER"
    assert http["attributes"]["http.response.status_code"] == 202


@pytest.mark.slow
def test_saga_start_is_child_of_http_span(traced_order: dict) -> None:
    spans = traced_order["spans"]
    start = _one(spans, "start_new order_saga")
    assert start["parent_span_id"] == _one(spans, "http_place_order")["span_id"]
    assert start["attributes"]["aj.order_id"] == traced_order["order_id"]


@pytest.mark.slow
def test_every_episode_is_child_of_saga_start(traced_order: dict) -> None:
    spans = traced_order["spans"]
    start_id = _one(spans, "start_new order_saga")["span_id"]
    episodes = _named(spans, "orchestration:order_saga")
    assert len(episodes) >= 5
    assert {episode["parent_span_id"] for episode in episodes} == {start_id}


@pytest.mark.slow
def test_last_episode_records_completion(traced_order: dict) -> None:
    episodes = _named(traced_order["spans"], "orchestration:order_saga")
    last = max(episodes, key=lambda span: span["start_ns"])
    assert last["attributes"]["durable.runtime_status"] == "Completed"


@pytest.mark.slow
def test_every_activity_is_child_of_an_episode(traced_order: dict) -> None:
    spans = traced_order["spans"]
    episode_ids = {span["span_id"] for span in _named(spans, "orchestration:order_saga")}
    activities = [span for span in spans if span["name"].startswith("activity:")]
    names = {span["name"].removeprefix("activity:") for span in activities}
    assert names == {"record_order", "reserve_stock", "request_shipment", "record_dispatch",
                     "commit_stock", "mark_order_shipped", "record_delivery", "complete_order"}
    assert all(span["parent_span_id"] in episode_ids for span in activities)


@pytest.mark.slow
def test_every_send_is_child_of_its_activity(traced_order: dict) -> None:
    spans = traced_order["spans"]
    by_id = {span["span_id"]: span for span in spans}
    sends = [span for span in spans if span["kind"] == "PRODUCER"]
    parents = {span["attributes"]["cloudevents.event_type"]: by_id[span["parent_span_id"]]["name"]
               for span in sends}
    assert parents == {
        "OrderPlaced": "activity:record_order",
        "ShipmentRequested": "activity:request_shipment",
        "OrderShipped": "activity:mark_order_shipped",
        "OrderCompleted": "activity:complete_order",
    }


@pytest.mark.slow
def test_carrier_request_carries_its_send_span(traced_order: dict) -> None:
    send = next(span for span in traced_order["spans"]
                if span["attributes"].get("cloudevents.event_type") == "ShipmentRequested")
    assert parse_traceparent(traced_order["message_traceparent"]) == (CALLER_TRACE,
                                                                      send["span_id"])


@pytest.mark.slow
def test_carrier_triggers_are_children_of_the_request_send(traced_order: dict) -> None:
    spans = traced_order["spans"]
    _, send_span_id = parse_traceparent(traced_order["message_traceparent"])
    triggers = _named(spans, "on_carrier_event")
    assert len(triggers) == 2
    assert {span["parent_span_id"] for span in triggers} == {send_span_id}
    assert {span["kind"] for span in triggers} == {"CONSUMER"}
    assert {span["attributes"]["messaging.destination.name"] for span in triggers} == {
        "carrier-events"}


@pytest.mark.slow
def test_raised_events_are_children_of_their_trigger(traced_order: dict) -> None:
    spans = traced_order["spans"]
    trigger_ids = {span["span_id"] for span in _named(spans, "on_carrier_event")}
    raised = _named(spans, "raise_event ShipmentDispatched") + _named(
        spans, "raise_event ShipmentDelivered")
    assert len(raised) == 2
    assert {span["parent_span_id"] in trigger_ids for span in raised} == {True}


@pytest.mark.slow
def test_saga_logs_each_fact_once_despite_replay(traced_order: dict) -> None:
    order_id = traced_order["order_id"]
    lines = [line for line in traced_order["output"].splitlines()
             if f"'orderId': '{order_id}'" in line and "orchestrators.order_saga" in line]
    counts = Counter(re.sub(r"^.*orchestrators\.order_saga: ", "", line) for line in lines)
    assert sum(1 for line in lines if any(fact in line for fact in SAGA_LOG_LINES)) == 3
    assert max(counts.values()) == 1


@pytest.mark.slow
def test_traces_command_prints_the_tree(traced_order: dict) -> None:
    import subprocess

    printed = subprocess.run(
        [sys.executable, "-m", "devhost", "traces", traced_order["order_id"],
         "--state", str(traced_order["state_dir"])],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=30, check=True,
    ).stdout
    assert f"trace {CALLER_TRACE}" in printed
    assert re.search(r"ms  http_place_order \[SERVER\]", printed)
    assert re.search(r"ms {5,}orchestration:order_saga \[SERVER\]", printed)


def _serve_simulated_carrier(state_dir: Path, stop: threading.Event) -> None:
    from simulation.bus import Broker
    from simulation.carrier import PROFILES, Carrier
    from simulation.run import serve_carrier

    async def serve() -> None:
        broker = Broker(state_dir)
        carrier = Carrier(PROFILES["instant"], broker.send, seed=1)
        stopped = asyncio.Event()
        serving = asyncio.create_task(serve_carrier(carrier, broker, stopped))
        while not stop.is_set():
            await asyncio.sleep(0.05)
        stopped.set()
        await serving
        await carrier.close()
        broker.close()

    asyncio.run(serve())


@pytest.mark.slow
def test_simulated_carrier_replies_join_the_trace(tmp_path: Path) -> None:
    host = launch(REPO_ROOT, tmp_path, env=SETTINGS, timeout=60)
    stop = threading.Event()
    carrier = threading.Thread(target=_serve_simulated_carrier, args=(tmp_path, stop))
    carrier.start()
    try:
        order_id = _place_traced_order(host, tmp_path)
        host.wait_for(order_id, timeout=60)
        spans = _completed_spans(tmp_path, order_id)
    finally:
        stop.set()
        carrier.join(timeout=30)
        host.stop()

    send = next(span for span in spans
                if span["attributes"].get("cloudevents.event_type") == "ShipmentRequested")
    triggers = _named(spans, "on_carrier_event")
    assert {span["trace_id"] for span in spans} == {CALLER_TRACE}
    assert len(triggers) == 2
    assert {span["parent_span_id"] for span in triggers} == {send["span_id"]}
