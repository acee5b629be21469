"""The Service Bus entities the Bicep creates are the ones infra/servicebus/Config.json declares.

The Bicep loads the file itself. These tests check that it does and that it maps every property
the file uses onto the Azure Resource Manager property of the same meaning. They also check
that every Service Bus trigger of the app listens on an entity the file declares.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from bicep_tree import MODULES, ROOT, SERVICEBUS_CONFIG, accessed_properties, loaded_files

from adapters import settings

# Emulator property names that map onto an ARM property with a different name or shape.
RULE_PROPERTIES = {"FilterType", "SqlFilter", "CorrelationFilter", "Action"}


def arm_name(emulator_name: str) -> str:
    """Return the ARM property name of an emulator property: the same name in camelCase."""
    return emulator_name[0].lower() + emulator_name[1:]


def property_names(entities: list[dict]) -> set[str]:
    return {name for entity in entities for name in entity.get("Properties", {})}


def subscriptions_of(config: dict) -> list[dict]:
    return [sub for topic in config.get("Topics", []) for sub in topic.get("Subscriptions", [])]


def rules_of(config: dict) -> list[dict]:
    return [rule for sub in subscriptions_of(config) for rule in sub.get("Rules", [])]


def test_servicebus_module_loads_the_emulator_config():
    assert SERVICEBUS_CONFIG.resolve() in loaded_files(MODULES / "servicebus.bicep")


def test_queues_and_topics_loop_over_the_loaded_config(module_bicep):
    resources = module_bicep["servicebus"]["resources"]
    arrays = {
        name: resources[name]["config"]["loop_type"]["detail"]["array_name"]["operator"]
        for name in ("queues", "topics")
    }

    assert arrays["queues"]["operands"] == {"operand_1": "entities", "operand_2": "Queues"}
    assert arrays["topics"]["operands"] == {"operand_1": "entities", "operand_2": "Topics"}


def test_subscriptions_module_gets_subscriptions(module_bicep):
    params = module_bicep["servicebus"]["modules"]["subscriptions"]["config"]["config"]["params"]

    assert params["subscriptions"]["operator"]["operands"] == {
        "operand_1": "topic",
        "operand_2": "Subscriptions",
    }


def test_rules_module_gets_rules(module_bicep):
    module = module_bicep["servicebus-subscriptions"]["modules"]["rules"]

    assert "Rules" in accessed_properties(module["config"]["config"]["params"]["rules"])


@pytest.mark.parametrize(
    ("module", "resource", "select"),
    [
        ("servicebus", "queues", lambda config: config.get("Queues", [])),
        ("servicebus", "topics", lambda config: config.get("Topics", [])),
        ("servicebus-subscriptions", "topicSubscriptions", subscriptions_of),
    ],
    ids=["queues", "topics", "subscriptions"],
)
def test_config_property_maps_to_arm(module_bicep, servicebus_config, module, resource, select):
    arm_properties = module_bicep[module]["resources"][resource]["config"]["config"]["properties"]

    for name in sorted(property_names(select(servicebus_config))):
        assert arm_name(name) in arm_properties, f"{resource}: {name} is not mapped"
        assert name in accessed_properties(arm_properties[arm_name(name)]), name


def test_every_rule_property_is_read(module_bicep, servicebus_config):
    rules = rules_of(servicebus_config)
    used = property_names(rules)
    filter_fields = {
        field
        for rule in rules
        for kind in ("SqlFilter", "CorrelationFilter", "Action")
        for field in rule["Properties"].get(kind, {})
    }
    read = accessed_properties(module_bicep["servicebus-rules"])

    unmapped = used - RULE_PROPERTIES
    assert not unmapped, f"rule properties the Bicep does not map: {unmapped}"
    assert used <= read
    assert filter_fields <= read, f"filter fields the Bicep does not map: {filter_fields - read}"


def test_rule_filter_types_have_arm_equivalents(servicebus_config):
    for rule in rules_of(servicebus_config):
        # The Bicep appends `Filter`: Sql becomes SqlFilter, Correlation CorrelationFilter.
        assert rule["Properties"]["FilterType"] in {"Sql", "Correlation"}, rule["Name"]


def test_namespace_is_standard_tier_and_keyless(module_bicep):
    namespace = module_bicep["servicebus"]["resources"]["namespace"]["config"]

    assert namespace["sku"]["name"] == "Standard"
    assert namespace["properties"]["disableLocalAuth"] is True


def test_app_gets_data_sender_and_receiver(module_bicep):
    variables = module_bicep["access"]["variables"]

    roles = variables["serviceBusRoles"]["value"]

    assert roles == ["serviceBusDataSender", "serviceBusDataReceiver"]
    assert variables["serviceBusDataSender"]["value"] == "69a216fc-b8fb-44d8-bc22-1f3c2cd27a39"
    assert variables["serviceBusDataReceiver"]["value"] == "4f6d3b9b-027b-4f4c-9142-0e5a2a2247e0"


# Indexes function_app in a child process, so that its module-level composition runs with a
# state folder of the test's own. The namespace only selects the Service Bus publisher, which
# connects on its first send; indexing sends nothing.
INDEX_TRIGGERS = """
import json, function_app
bindings = [
    binding
    for function in function_app.app.get_functions()
    for binding in json.loads(function.get_function_json())["bindings"]
    if binding["type"] == "serviceBusTrigger"
]
print(json.dumps(bindings))
"""


@pytest.fixture(scope="module")
def servicebus_trigger_bindings(tmp_path_factory) -> list[dict]:
    env = {
        **os.environ,
        settings.EMBEDDED_STATE_DIR: str(tmp_path_factory.mktemp("devhost-state")),
        settings.SERVICEBUS_NAMESPACE: "ajbikes-index-only.servicebus.windows.net",
    }
    env.pop(settings.COSMOS_ENDPOINT, None)

    result = subprocess.run(
        [sys.executable, "-c", INDEX_TRIGGERS],
        cwd=Path(ROOT),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, f"indexing function_app failed:\n{result.stderr}"
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_app_has_servicebus_triggers(servicebus_trigger_bindings):
    assert servicebus_trigger_bindings


def test_trigger_queues_exist_in_config(servicebus_trigger_bindings, servicebus_config):
    queues = {queue["Name"] for queue in servicebus_config.get("Queues", [])}

    for binding in servicebus_trigger_bindings:
        if "queueName" in binding:
            assert binding["queueName"] in queues


def test_trigger_subscriptions_exist_in_config(servicebus_trigger_bindings, servicebus_config):
    subscriptions = {
        (topic["Name"], sub["Name"])
        for topic in servicebus_config.get("Topics", [])
        for sub in topic.get("Subscriptions", [])
    }

    for binding in servicebus_trigger_bindings:
        if "topicName" in binding:
            assert (binding["topicName"], binding["subscriptionName"]) in subscriptions


def test_trigger_connections_are_identity_based(servicebus_trigger_bindings, main_bicep):
    app_settings = main_bicep["variables"]["appSettings"]["value"]

    for binding in servicebus_trigger_bindings:
        assert f"{binding['connection']}__fullyQualifiedNamespace" in app_settings
