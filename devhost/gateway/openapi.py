"""Read the operations of an OpenAPI 3.0 document the way API Management imports them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from devhost.gateway.errors import GatewayConfigError

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
DEFAULT_HEADER_NAME = "Ocp-Apim-Subscription-Key"
DEFAULT_QUERY_NAME = "subscription-key"


@dataclass(frozen=True)
class Operation:
    """One operation of the API: its method, URL template and whether it needs a subscription."""

    operation_id: str
    method: str
    template: str
    pattern: re.Pattern[str]
    subscription_required: bool

    def match(self, path: str) -> dict[str, str] | None:
        """Return the template parameters when `path` fits the template, else None."""
        found = self.pattern.fullmatch(path)
        return found.groupdict() if found else None


@dataclass(frozen=True)
class ApiDefinition:
    """The operations of an API and where its subscription key is read from."""

    operations: list[Operation]
    key_header_name: str
    key_query_name: str

    def find(self, method: str, path: str) -> Operation | None:
        """Find the operation for a method and a path relative to the API, as APIM matches it."""
        for operation in self.operations:
            if operation.method == method.upper() and operation.match(path) is not None:
                return operation
        return None

    def allows_path(self, path: str) -> list[Operation]:
        """List the operations whose template fits `path`, whatever their method."""
        return [operation for operation in self.operations if operation.match(path) is not None]


def load_api_definition(path: Path) -> ApiDefinition:
    """Load the OpenAPI document at `path` into an ApiDefinition.

    Raises GatewayConfigError naming the file when it is missing, not YAML, or lacks the
    operationIds the policy files are keyed by.
    """
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise GatewayConfigError(f"cannot read the OpenAPI document {path}: {exc}") from None

    if not isinstance(document, dict) or not str(document.get("openapi", "")).startswith("3."):
        raise GatewayConfigError(f"{path} is not an OpenAPI 3.x document (no 'openapi: 3.x' key)")

    schemes = document.get("components", {}).get("securitySchemes", {})
    header_name, query_name = _subscription_key_names(schemes)
    operations = _operations(document, path)
    return ApiDefinition(operations, header_name, query_name)


def _subscription_key_names(schemes: dict[str, Any]) -> tuple[str, str]:
    """Return the header and query names of the apiKey schemes, APIM's defaults otherwise."""
    header_name, query_name = DEFAULT_HEADER_NAME, DEFAULT_QUERY_NAME
    for scheme in schemes.values():
        if scheme.get("type") != "apiKey":
            continue
        if scheme.get("in") == "header":
            header_name = scheme["name"]
        elif scheme.get("in") == "query":
            query_name = scheme["name"]
    return header_name, query_name


def _operations(document: dict[str, Any], path: Path) -> list[Operation]:
    default_security = document.get("security", [])
    operations = []

    for template, item in (document.get("paths") or {}).items():
        for method in HTTP_METHODS:
            if method not in item:
                continue
            spec = item[method]
            operation_id = spec.get("operationId")
            if not operation_id:
                raise GatewayConfigError(
                    f"{path}: {method.upper()} {template} has no operationId; "
                    "add one, because operation policies are named after it"
                )
            security = spec.get("security", default_security)
            operations.append(
                Operation(
                    operation_id=operation_id,
                    method=method.upper(),
                    template=template,
                    pattern=_template_pattern(template),
                    subscription_required=bool(security),
                )
            )
    return operations


def _template_pattern(template: str) -> re.Pattern[str]:
    """Compile an OpenAPI path template such as /orders/{orderId} into a regular expression."""
    pattern = ""
    for literal, name in re.findall(r"([^{]*)(?:\{([^}]+)\})?", template):
        pattern += re.escape(literal)
        if name:
            pattern += f"(?P<{name}>[^/]+)"
    return re.compile(pattern)
