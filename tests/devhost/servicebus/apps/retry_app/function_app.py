"""A small app for devhost's Service Bus tests: one trigger that can fail, one that is slow.

Each handled delivery appends a JSON line to `<state>/handled.jsonl`. A body `{"fail": true}`
raises until the file `<state>/fixed` exists.
"""

import json
import os
import time
from pathlib import Path

import azure.functions as func

app = func.FunctionApp()


def _state_dir() -> Path:
    return Path(os.environ["DEVHOST_STATE_DIR"])


def _record(function: str, message: func.ServiceBusMessage) -> None:
    line = {
        "function": function,
        "message_id": message.message_id,
        "delivery_count": message.delivery_count,
        "subject": message.subject,
        "correlation_id": message.correlation_id,
        "user_properties": message.user_properties,
    }
    with open(_state_dir() / "handled.jsonl", "a", encoding="utf-8") as handled:
        handled.write(json.dumps(line) + "\n")


@app.service_bus_queue_trigger(arg_name="message", queue_name="work", connection="SERVICEBUS")
def work(message: func.ServiceBusMessage) -> None:
    body = json.loads(message.get_body())
    if body.get("fail") and not (_state_dir() / "fixed").exists():
        _record("work-failed", message)
        raise RuntimeError(f"refusing message {message.message_id} until fixed")
    _record("work", message)


@app.service_bus_queue_trigger(arg_name="message", queue_name="slow", connection="SERVICEBUS")
def slow(message: func.ServiceBusMessage) -> None:
    time.sleep(0.05)
    _record("slow", message)
