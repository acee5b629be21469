"""Loading an apim/ folder: what the gateway rejects, named values, keys, an absent folder."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest
from gateway_support import REPOSITORY, host_context

from devhost import gateway
from devhost.gateway.config import load_config
from devhost.gateway.errors import GatewayConfigError, GatewayStartError
from devhost.gateway.subscriptions import SUBSCRIPTIONS_FILE, load_or_create_subscriptions

PROVIDED = {"functions-base-url": "http://127.0.0.1:7071", "functions-key": "k"}


@pytest.fixture
def apim(tmp_path: Path) -> Path:
    """A copy of the repository's apim/ folder that a test may edit."""
    copy = tmp_path / "apim"
    shutil.copytree(REPOSITORY / "apim", copy)
    return copy


def insert_into_api_inbound(apim: Path, xml: str) -> None:
    path = apim / "policies" / "api.xml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("<base />", f"<base />{xml}", 1), encoding="utf-8")


def test_repository_apim_folder_loads():
    config = load_config(REPOSITORY / "apim", {}, PROVIDED)

    assert len(config.operation_policies) == 7


def test_unimplemented_policy_rejected_naming_file(apim):
    insert_into_api_inbound(
        apim, '<ip-filter action="allow"><address>1.2.3.4</address></ip-filter>'
    )

    with pytest.raises(GatewayConfigError) as raised:
        load_config(apim, {}, PROVIDED)

    assert "<ip-filter>" in str(raised.value)
    assert "api.xml" in str(raised.value)


def test_unimplemented_attribute_rejected(apim):
    insert_into_api_inbound(apim, '<set-backend-service backend-id="functions" />')

    with pytest.raises(GatewayConfigError, match="backend-id"):
        load_config(apim, {}, PROVIDED)


def test_unimplemented_expression_rejected_naming_it(apim):
    insert_into_api_inbound(
        apim,
        '<set-header name="x-user" exists-action="override">'
        "<value>@(context.User.Email)</value></set-header>",
    )

    with pytest.raises(GatewayConfigError) as raised:
        load_config(apim, {}, PROVIDED)

    assert "@(context.User.Email)" in str(raised.value)
    assert "api.xml" in str(raised.value)


def test_expression_match_ignores_whitespace(apim):
    path = apim / "policies" / "global.xml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace('context.LastError.Source == "', 'context.LastError.Source=="'))

    config = load_config(apim, {}, PROVIDED)

    assert config.global_policy["on-error"]


def test_unknown_named_value_names_setting(apim):
    insert_into_api_inbound(apim, '<set-backend-service base-url="{{nowhere-url}}" />')

    with pytest.raises(GatewayConfigError, match="APIM_NAMED_VALUE_NOWHERE_URL"):
        load_config(apim, {}, PROVIDED)


def test_named_value_setting_overrides_default():
    settings = {"APIM_NAMED_VALUE_CORS_ALLOWED_ORIGIN": "https://shop.example"}

    config = load_config(REPOSITORY / "apim", settings, PROVIDED)

    assert config.named_values["cors-allowed-origin"] == "https://shop.example"


def test_function_key_named_value_is_secret():
    config = load_config(REPOSITORY / "apim", {}, PROVIDED)

    assert config.secret_values == ["k"]


def test_unknown_operation_file_rejected(apim):
    (apim / "policies" / "operations" / "deleteOrder.xml").write_text("<policies />")

    with pytest.raises(GatewayConfigError, match="deleteOrder"):
        load_config(apim, {}, PROVIDED)


def test_malformed_policy_file_rejected(apim):
    (apim / "policies" / "api.xml").write_text("<policies><inbound></policies>")

    with pytest.raises(GatewayConfigError, match=r"api\.xml"):
        load_config(apim, {}, PROVIDED)


def test_operation_without_backend_rejected(apim):
    path = apim / "policies" / "api.xml"
    text = path.read_text(encoding="utf-8")
    path.write_text(
        text.replace('<set-backend-service base-url="{{functions-base-url}}/api" />', "")
    )

    with pytest.raises(GatewayConfigError, match="no backend"):
        load_config(apim, {}, PROVIDED)


def test_rate_limit_period_over_300_rejected(apim):
    settings = {"APIM_NAMED_VALUE_RATE_LIMIT_PERIOD": "301"}

    with pytest.raises(GatewayConfigError, match="renewal-period=301"):
        load_config(apim, settings, PROVIDED)


def test_subscriptions_file_created_once_with_two_keys(tmp_path):
    first = load_or_create_subscriptions(tmp_path)
    again = load_or_create_subscriptions(tmp_path)
    stored = json.loads((tmp_path / SUBSCRIPTIONS_FILE).read_text())

    assert len(first) == 1
    assert first[0].primary_key != first[0].secondary_key
    assert again == first
    assert stored["subscriptions"][0]["primaryKey"] == first[0].primary_key


async def test_start_returns_none_without_apim_folder(tmp_path):
    host = host_context(tmp_path, tmp_path / "state", "http://127.0.0.1:7071")

    assert await gateway.start(host) is None


async def test_start_returns_none_with_no_gateway_option(tmp_path):
    host = host_context(REPOSITORY, tmp_path / "state", "http://127.0.0.1:7071")
    host.args.no_gateway = True

    assert await gateway.start(host) is None


async def test_start_reads_apim_dir_setting(tmp_path, apim):
    moved = tmp_path / "gateway-definitions"
    apim.rename(moved)
    host = host_context(
        tmp_path,
        tmp_path / "state",
        "http://127.0.0.1:7071",
        {"DEVHOST_APIM_DIR": "gateway-definitions"},
    )

    running = await gateway.start(host)
    await running.stop()

    assert running.runtime.config.apim_dir == moved


async def test_start_on_busy_port_names_port(tmp_path):
    host = host_context(REPOSITORY, tmp_path / "state", "http://127.0.0.1:7071")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", host.args.gateway_port))
        busy.listen()

        with pytest.raises(GatewayStartError, match=str(host.args.gateway_port)):
            await gateway.start(host)


async def test_port_zero_picks_free_port(tmp_path):
    host = host_context(REPOSITORY, tmp_path / "state", "http://127.0.0.1:7071")
    host.args.gateway_port = 0

    running = await gateway.start(host)
    await running.stop()

    assert not running.url.endswith(":0")
