"""The Durable HTTP API answers as the Durable extension does (status codes and payloads)."""

from __future__ import annotations

import time
import uuid

from devhost_support import RunningHost

RPC = "/durabletask"


def _new_id() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


def _start_waiter(host: RunningHost) -> str:
    instance_id = host.start("waiter", instance_id=_new_id())
    host.wait_for(instance_id, ("Running",))
    return instance_id


def test_starting_a_running_instance_id_is_refused_with_409(durable_host: RunningHost) -> None:
    instance_id = _start_waiter(durable_host)

    answer = durable_host.request("POST", f"{RPC}/orchestrators/waiter/{instance_id}")

    assert answer.status == 409


def test_starting_an_unknown_orchestrator_is_rejected_with_400(durable_host: RunningHost) -> None:
    answer = durable_host.request("POST", f"{RPC}/orchestrators/no_such_orchestrator")

    assert answer.status == 400
    assert "no_such_orchestrator" in answer.json()["ExceptionMessage"]


def test_start_answers_202_with_check_status_links(durable_host: RunningHost) -> None:
    answer = durable_host.request("POST", f"{RPC}/orchestrators/chain")
    payload = answer.json()

    assert answer.status == 202
    assert answer.headers["Location"] == payload["statusQueryGetUri"]
    assert payload["sendEventPostUri"].startswith(durable_host.base_url + "/runtime/webhooks/")


def test_unknown_instance_answers_404_everywhere(durable_host: RunningHost) -> None:
    missing = _new_id()
    calls = [
        ("GET", f"{RPC}/instances/{missing}"),
        ("POST", f"{RPC}/instances/{missing}/raiseEvent/Finish"),
        ("POST", f"{RPC}/instances/{missing}/terminate"),
        ("POST", f"{RPC}/instances/{missing}/suspend"),
        ("POST", f"{RPC}/instances/{missing}/resume"),
        ("DELETE", f"{RPC}/instances/{missing}"),
    ]

    statuses = [durable_host.request(method, path, {}).status for method, path in calls]

    assert statuses == [404] * len(calls)


def test_running_instance_status_is_202_with_retry_after(durable_host: RunningHost) -> None:
    instance_id = _start_waiter(durable_host)

    answer = durable_host.request("GET", f"{RPC}/instances/{instance_id}")

    assert answer.status == 202
    assert answer.headers["Retry-After"] == "5"
    assert answer.json()["customStatus"] == "waiting for Finish"


def test_terminate_stops_the_instance_with_the_reason_as_output(
    durable_host: RunningHost,
) -> None:
    instance_id = _start_waiter(durable_host)

    answer = durable_host.request("POST", f"{RPC}/instances/{instance_id}/terminate?reason=stop")
    status = durable_host.wait_for(instance_id)

    assert answer.status == 202
    assert status["runtimeStatus"] == "Terminated"
    assert status["output"] == "stop"


def test_operations_on_a_finished_instance_answer_410(durable_host: RunningHost) -> None:
    instance_id = _start_waiter(durable_host)
    durable_host.request("POST", f"{RPC}/instances/{instance_id}/terminate?reason=done")
    durable_host.wait_for(instance_id)
    paths = ["terminate", "suspend", "resume", "raiseEvent/Finish"]

    statuses = [
        durable_host.request("POST", f"{RPC}/instances/{instance_id}/{path}", {}).status
        for path in paths
    ]

    assert statuses == [410] * len(paths)


def test_suspended_instance_keeps_events_until_resumed(durable_host: RunningHost) -> None:
    instance_id = _start_waiter(durable_host)

    suspended = durable_host.request("POST", f"{RPC}/instances/{instance_id}/suspend?reason=hold")
    durable_host.wait_for(instance_id, ("Suspended",))
    raised = durable_host.request("POST", f"{RPC}/instances/{instance_id}/raiseEvent/Finish", 7)
    time.sleep(0.5)
    while_suspended = durable_host.status(instance_id)["runtimeStatus"]
    resumed = durable_host.request("POST", f"{RPC}/instances/{instance_id}/resume?reason=go")
    status = durable_host.wait_for(instance_id)

    assert (suspended.status, raised.status, resumed.status) == (202, 202, 202)
    assert while_suspended == "Suspended"
    assert status["output"] == 7


