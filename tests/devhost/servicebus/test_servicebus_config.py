"""Reading the Service Bus emulator's Config.json into broker settings."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from devhost.servicebus.config import (
    ConfigError,
    EntitySettings,
    find_config,
    load_config,
    parse_duration,
    parse_namespace,
    with_implicit_entities,
)

REPOSITORY = Path(__file__).resolve().parents[3]


def test_repository_config_loads_every_entity():
    namespace = load_config(REPOSITORY / "infra/servicebus/Config.json")

    assert set(namespace.queues) == {"carrier-requests", "carrier-events", "supplier-events"}
    assert set(namespace.topics["order-events"].subscriptions) == {
        "audit",
        "customer-notifications",
        "completed-orders",
    }


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("PT30S", 30), ("PT5M", 300), ("PT1H", 3600), ("P1D", 86400), ("PT1M30.5S", 90.5)],
)
def test_duration_parses(text, seconds):
    assert parse_duration(text, "test") == seconds


@pytest.mark.parametrize("text", ["30S", "PT", "P", "PT-5S", "5 minutes"])
def test_invalid_duration_is_rejected(text):
    with pytest.raises(ConfigError, match="ISO 8601"):
        parse_duration(text, "test")


@pytest.mark.parametrize(
    ("properties", "named"),
    [
        ({"LockDuration": "PT1S"}, "LockDuration"),
        ({"LockDuration": "PT6M"}, "LockDuration"),
        ({"MaxDeliveryCount": 11}, "MaxDeliveryCount"),
        ({"MaxDeliveryCount": 0}, "MaxDeliveryCount"),
        ({"DuplicateDetectionHistoryTimeWindow": "PT10M"}, "DuplicateDetectionHistoryTimeWindow"),
        ({"DefaultMessageTimeToLive": "PT2H"}, "DefaultMessageTimeToLive"),
        ({"ForwardTo": "elsewhere"}, "ForwardTo"),
    ],
)
def test_setting_outside_emulator_limits_fails_naming_it(properties, named):
    document = {"Queues": [{"Name": "q", "Properties": properties}]}

    with pytest.raises(ConfigError, match=f"queue 'q'.*{named}"):
        parse_namespace(document, "test")


def test_unsupported_filter_fails_naming_the_subscription_and_rule():
    document = {
        "Topics": [
            {
                "Name": "t",
                "Subscriptions": [
                    {
                        "Name": "s",
                        "Rules": [
                            {
                                "Name": "r",
                                "Properties": {
                                    "FilterType": "Sql",
                                    "SqlFilter": {"SqlExpression": "EXISTS(a)"},
                                },
                            }
                        ],
                    }
                ],
            }
        ]
    }

    with pytest.raises(ConfigError, match="topic 't' subscription 's': rule 'r'"):
        parse_namespace(document, "test")


def test_missing_entities_get_defaults_and_warning(caplog):
    namespace = parse_namespace({"Queues": [{"Name": "known"}]}, "test")
    triggers = [
        {"type": "serviceBusTrigger", "queueName": "known"},
        {"type": "serviceBusTrigger", "queueName": "extra"},
        {"type": "serviceBusTrigger", "topicName": "t", "subscriptionName": "s"},
    ]

    with caplog.at_level(logging.WARNING, logger="devhost.servicebus"):
        completed = with_implicit_entities(namespace, triggers)

    assert completed.queues["extra"] == EntitySettings()
    assert set(completed.topics["t"].subscriptions) == {"s"}
    assert len(caplog.records) == 3


def test_config_setting_points_to_another_file(tmp_path):
    custom = tmp_path / "sb" / "custom.json"
    custom.parent.mkdir()
    custom.write_text(json.dumps({"UserConfig": {"Namespaces": [{"Name": "sbemulatorns"}]}}))

    found = find_config(tmp_path, {"DEVHOST_SERVICEBUS_CONFIG": "sb/custom.json"}, {})

    assert found == custom.resolve()


def test_config_setting_naming_a_missing_file_fails(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        find_config(tmp_path, {}, {"DEVHOST_SERVICEBUS_CONFIG": "nowhere.json"})


def test_no_config_file_means_no_definition(tmp_path):
    assert find_config(tmp_path, {}, {}) is None


def test_sessions_are_rejected_naming_the_entity():
    document = {"Queues": [{"Name": "q", "Properties": {"RequiresSession": True}}]}

    with pytest.raises(ConfigError, match="queue 'q': RequiresSession"):
        parse_namespace(document, "test")
