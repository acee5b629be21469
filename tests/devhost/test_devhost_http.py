"""HTTP triggers: auth levels and keys, routing, and the worker's argument conversions."""

from __future__ import annotations

from pathlib import Path

from devhost_support import RunningHost, launch


def test_anonymous_function_needs_no_key(durable_host: RunningHost) -> None:
    answer = durable_host.request("GET", "/api/anonymous")

    assert answer.status == 200
    assert answer.body == b"anonymous ok"


def test_function_level_without_key_is_401(durable_host: RunningHost) -> None:
    assert durable_host.request("GET", "/api/keyed").status == 401


def test_function_level_accepts_code_query_parameter(durable_host: RunningHost) -> None:
    key = durable_host.keys["functionKeys"]["default"]

    answer = durable_host.request("GET", f"/api/keyed?code={key}")

    assert answer.status == 200


def test_function_level_accepts_x_functions_key_header(durable_host: RunningHost) -> None:
    key = durable_host.keys["functionKeys"]["default"]

    answer = durable_host.request("GET", "/api/keyed", headers={"x-functions-key": key})

    assert answer.status == 200


def test_function_level_rejects_a_wrong_key(durable_host: RunningHost) -> None:
    answer = durable_host.request("GET", "/api/keyed", headers={"x-functions-key": "wrong"})

    assert answer.status == 401


def test_admin_level_rejects_the_function_key(durable_host: RunningHost) -> None:
    key = durable_host.keys["functionKeys"]["default"]

    assert durable_host.request("GET", f"/api/operator?code={key}").status == 401


def test_admin_level_accepts_the_master_key(durable_host: RunningHost) -> None:
    master = durable_host.keys["masterKey"]

    answer = durable_host.request("GET", "/api/operator", headers={"x-functions-key": master})

    assert answer.status == 200


def test_request_reaches_function_as_the_worker_builds_it(durable_host: RunningHost) -> None:
    answer = durable_host.request(
        "POST", "/api/echo/5/extra?a=1&empty=", raw=b"payload", headers={"X-Custom": "yes"}
    )
    echoed = answer.json()

    assert answer.status == 200
    assert answer.headers["x-answer"] == "42"
    assert echoed["route"] == {"id": "5", "rest": "extra"}
    assert echoed["query"] == {"a": "1"}
    assert echoed["header"] == "yes"
    assert echoed["body"] == "payload"
    assert echoed["function"] == "echo"
    assert echoed["invocation"] is True


def test_app_sees_its_state_folder_in_the_environment(durable_host: RunningHost) -> None:
    echoed = durable_host.request("GET", "/api/echo/1").json()

    assert echoed["state_dir"] == str(durable_host.state_dir.resolve())


def test_optional_route_parameter_may_be_left_out(durable_host: RunningHost) -> None:
    echoed = durable_host.request("GET", "/api/echo/7").json()

    assert echoed["route"] == {"id": "7"}


def test_int_constraint_rejects_text_with_404(durable_host: RunningHost) -> None:
    assert durable_host.request("GET", "/api/echo/seven").status == 404


def test_method_outside_the_filter_is_404(durable_host: RunningHost) -> None:
    assert durable_host.request("DELETE", "/api/echo/7").status == 404


def test_catch_all_parameter_takes_the_rest_of_the_path(durable_host: RunningHost) -> None:
    answer = durable_host.request("GET", "/api/files/a/b/c.txt")

    assert answer.body == b"path=a/b/c.txt"


def test_function_exception_is_500_without_details(durable_host: RunningHost) -> None:
    answer = durable_host.request("GET", "/api/broken")

    assert answer.status == 500
    assert b"secret" not in answer.body
    assert b"Traceback" not in answer.body


def test_out_parameter_does_not_break_the_response(durable_host: RunningHost) -> None:
    answer = durable_host.request("GET", "/api/output")

    assert answer.status == 200
    assert answer.body == b"set"


def test_admin_endpoint_fires_a_non_http_function(durable_host: RunningHost) -> None:
    master = durable_host.keys["masterKey"]

    answer = durable_host.request(
        "POST", "/admin/functions/yearly", {"input": ""}, headers={"x-functions-key": master}
    )

    assert answer.status == 202


def test_admin_endpoint_without_master_key_is_401(durable_host: RunningHost) -> None:
    key = durable_host.keys["functionKeys"]["default"]

    answer = durable_host.request("POST", f"/admin/functions/yearly?code={key}", {"input": ""})

    assert answer.status == 401


def test_admin_endpoint_for_unknown_function_is_404(durable_host: RunningHost) -> None:
    master = durable_host.keys["masterKey"]

    answer = durable_host.request(
        "POST", "/admin/functions/nothing", {"input": ""}, headers={"x-functions-key": master}
    )

    assert answer.status == 404


def test_durable_client_starter_returns_check_status_response(durable_host: RunningHost) -> None:
    answer = durable_host.request("POST", "/api/start/chain")
    payload = answer.json()

    assert answer.status == 202
    assert answer.headers["Location"] == payload["statusQueryGetUri"]
    assert payload["id"]


def test_postponed_annotations_still_bind_out_parameters(tmp_path: Path) -> None:
    host = launch("annotations_app", tmp_path)
    try:
        answer = host.request("POST", "/api/note", raw=b"hi")
    finally:
        host.stop()

    assert answer.status == 200
    assert answer.body == b"body=hi"
