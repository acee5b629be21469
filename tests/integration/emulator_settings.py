"""Connection settings of the emulators the integration tests run against.

Each test module is skipped, with the variable to set in its reason, unless its emulator's
settings are in the environment. docker-compose.yml at the repository root starts both
emulators. docs/deploy.md gives the values to set.

NOTE: Docker does not run where this repository is developed, so these tests have only ever been
collected and skipped there, never run against an emulator.
"""

from __future__ import annotations

import os

import pytest

COSMOS_ENDPOINT = "AJ_TEST_COSMOS_ENDPOINT"
COSMOS_KEY = "AJ_TEST_COSMOS_KEY"
SERVICEBUS_CONNECTION = "AJ_TEST_SERVICEBUS_CONNECTION"


def require_settings(*names: str) -> pytest.MarkDecorator:
    """Skip the module unless every named environment variable is set and non-empty."""
    missing = [name for name in names if not os.environ.get(name)]
    return pytest.mark.skipif(
        bool(missing),
        reason=f"emulator not configured: set {', '.join(missing)} (see docs/deploy.md)",
    )
