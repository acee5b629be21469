"""Read the app's settings from the environment, the one place that names them.

On Azure the settings are app settings; under Core Tools or devhost they come from the
`Values` of `local.settings.json`. With no Azure endpoint configured the embedded stand-ins
are used, so a fresh checkout runs with nothing to set.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# Identity-based connection settings, named as the Functions bindings expect them
# (`<connection>__accountEndpoint`, `<connection>__fullyQualifiedNamespace`).
COSMOS_ENDPOINT = "COSMOS__accountEndpoint"
SERVICEBUS_CONNECTION = "SERVICEBUS"
SERVICEBUS_NAMESPACE = "SERVICEBUS__fullyQualifiedNamespace"
ORDERS_DATABASE = "COSMOS_ORDERS_DATABASE"
SHIPMENTS_DATABASE = "COSMOS_SHIPMENTS_DATABASE"
EMBEDDED_STATE_DIR = "DEVHOST_STATE_DIR"
DISPATCH_DEADLINE = "SAGA_DISPATCH_DEADLINE_SECONDS"
DELIVERY_DEADLINE = "SAGA_DELIVERY_DEADLINE_SECONDS"
RETRY_FIRST_INTERVAL = "ACTIVITY_RETRY_FIRST_INTERVAL_MS"
RETRY_MAX_ATTEMPTS = "ACTIVITY_RETRY_MAX_ATTEMPTS"
APPLICATIONINSIGHTS = "APPLICATIONINSIGHTS_CONNECTION_STRING"

# Every setting the app reads, for the Bicep app settings check.
ALL = (
    COSMOS_ENDPOINT,
    SERVICEBUS_NAMESPACE,
    ORDERS_DATABASE,
    SHIPMENTS_DATABASE,
    DISPATCH_DEADLINE,
    DELIVERY_DEADLINE,
    RETRY_FIRST_INTERVAL,
    RETRY_MAX_ATTEMPTS,
    APPLICATIONINSIGHTS,
)

TWO_DAYS = 2 * 24 * 3600
FOURTEEN_DAYS = 14 * 24 * 3600


class SettingsError(ValueError):
    """A setting is present but its value cannot be used."""


@dataclass(frozen=True)
class Settings:
    """The app's configuration, resolved once at start-up."""

    cosmos_endpoint: str | None
    servicebus_namespace: str | None
    orders_database: str
    shipments_database: str
    embedded_state_dir: Path
    dispatch_deadline_seconds: int
    delivery_deadline_seconds: int
    retry_first_interval_ms: int
    retry_max_attempts: int
    applicationinsights_connection_string: str | None

    @property
    def uses_cosmos(self) -> bool:
        return bool(self.cosmos_endpoint)

    @property
    def uses_servicebus(self) -> bool:
        return bool(self.servicebus_namespace)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build the settings from `environ` (the process environment by default)."""
    env = os.environ if environ is None else environ

    return Settings(
        cosmos_endpoint=env.get(COSMOS_ENDPOINT) or None,
        servicebus_namespace=env.get(SERVICEBUS_NAMESPACE) or None,
        orders_database=env.get(ORDERS_DATABASE) or "orders",
        shipments_database=env.get(SHIPMENTS_DATABASE) or "shipments",
        embedded_state_dir=Path(env.get(EMBEDDED_STATE_DIR) or ".devhost"),
        dispatch_deadline_seconds=_positive_int(env, DISPATCH_DEADLINE, TWO_DAYS),
        delivery_deadline_seconds=_positive_int(env, DELIVERY_DEADLINE, FOURTEEN_DAYS),
        retry_first_interval_ms=_positive_int(env, RETRY_FIRST_INTERVAL, 1000),
        retry_max_attempts=_positive_int(env, RETRY_MAX_ATTEMPTS, 3),
        applicationinsights_connection_string=env.get(APPLICATIONINSIGHTS) or None,
    )


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default

    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(
            f"setting {name}={raw!r} is not a whole number; set it to a positive integer"
        ) from None

    if value <= 0:
        raise SettingsError(
            f"setting {name}={value} must be positive; set it to a positive integer"
        )
    return value