def test_restart_with_new_id_runs_the_same_input_again(durable_host: RunningHost) -> None:
    first = durable_host.start("fan_out", 4)
    durable_host.wait_for(first)

    answer = durable_host.request("POST", f"{RPC}/instances/{first}/restart")
    second = answer.json()
    status = durable_host.wait_for(second)

    assert answer.status == 202
    assert second != first
    assert status["output"] == 12


def test_restart_in_place_of_a_running_instance_is_refused_with_409(
    durable_host: RunningHost,
) -> None:
    instance_id = _start_waiter(durable_host)

    answer = durable_host.request(
        "POST", f"{RPC}/instances/{instance_id}/restart?restartWithNewInstanceId=false"
    )

    assert answer.status == 409


def test_restart_in_place_of_a_finished_instance_reuses_its_id(durable_host: RunningHost) -> None:
    instance_id = durable_host.start("chain", instance_id=_new_id())
    durable_host.wait_for(instance_id)

    answer = durable_host.request(
        "POST", f"{RPC}/instances/{instance_id}/restart?restartWithNewInstanceId=false"
    )
    status = durable_host.wait_for(instance_id)

    assert answer.json() == instance_id
    assert status["output"] == ["Hello Tokyo", "Hello Oslo", 42]


def test_purge_deletes_a_finished_instance(durable_host: RunningHost) -> None:
    instance_id = durable_host.start("chain")
    durable_host.wait_for(instance_id)

    purged = durable_host.request("DELETE", f"{RPC}/instances/{instance_id}")
    after = durable_host.request("GET", f"{RPC}/instances/{instance_id}")

    assert purged.status == 200
    assert purged.json() == {"instancesDeleted": 1}
    assert after.status == 404


def test_purge_of_a_running_instance_is_refused_with_412(durable_host: RunningHost) -> None:
    instance_id = _start_waiter(durable_host)

    answer = durable_host.request("DELETE", f"{RPC}/instances/{instance_id}")

    assert answer.status == 412


def test_webhook_path_requires_the_system_key(durable_host: RunningHost) -> None:
    started = durable_host.request("POST", f"{RPC}/orchestrators/chain").json()
    bare = started["statusQueryGetUri"].split("?")[0]

    without_key = durable_host.request("GET", bare)
    with_key = durable_host.request("GET", started["statusQueryGetUri"])

    assert without_key.status == 401
    assert with_key.status in (200, 202)


def test_raise_event_without_json_content_is_rejected_with_400(durable_host: RunningHost) -> None:
    instance_id = _start_waiter(durable_host)

    answer = durable_host.request(
        "POST", f"{RPC}/instances/{instance_id}/raiseEvent/Finish", raw=b"plain",
        headers={"Content-Type": "text/plain"},
    )

    assert answer.status == 400


def test_status_with_history_lists_the_activity_calls(durable_host: RunningHost) -> None:
    instance_id = durable_host.start("chain")
    durable_host.wait_for(instance_id)

    answer = durable_host.request(
        "GET", f"{RPC}/instances/{instance_id}?showHistory=True&showHistoryOutput=True"
    )
    events = answer.json()["historyEvents"]
    completed = [e for e in events if e["EventType"] == "TaskCompleted"]

    assert events[0]["EventType"] == "ExecutionStarted"
    assert [e["FunctionName"] for e in completed] == ["hello", "hello", "double"]
    assert completed[0]["Result"] == '"Hello Tokyo"'


def test_list_filters_instances_by_runtime_status(durable_host: RunningHost) -> None:
    instance_id = _start_waiter(durable_host)

    running = durable_host.request("GET", f"{RPC}/instances/?runtimeStatus=Running").json()
    completed = durable_host.request("GET", f"{RPC}/instances/?runtimeStatus=Completed").json()

    assert instance_id in {item["instanceId"] for item in running}
    assert instance_id not in {item["instanceId"] for item in completed}
