"""apim/openapi.yaml describes the API the app serves, and its schemas match the domain models."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from domain.orders import Address, Order, OrderLine, OrderStatus, PlaceOrder, StatusChange
from domain.shipments import Shipment, ShipmentChange, ShipmentItem, ShipmentStatus
from simulation.catalog import sample_catalog

DOCUMENT = yaml.safe_load(
    (Path(__file__).resolve().parents[2] / "apim" / "openapi.yaml").read_text(encoding="utf-8")
)
SCHEMAS = DOCUMENT["components"]["schemas"]
OPERATIONS = {
    (method.upper(), path): operation
    for path, item in DOCUMENT["paths"].items()
    for method, operation in item.items()
}

# Request bodies: the OpenAPI types must be accepted by the model (they may be narrower).
REQUEST_MODELS = {"PlaceOrder": PlaceOrder, "OrderLine": OrderLine, "Address": Address}
# Response documents: the OpenAPI types must be exactly what the model serializes.
RESPONSE_MODELS = {
    "Order": Order,
    "StatusChange": StatusChange,
    "Shipment": Shipment,
    "ShipmentItem": ShipmentItem,
    "ShipmentChange": ShipmentChange,
}
ENUMS = {"OrderStatus": OrderStatus, "ShipmentStatus": ShipmentStatus}


def openapi_schema(schema: dict) -> dict:
    """Follow $ref and a single-entry allOf to the schema they name."""
    while True:
        if "$ref" in schema:
            schema = {**_target(schema["$ref"]), **_siblings(schema)}
        elif len(schema.get("allOf", [])) == 1:
            schema = {**openapi_schema(schema["allOf"][0]), **_siblings(schema)}
        else:
            return schema


def _target(reference: str) -> dict:
    """Return the part of the document a local reference such as #/components/x/y names."""
    target = DOCUMENT
    for part in reference.removeprefix("#/").split("/"):
        target = target[part]
    return target


def _siblings(schema: dict) -> dict:
    return {key: value for key, value in schema.items() if key not in ("$ref", "allOf")}


def openapi_types(schema: dict) -> tuple[set[str], bool]:
    """Return the JSON types of an OpenAPI 3.0 property and whether it is nullable."""
    resolved = openapi_schema(schema)
    types = {resolved["type"]} if "type" in resolved else {"object"}
    return types, bool(resolved.get("nullable"))


def model_types(schema: dict, definitions: dict) -> tuple[set[str], bool]:
    """Return the JSON types of a pydantic JSON-schema property and whether null is allowed."""
    if "$ref" in schema:
        schema = definitions[schema["$ref"].rsplit("/", 1)[1]]
    if "anyOf" in schema:
        types: set[str] = set()
        nullable = False
        for option in schema["anyOf"]:
            option_types, option_nullable = model_types(option, definitions)
            nullable |= option_nullable or option_types == {"null"}
            types |= option_types - {"null"}
        return types, nullable
    if "enum" in schema and "type" not in schema:
        return {"string"}, False
    return {schema["type"]}, schema["type"] == "null"


def model_schema(model, mode: str) -> tuple[dict, dict]:
    schema = model.model_json_schema(by_alias=True, mode=mode)
    return schema, schema.get("$defs", {})


