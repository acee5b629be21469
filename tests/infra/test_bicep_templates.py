"""The Bicep templates parse, and azd's project and parameter files agree with them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from bicep_tree import INFRA, ROOT, parse_bicep, walk

BICEP_FILES = sorted(INFRA.rglob("*.bicep"))


def test_infra_has_main_and_modules():
    names = {path.relative_to(INFRA).as_posix() for path in BICEP_FILES}

    assert "main.bicep" in names
    assert any(name.startswith("modules/") for name in names)


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda path: path.relative_to(INFRA).as_posix())
def test_bicep_file_parses(path: Path):
    tree = parse_bicep(path)

    assert tree.get("resources") or tree.get("modules")


@pytest.mark.parametrize("path", BICEP_FILES, ids=lambda path: path.relative_to(INFRA).as_posix())
def test_bicep_file_has_no_syntax_error(path: Path):
    # tree-sitter-bicep is a second, independent grammar. It follows Bicep more closely than
    # pycep in places, for example it accepts `[for x in y: if (...) {...}]` and pycep does not.
    import tree_sitter
    import tree_sitter_bicep as bicep_grammar

    parser = tree_sitter.Parser(tree_sitter.Language(bicep_grammar.language()))

    tree = parser.parse(path.read_bytes())

    assert not tree.root_node.has_error


def test_main_targets_subscription_scope(main_bicep):
    assert main_bicep["globals"]["scope"]["value"] == "subscription"


def test_every_module_path_exists(main_bicep, module_bicep):
    referenced = [(INFRA, module) for module in main_bicep["modules"].values()]
    for tree in module_bicep.values():
        referenced += [(INFRA / "modules", module) for module in tree.get("modules", {}).values()]

    for folder, module in referenced:
        assert (folder / module["detail"]["path"]).is_file(), module["detail"]["path"]


def test_parameters_file_sets_required_parameters(main_bicep):
    values = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    required = {
        name
        for name, parameter in main_bicep["parameters"].items()
        if parameter.get("default") is None
    }

    assert required <= set(values)


def test_parameters_file_names_declared_parameters(main_bicep):
    values = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]

    assert set(values) <= set(main_bicep["parameters"])


def test_parameters_file_takes_azd_environment_values():
    values = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]

    assert values["environmentName"]["value"] == "${AZURE_ENV_NAME}"
    assert values["location"]["value"] == "${AZURE_LOCATION}"
    assert values["principalId"]["value"] == "${AZURE_PRINCIPAL_ID}"


def test_azure_yaml_deploys_python_function():
    project = yaml.safe_load((ROOT / "azure.yaml").read_text())
    (service,) = project["services"].values()

    assert service["project"] == "."
    assert service["language"] == "python"
    assert service["host"] == "function"


def test_azure_yaml_points_at_main_bicep():
    project = yaml.safe_load((ROOT / "azure.yaml").read_text())

    assert (ROOT / project["infra"]["path"] / f"{project['infra']['module']}.bicep").is_file()


def test_function_app_carries_azd_service_tag(module_bicep):
    project = yaml.safe_load((ROOT / "azure.yaml").read_text())
    (service_name,) = project["services"]
    tags = module_bicep["functionapp"]["resources"]["functionApp"]["config"]["tags"]
    tag_values = [
        value
        for item in walk(tags)
        if isinstance(item, dict)
        for key, value in item.items()
        if key.strip("'") == "azd-service-name"
    ]

    assert tag_values == [service_name]


def test_outputs_name_function_app_and_gateway(main_bicep):
    outputs = set(main_bicep["outputs"])

    assert {"AZURE_FUNCTION_NAME", "AZURE_RESOURCE_GROUP", "AZURE_APIM_GATEWAY_URL"} <= outputs
