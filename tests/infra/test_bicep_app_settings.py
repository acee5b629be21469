"""The Function App's app settings in the Bicep cover every setting the app reads, keylessly."""

from __future__ import annotations

import json

import pytest
from bicep_tree import walk

from adapters import settings

# Settings Flex Consumption sets from `functionAppConfig` or does not support; the platform
# rejects or ignores them as app settings.
FLEX_UNSUPPORTED = {
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_EXTENSION_VERSION",
    "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_CONTENTSHARE",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
}

# Identity-based connections: the Functions host's storage, the Service Bus trigger
# connection and Entra-authenticated telemetry.
IDENTITY_CONNECTIONS = {
    "AzureWebJobsStorage__accountName": None,
    "AzureWebJobsStorage__credential": "managedidentity",
    "APPLICATIONINSIGHTS_AUTHENTICATION_STRING": "Authorization=AAD",
    f"{settings.SERVICEBUS_CONNECTION}__fullyQualifiedNamespace": None,
    settings.COSMOS_ENDPOINT: None,
}


@pytest.fixture(scope="module")
def app_settings(main_bicep) -> dict:
    return main_bicep["variables"]["appSettings"]["value"]


def test_app_settings_cover_settings_all(app_settings):
    missing = set(settings.ALL) - set(app_settings)

    assert not missing, f"settings read by the app but not set in infra/main.bicep: {missing}"


@pytest.mark.parametrize("name", sorted(IDENTITY_CONNECTIONS))
def test_app_settings_set_identity_connection(app_settings, name):
    assert name in app_settings


@pytest.mark.parametrize(
    "name", [name for name, value in IDENTITY_CONNECTIONS.items() if value is not None]
)
def test_identity_connection_has_expected_literal(app_settings, name):
    assert app_settings[name] == IDENTITY_CONNECTIONS[name]


def test_app_settings_have_no_storage_connection_string(app_settings):
    assert "AzureWebJobsStorage" not in app_settings


def test_app_settings_avoid_flex_unsupported_names(app_settings):
    assert not FLEX_UNSUPPORTED & set(app_settings)


def test_app_settings_carry_no_key(app_settings):
    text = json.dumps(app_settings)

    assert "list_func" not in text
    assert "AccountKey" not in text
    assert "SharedAccessKey" not in text


def test_database_settings_match_cosmos_module(app_settings, main_bicep):
    cosmos_params = main_bicep["modules"]["cosmos"]["config"]["params"]

    assert app_settings[settings.ORDERS_DATABASE] == cosmos_params["ordersDatabaseName"]
    assert app_settings[settings.SHIPMENTS_DATABASE] == cosmos_params["shipmentsDatabaseName"]


def test_database_names_are_the_app_defaults(main_bicep):
    defaults = settings.load_settings({})
    variables = main_bicep["variables"]

    assert variables["ordersDatabaseName"]["value"] == defaults.orders_database
    assert variables["shipmentsDatabaseName"]["value"] == defaults.shipments_database


def test_function_app_module_gets_app_settings(main_bicep):
    params = main_bicep["modules"]["functionApp"]["config"]["params"]

    assert params["appSettings"] == "appSettings"


def test_function_app_writes_app_settings(module_bicep):
    config = module_bicep["functionapp"]["resources"]["settings"]["config"]

    assert config["name"] == "appsettings"
    assert config["properties"] == "appSettings"


def test_function_app_runs_python_311_on_flex(module_bicep):
    resources = module_bicep["functionapp"]["resources"]
    runtime = resources["functionApp"]["config"]["properties"]["functionAppConfig"]["runtime"]

    assert resources["plan"]["config"]["sku"] == {"tier": "FlexConsumption", "name": "FC1"}
    assert runtime == {"name": "python", "version": "3.11"}


def test_function_app_uses_system_assigned_identity(module_bicep):
    site = module_bicep["functionapp"]["resources"]["functionApp"]["config"]
    deployment = site["properties"]["functionAppConfig"]["deployment"]["storage"]

    assert site["identity"] == {"type": "SystemAssigned"}
    assert deployment["authentication"] == {"type": "SystemAssignedIdentity"}


def test_outputs_carry_no_key(main_bicep, module_bicep):
    trees = {"main": main_bicep, **module_bicep}

    for name, tree in trees.items():
        for output_name, output in tree.get("outputs", {}).items():
            text = json.dumps(output)
            assert "list_func" not in text, f"{name}.{output_name}"
            assert "ConnectionString" not in text, f"{name}.{output_name}"


def test_every_data_service_disables_local_auth(module_bicep):
    flags = [
        item.get("disableLocalAuth", item.get("DisableLocalAuth"))
        for tree in module_bicep.values()
        for item in walk(tree.get("resources", {}))
        if isinstance(item, dict) and ("disableLocalAuth" in item or "DisableLocalAuth" in item)
    ]

    # Log Analytics, Application Insights, Cosmos DB and Service Bus.
    assert flags == [True] * 4


def test_storage_disallows_shared_key_access(module_bicep):
    properties = module_bicep["storage"]["resources"]["storage"]["config"]["properties"]

    assert properties["allowSharedKeyAccess"] is False
