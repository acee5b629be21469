"""Start-up: loading the app, failing clearly, keys, settings and the operator command."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from devhost_support import APPS, REPO_ROOT, launch


def _failed_start(app: str, state_dir: Path) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "devhost", "start", "--app", str(APPS / app), "--port", "0",
               "--state", str(state_dir), "--no-gateway"]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)


def test_import_error_fails_start_up_naming_the_error(tmp_path: Path) -> None:
    result = _failed_start("import_error", tmp_path)

    assert result.returncode != 0
    assert "Importing function_app" in result.stderr
    assert "module_that_does_not_exist" in result.stderr


def test_route_conflict_fails_start_up_naming_both_functions(tmp_path: Path) -> None:
    result = _failed_start("route_conflict", tmp_path)

    assert result.returncode != 0
    assert "Route conflict" in result.stderr
    assert "'get_order'" in result.stderr
    assert "'get_order_again'" in result.stderr


def test_reserved_route_fails_start_up(tmp_path: Path) -> None:
    result = _failed_start("reserved_route", tmp_path)

    assert result.returncode != 0
    assert "reserved route 'admin/reset'" in result.stderr


def test_orchestrator_context_not_named_context_fails_start_up(tmp_path: Path) -> None:
    result = _failed_start("context_name", tmp_path)

    assert result.returncode != 0
    assert "Orchestrator 'misnamed' names its context 'ctx'" in result.stderr


def test_start_up_lists_functions_and_what_devhost_does_not_run(tmp_path: Path) -> None:
    host = launch("durable_app", tmp_path)
    host.stop()
    table = host.text()

    assert "GET,POST /api/echo/{id:int}/{rest?} [ANONYMOUS]" in table
    assert "(not run by devhost)" in next(line for line in table.splitlines() if "yearly" in line)


def test_keys_are_created_once_and_kept_across_restarts(tmp_path: Path) -> None:
    first = launch("durable_app", tmp_path)
    keys = first.keys
    first.stop()
    second = launch("durable_app", tmp_path)
    again = second.keys
    second.stop()

    assert keys == again
    assert keys["masterKey"] != keys["functionKeys"]["default"]


def test_second_host_on_the_same_state_folder_is_refused(tmp_path: Path) -> None:
    running = launch("durable_app", tmp_path)
    try:
        result = _failed_start("durable_app", tmp_path)
    finally:
        running.stop()

    assert result.returncode != 0
    assert "Another devhost is using the state folder" in result.stderr


def test_local_settings_values_reach_the_app_environment(tmp_path: Path) -> None:
    app_dir = tmp_path / "app"
    shutil.copytree(APPS / "durable_app", app_dir)
    settings = {"IsEncrypted": False, "Values": {"DEVHOST_TEST_SETTING": "from-file"}}
    (app_dir / "local.settings.json").write_text(json.dumps(settings))
    host = launch(app_dir, tmp_path / "state")
    try:
        echoed = host.request("GET", "/api/echo/1").json()
    finally:
        host.stop()

    assert echoed["setting"] == "from-file"


def test_stop_signal_ends_the_host_cleanly(tmp_path: Path) -> None:
    host = launch("durable_app", tmp_path)

    exit_code = host.stop()

    assert exit_code == 0
    assert "devhost stopped" in host.text()


def test_stop_closes_durable_client_session(tmp_path: Path) -> None:
    host = launch("durable_app", tmp_path)
    try:
        host.wait_for(host.start("chain"))
    finally:
        host.stop()

    assert "Unclosed client session" not in host.text()
    assert "Unclosed connector" not in host.text()


def test_instances_command_lists_instances_by_status(tmp_path: Path) -> None:
    host = launch("durable_app", tmp_path)
    try:
        done = host.start("chain")
        host.wait_for(done)
        waiting = host.start("waiter")
        host.wait_for(waiting, ("Running",))
    finally:
        host.stop()
    command = [sys.executable, "-m", "devhost", "instances", "--state", str(tmp_path),
               "--status", "Completed"]

    listed = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)

    assert listed.returncode == 0
    assert done in listed.stdout
    assert waiting not in listed.stdout
