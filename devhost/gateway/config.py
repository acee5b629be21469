"""Load an app's apim/ folder: the OpenAPI document, the policy files and the named values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from devhost.gateway import elements
from devhost.gateway.errors import GatewayConfigError
from devhost.gateway.named_values import resolve_named_values
from devhost.gateway.openapi import ApiDefinition, load_api_definition
from devhost.gateway.policies import PolicyDocument, compose, find_first, parse_policy_file

OPENAPI_FILE = "openapi.yaml"
POLICIES_DIR = "policies"


@dataclass(frozen=True)
class GatewayConfig:
    """Everything the gateway serves: the API and each operation's composed policy."""

    apim_dir: Path
    api: ApiDefinition
    global_policy: PolicyDocument
    operation_policies: dict[str, PolicyDocument]
    named_values: dict[str, str]
    secret_names: frozenset[str]

    def policy_for(self, operation_id: str | None) -> PolicyDocument:
        """Return an operation's composed policy, or the global one when none matched."""
        if operation_id is None:
            return self.global_policy
        return self.operation_policies[operation_id]

    @property
    def secret_values(self) -> list[str]:
        """Return the values of the secret named values, which must never reach a caller."""
        return [self.named_values[name] for name in self.secret_names if name in self.named_values]


def load_config(
    apim_dir: Path, settings: Mapping[str, str], provided: Mapping[str, str]
) -> GatewayConfig:
    """Load and check the apim/ folder; raise GatewayConfigError naming the file at fault."""
    api = load_api_definition(apim_dir / OPENAPI_FILE)
    named_values, secret_names = resolve_named_values(apim_dir, settings, provided)
    policies_dir = apim_dir / POLICIES_DIR

    global_scope = _optional_file(policies_dir / "global.xml", named_values)
    api_scope = _optional_file(policies_dir / "api.xml", named_values)
    global_policy = compose(global_scope, {})
    api_policy = compose(api_scope, global_policy)

    operation_ids = {operation.operation_id for operation in api.operations}
    _reject_unknown_operation_files(policies_dir / "operations", operation_ids)
    operation_policies = {
        operation_id: compose(
            _optional_file(policies_dir / "operations" / f"{operation_id}.xml", named_values),
            api_policy,
        )
        for operation_id in operation_ids
    }

    for operation_id, policy in operation_policies.items():
        _require_backend(operation_id, policy, policies_dir)
    return GatewayConfig(
        apim_dir, api, global_policy, operation_policies, named_values, frozenset(secret_names)
    )


def _optional_file(path: Path, named_values: Mapping[str, str]) -> PolicyDocument | None:
    return parse_policy_file(path, named_values) if path.exists() else None


def _reject_unknown_operation_files(folder: Path, operation_ids: set[str]) -> None:
    if not folder.is_dir():
        return
    for path in sorted(folder.glob("*.xml")):
        if path.stem not in operation_ids:
            raise GatewayConfigError(
                f"{path}: no operation has the operationId {path.stem!r}; rename the file "
                f"to one of {', '.join(sorted(operation_ids))}"
            )


def _require_backend(operation_id: str, policy: PolicyDocument, policies_dir: Path) -> None:
    has_backend = find_first(policy["inbound"], elements.SetBackendService) is not None
    forwards = find_first(policy["backend"], elements.ForwardRequest) is not None
    if not (has_backend and forwards):
        raise GatewayConfigError(
            f"{policies_dir}: operation {operation_id!r} has no backend; its inbound needs "
            "<set-backend-service base-url=...> and its backend <forward-request />"
        )
