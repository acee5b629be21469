"""The Cosmos DB account the Bicep creates has the containers and partition keys the app uses."""

from __future__ import annotations

import pytest

from adapters import composition

# The composition root names each container's database by service; main.bicep passes each
# service's database name to the Cosmos module under these parameter names.
DATABASE_PARAMETERS = {"orders": "ordersDatabaseName", "shipments": "shipmentsDatabaseName"}
APP_CONTAINERS = [composition.ORDERS, composition.STOCK, composition.SHIPMENTS]


@pytest.fixture(scope="module")
def bicep_containers(module_bicep) -> dict[str, dict]:
    containers = module_bicep["cosmos"]["variables"]["containers"]["value"]
    return {container["name"]: container for container in containers}


def test_bicep_creates_exactly_the_app_containers(bicep_containers):
    assert set(bicep_containers) == {spec.name for spec in APP_CONTAINERS}


@pytest.mark.parametrize("spec", APP_CONTAINERS, ids=lambda spec: spec.name)
def test_container_partition_key_matches_app(bicep_containers, spec):
    assert bicep_containers[spec.name]["partitionKey"] == spec.partition_key_path


@pytest.mark.parametrize("spec", APP_CONTAINERS, ids=lambda spec: spec.name)
def test_container_lives_in_its_service_database(bicep_containers, spec):
    assert bicep_containers[spec.name]["database"] == DATABASE_PARAMETERS[spec.service]


def test_container_resources_loop_over_the_container_list(module_bicep):
    loop = module_bicep["cosmos"]["resources"]["containerResources"]["config"]["loop_type"]

    assert loop["detail"]["array_name"] == "containers"


def test_cosmos_account_is_serverless_and_keyless(module_bicep):
    properties = module_bicep["cosmos"]["resources"]["account"]["config"]["properties"]

    assert properties["capabilities"] == [{"name": "EnableServerless"}]
    assert properties["disableLocalAuth"] is True
    assert properties["disableKeyBasedMetadataWriteAccess"] is True


def test_app_gets_cosmos_builtin_data_contributor(module_bicep):
    access = module_bicep["access"]

    assert access["variables"]["cosmosDataContributor"]["value"] == (
        "00000000-0000-0000-0000-000000000002"
    )
    assert access["resources"]["cosmosAssignment"]["type"] == (
        "Microsoft.DocumentDB/databaseAccounts/sqlRoleAssignments"
    )
