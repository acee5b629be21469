"""API Management in the Bicep is built from apim/, the same files devhost's gateway reads."""

from __future__ import annotations

import json

import pytest
import yaml
from bicep_tree import MODULES, ROOT, function_calls, loaded_files

APIM = ROOT / "apim"
OPERATION_POLICIES = sorted((APIM / "policies" / "operations").glob("*.xml"))


@pytest.fixture(scope="module")
def apim_bicep(module_bicep) -> dict:
    return module_bicep["apim"]


@pytest.fixture(scope="module")
def operation_ids() -> set[str]:
    document = yaml.safe_load((APIM / "openapi.yaml").read_text(encoding="utf-8"))
    return {
        operation["operationId"]
        for path_item in document["paths"].values()
        for operation in path_item.values()
        if isinstance(operation, dict) and "operationId" in operation
    }


@pytest.mark.parametrize(
    "relative_path",
    ["openapi.yaml", "named-values.json", "policies/global.xml", "policies/api.xml"],
)
def test_apim_module_loads_file(relative_path):
    assert (APIM / relative_path).resolve() in loaded_files(MODULES / "apim.bicep")


@pytest.mark.parametrize("path", OPERATION_POLICIES, ids=lambda path: path.name)
def test_apim_module_loads_operation_policy(path):
    assert path.resolve() in loaded_files(MODULES / "apim.bicep")


def test_operation_policy_file_names_match(apim_bicep):
    for entry in apim_bicep["variables"]["operationPolicies"]["value"]:
        (call,) = function_calls(entry["policy"], "load_text_content")
        assert call["file_path"].endswith(f"/{entry['operationId']}.xml")


def test_operation_policies_name_operations(apim_bicep, operation_ids):
    for entry in apim_bicep["variables"]["operationPolicies"]["value"]:
        assert entry["operationId"] in operation_ids


def test_host_named_values_are_filled(apim_bicep):
    definitions = json.loads((APIM / "named-values.json").read_text(encoding="utf-8"))
    filled = {key.strip("'") for key in apim_bicep["variables"]["hostNamedValues"]["value"]}
    without_value = {name for name, entry in definitions.items() if "value" not in entry}

    assert without_value <= filled


def test_function_key_secret_from_list_keys(apim_bicep):
    entry = apim_bicep["variables"]["hostNamedValues"]["value"]["'functions-key'"]
    (call,) = function_calls(entry["value"], "list_func")

    assert entry["secret"] is True
    assert call["func_name"] == "listKeys"
    assert call["resource_identifier"] == "${functionApp.id}/host/default"


def test_named_values_loop_over_the_definitions(apim_bicep):
    loop = apim_bicep["resources"]["namedValues"]["config"]["loop_type"]["detail"]
    (items_call,) = function_calls(loop["array_name"], "items")

    assert items_call["arg_1"] == "namedValueDefinitions"


def test_api_requires_a_subscription_key(apim_bicep):
    properties = apim_bicep["resources"]["api"]["config"]["properties"]

    assert properties["format"] == "openapi"
    assert properties["subscriptionRequired"] is True


def test_subscription_is_scoped_to_the_product(apim_bicep):
    resources = apim_bicep["resources"]

    assert resources["subscription"]["config"]["properties"]["scope"] == "/products/${product.name}"
    assert resources["productApi"]["config"]["parent"] == "product"


def test_gateway_is_consumption_tier(apim_bicep):
    sku = apim_bicep["resources"]["service"]["config"]["sku"]

    assert sku == {"name": "Consumption", "capacity": 0}