@pytest.mark.parametrize(
    ("name", "model", "mode"),
    [(n, m, "validation") for n, m in REQUEST_MODELS.items()]
    + [(n, m, "serialization") for n, m in RESPONSE_MODELS.items()],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_schema_properties_match_model(name, model, mode):
    documented = openapi_schema(SCHEMAS[name])
    expected, _ = model_schema(model, mode)

    assert set(documented["properties"]) == set(expected["properties"])


@pytest.mark.parametrize(
    ("name", "model", "mode"),
    [(n, m, "validation") for n, m in REQUEST_MODELS.items()]
    + [(n, m, "serialization") for n, m in RESPONSE_MODELS.items()],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_schema_required_fields_match_model(name, model, mode):
    documented = openapi_schema(SCHEMAS[name])
    expected, _ = model_schema(model, mode)

    assert set(documented.get("required", [])) == set(expected.get("required", []))


@pytest.mark.parametrize("name", sorted(REQUEST_MODELS))
def test_request_schema_types_are_accepted_by_model(name):
    documented = openapi_schema(SCHEMAS[name])
    expected, definitions = model_schema(REQUEST_MODELS[name], "validation")

    for field, schema in documented["properties"].items():
        types, nullable = openapi_types(schema)
        accepted, accepts_null = model_types(expected["properties"][field], definitions)
        assert types <= accepted, f"{name}.{field}: {types} not in {accepted}"
        assert nullable == accepts_null, f"{name}.{field}: nullable"


@pytest.mark.parametrize("name", sorted(RESPONSE_MODELS))
def test_response_schema_types_equal_model(name):
    documented = openapi_schema(SCHEMAS[name])
    expected, definitions = model_schema(RESPONSE_MODELS[name], "serialization")

    for field, schema in documented["properties"].items():
        types, nullable = openapi_types(schema)
        produced, produces_null = model_types(expected["properties"][field], definitions)
        assert types == produced, f"{name}.{field}: {types} != {produced}"
        assert nullable == produces_null, f"{name}.{field}: nullable"


@pytest.mark.parametrize("name", sorted(ENUMS))
def test_enum_values_match_domain(name):
    assert SCHEMAS[name]["enum"] == [member.value for member in ENUMS[name]]


def test_place_order_rejects_unknown_properties_like_model():
    assert SCHEMAS["PlaceOrder"]["additionalProperties"] is False


def test_every_public_operation_is_described():
    expected = {
        ("POST", "/orders"): "placeOrder",
        ("GET", "/orders/{orderId}"): "getOrder",
        ("GET", "/orders/{orderId}/status"): "getOrderStatus",
        ("POST", "/orders/{orderId}/cancel"): "cancelOrder",
        ("GET", "/orders/{orderId}/shipment"): "getOrderShipment",
        ("GET", "/shipments/{shipmentId}"): "getShipment",
        ("GET", "/stores/{storeId}/stock/{productId}"): "getStock",
    }

    described = {key: operation["operationId"] for key, operation in OPERATIONS.items()}

    assert described == expected


@pytest.mark.parametrize("key", sorted(OPERATIONS), ids=" ".join)
def test_operation_errors_are_problem_details(key):
    for status, response in OPERATIONS[key]["responses"].items():
        if status.startswith(("4", "5")):
            content = openapi_schema(response)["content"]
            assert list(content) == ["application/problem+json"], f"{key} {status}"


@pytest.mark.parametrize("key", sorted(OPERATIONS), ids=" ".join)
def test_operation_documents_401_and_429(key):
    responses = OPERATIONS[key]["responses"]

    assert "401" in responses
    assert "429" in responses


def test_subscription_key_schemes_use_apim_names():
    schemes = DOCUMENT["components"]["securitySchemes"]

    assert {(s["in"], s["name"]) for s in schemes.values()} == {
        ("header", "Ocp-Apim-Subscription-Key"),
        ("query", "subscription-key"),
    }


def test_place_order_takes_idempotency_key_header():
    parameters = [openapi_schema(p) for p in OPERATIONS[("POST", "/orders")]["parameters"]]

    assert {"name": "Idempotency-Key", "in": "header"}.items() <= parameters[0].items()


def test_place_order_example_is_a_valid_place_order():
    body = OPERATIONS[("POST", "/orders")]["requestBody"]["content"]["application/json"]

    PlaceOrder.model_validate(body["example"])


def test_place_order_example_buys_sample_catalog_stock():
    body = OPERATIONS[("POST", "/orders")]["requestBody"]["content"]["application/json"]
    example = body["example"]
    stock = sample_catalog().stock

    for line in example["lines"]:
        assert stock.get((example["storeId"], line["productId"]), 0) >= line["quantity"], line
