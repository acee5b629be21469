"""Test app for devhost: Durable patterns, HTTP auth levels and bindings."""

import json
import os
import sqlite3
import time
from datetime import timedelta

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


def _record(database: str, table: str, **values: object) -> int:
    """Append one row to a SQLite table in the test's tmp folder; return its row id."""
    connection = sqlite3.connect(database, timeout=30)
    columns = ", ".join(values)
    with connection:
        connection.execute(f"CREATE TABLE IF NOT EXISTS {table} ({columns})")
        cursor = connection.execute(
            f"INSERT INTO {table} ({columns}) VALUES ({', '.join('?' * len(values))})",
            tuple(values.values()),
        )
    connection.close()
    return cursor.lastrowid


# ---------------------------------------------------------------- HTTP starters


@app.route(route="start/{name}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    body = req.get_body()
    payload = json.loads(body) if body else None
    instance_id = await client.start_new(req.route_params["name"], req.params.get("id"), payload)
    return client.create_check_status_response(req, instance_id)


@app.route(route="events/{instance_id}/{event}", methods=["POST"])
@app.durable_client_input(client_name="client")
async def raise_event(
    req: func.HttpRequest, client: df.DurableOrchestrationClient
) -> func.HttpResponse:
    await client.raise_event(req.route_params["instance_id"], req.route_params["event"],
                             req.get_json())
    return func.HttpResponse(status_code=202)


# ---------------------------------------------------------------- HTTP behaviour


@app.route(route="anonymous", auth_level=func.AuthLevel.ANONYMOUS)
def anonymous(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("anonymous ok")


@app.route(route="keyed", auth_level=func.AuthLevel.FUNCTION)
def keyed(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("function ok")


@app.route(route="operator", auth_level=func.AuthLevel.ADMIN)
def operator(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("admin ok")


@app.route(route="echo/{id:int}/{rest?}", methods=["GET", "POST"])
def echo(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return func.HttpResponse(
        json.dumps({
            "method": req.method,
            "route": dict(req.route_params),
            "query": dict(req.params),
            "header": req.headers.get("x-custom"),
            "body": req.get_body().decode(),
            "function": context.function_name,
            "invocation": bool(context.invocation_id),
            "state_dir": os.environ.get("DEVHOST_STATE_DIR"),
            "setting": os.environ.get("DEVHOST_TEST_SETTING"),
        }),
        mimetype="application/json",
        headers={"x-answer": "42"},
    )


@app.route(route="files/{*path}")
def files(req: func.HttpRequest) -> str:
    return "path=" + req.route_params.get("path", "")


@app.route(route="broken")
def broken(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("secret internal detail")


@app.route(route="output")
@app.queue_output(arg_name="message", queue_name="unused", connection="AzureWebJobsStorage")
async def output(req: func.HttpRequest, message: func.Out[str]) -> func.HttpResponse:
    message.set("queued text")
    return func.HttpResponse("set")


@app.timer_trigger(schedule="0 0 0 1 1 *", arg_name="timer", run_on_startup=False)
def yearly(timer: func.TimerRequest) -> None:
    pass


# ---------------------------------------------------------------- activities


@app.activity_trigger(input_name="name")
def hello(name: str) -> str:
    return f"Hello {name}"


@app.activity_trigger(input_name="value")
async def double(value: int) -> int:
    return value * 2


@app.activity_trigger(input_name="job")
def flaky(job: dict) -> str:
    """Fail until job['succeed_on'] attempts were made; count attempts in a SQLite file."""
    attempt = _record(job["db"], "attempts", tag=job["tag"])
    connection = sqlite3.connect(job["db"], timeout=30)
    query = "SELECT COUNT(*) FROM attempts WHERE tag=?"
    count = connection.execute(query, (job["tag"],)).fetchone()[0]
    connection.close()
    if count < job["succeed_on"]:
        raise ValueError(f"flaky attempt {count} failed")
    return f"succeeded on attempt {count} (row {attempt})"


@app.activity_trigger(input_name="step")
def effect(step: dict) -> int:
    """Apply one side effect (a row in a SQLite file) and return the row id."""
    time.sleep(step.get("delay", 0))
    return _record(step["db"], "effects", instance=step["instance"], step=step["step"])


# ---------------------------------------------------------------- orchestrators


@app.orchestration_trigger(context_name="context")
def chain(context: df.DurableOrchestrationContext):
    first = yield context.call_activity("hello", "Tokyo")
    second = yield context.call_activity("hello", "Oslo")
    third = yield context.call_activity(double, 21)
    return [first, second, third]


@app.orchestration_trigger(context_name="context")
def fan_out(context: df.DurableOrchestrationContext):
    count = context.get_input()
    results = yield context.task_all([context.call_activity("double", i) for i in range(count)])
    return sum(results)


@app.orchestration_trigger(context_name="context")
def timer(context: df.DurableOrchestrationContext):
    seconds = context.get_input()
    started = context.current_utc_datetime
    yield context.create_timer(started + timedelta(seconds=seconds))
    return (context.current_utc_datetime - started).total_seconds()


@app.orchestration_trigger(context_name="context")
def custom_status(context: df.DurableOrchestrationContext):
    context.set_custom_status({"step": "waiting", "for": "Go"})
    yield context.wait_for_external_event("Go")
    context.set_custom_status({"step": "done"})
    return "finished"


@app.orchestration_trigger(context_name="context")
def late_wait(context: df.DurableOrchestrationContext):
    """Wait on a timer first, then for an event that was raised before the wait began."""
    seconds = context.get_input()
    yield context.create_timer(context.current_utc_datetime + timedelta(seconds=seconds))
    payload = yield context.wait_for_external_event("Early")
    return payload


@app.orchestration_trigger(context_name="context")
def race(context: df.DurableOrchestrationContext):
    """Wait for Approve or a deadline; cancel the deadline timer when the event wins."""
    seconds = context.get_input()
    deadline = context.create_timer(context.current_utc_datetime + timedelta(seconds=seconds))
    approval = context.wait_for_external_event("Approve")
    winner = yield context.task_any([approval, deadline])
    if winner == approval:
        deadline.cancel()
        return {"outcome": "approved", "payload": approval.result}
    return {"outcome": "timed out"}


@app.orchestration_trigger(context_name="context")
def retrying(context: df.DurableOrchestrationContext):
    job = context.get_input()
    options = df.RetryOptions(first_retry_interval_in_milliseconds=100,
                              max_number_of_attempts=job["max_attempts"])
    try:
        result = yield context.call_activity_with_retry("flaky", options, job)
    except Exception as error:
        return {"failed": str(error)}
    after = yield context.call_activity("hello", "after retry")
    return {"result": result, "after": after}


@app.orchestration_trigger(context_name="context")
def parent(context: df.DurableOrchestrationContext):
    results = yield context.task_all([
        context.call_sub_orchestrator("chain"),
        context.call_sub_orchestrator("fan_out", 5, instance_id=f"{context.instance_id}-child"),
    ])
    return results


@app.orchestration_trigger(context_name="context")
def counter(context: df.DurableOrchestrationContext):
    value = context.get_input()
    if value >= 3:
        return value
    yield context.call_activity("double", value)
    context.continue_as_new(value + 1)


@app.orchestration_trigger(context_name="context")
def waiter(context: df.DurableOrchestrationContext):
    context.set_custom_status("waiting for Finish")
    value = yield context.wait_for_external_event("Finish")
    return value


@app.orchestration_trigger(context_name="context")
def effects(context: df.DurableOrchestrationContext):
    job = context.get_input()
    row_ids = []
    for step in range(job["steps"]):
        row_id = yield context.call_activity(
            "effect", {"db": job["db"], "instance": context.instance_id, "step": step,
                       "delay": job["delay"]})
        row_ids.append(row_id)
    return row_ids


@app.orchestration_trigger(context_name="context")
def evolving(context: df.DurableOrchestrationContext):
    """Schedule hello then wait for Continue; the 'changed' variant schedules double first.

    Reading the environment in an orchestrator breaks determinism on purpose: the test starts
    an instance, restarts the host with the variant, and expects a non-determinism failure.
    """
    if os.environ.get("DEVHOST_TEST_VARIANT") == "changed":
        yield context.call_activity("double", 1)
    else:
        yield context.call_activity("hello", "first")
    yield context.wait_for_external_event("Continue")
    return "done"


@app.orchestration_trigger(context_name="context")
def failing(context: df.DurableOrchestrationContext):
    yield context.call_activity("hello", "before failure")
    raise RuntimeError("orchestrator gave up")
