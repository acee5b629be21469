"""Fixtures that run devhost subprocesses for the devhost tests."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from devhost_support import RunningHost, launch


@pytest.fixture(scope="module")
def durable_host(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningHost]:
    """One host on the Durable test app, shared by the tests of a module."""
    host = launch("durable_app", tmp_path_factory.mktemp("state"))
    yield host
    host.stop()


@pytest.fixture
def scratch_db(tmp_path: Path) -> str:
    """A SQLite file path in tmp that test activities write their effects to."""
    return str(tmp_path / "effects.sqlite")
