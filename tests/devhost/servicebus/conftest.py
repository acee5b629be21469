"""Fixtures for the embedded Service Bus tests: a broker file with a controllable clock."""

from __future__ import annotations

from pathlib import Path

import pytest

from devhost.servicebus.client import ServiceBusClient
from devhost.servicebus.config import Namespace, parse_namespace

START = 1_800_000_000.0


class Clock:
    """Seconds since the epoch that a test moves forward by hand."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def queue(name: str, **properties: object) -> dict:
    base = {
        "LockDuration": "PT10S",
        "MaxDeliveryCount": 3,
        "DefaultMessageTimeToLive": "PT1H",
        "DeadLetteringOnMessageExpiration": True,
        "RequiresDuplicateDetection": True,
        "DuplicateDetectionHistoryTimeWindow": "PT1M",
    }
    return {"Name": name, "Properties": {**base, **properties}}


NAMESPACE = {
    "Name": "sbemulatorns",
    "Queues": [
        queue("work"),
        queue("no-dlq-on-expiry", DeadLetteringOnMessageExpiration=False),
        queue("no-duplicates", RequiresDuplicateDetection=False),
    ],
    "Topics": [
        {
            "Name": "events",
            "Properties": {
                "RequiresDuplicateDetection": True,
                "DuplicateDetectionHistoryTimeWindow": "PT1M",
            },
            "Subscriptions": [
                {"Name": "all", "Properties": {"LockDuration": "PT10S"}, "Rules": []},
                {
                    "Name": "shipped",
                    "Properties": {"LockDuration": "PT10S"},
                    "Rules": [
                        {
                            "Name": "shipped-or-completed",
                            "Properties": {
                                "FilterType": "Sql",
                                "SqlFilter": {
                                    "SqlExpression": "sys.Label IN ('Shipped', 'Completed')"
                                },
                            },
                        }
                    ],
                },
                {
                    "Name": "store-1",
                    "Properties": {"LockDuration": "PT10S"},
                    "Rules": [
                        {
                            "Name": "store-1-only",
                            "Properties": {
                                "FilterType": "Correlation",
                                "CorrelationFilter": {
                                    "Label": "Placed",
                                    "Properties": {"storeId": 1},
                                },
                            },
                        }
                    ],
                },
            ],
        }
    ],
}


@pytest.fixture
def namespace() -> Namespace:
    return parse_namespace(NAMESPACE, "test namespace")


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def client(tmp_path: Path, namespace: Namespace, clock: Clock) -> ServiceBusClient:
    with ServiceBusClient(tmp_path, config=namespace, clock=clock) as sb_client:
        yield sb_client
