"""Trigger options the dispatch checks before it starts."""

from __future__ import annotations

import pytest

from devhost.loader import FunctionInfo
from devhost.servicebus.host import check_supported, trigger_entity


def trigger_function(**trigger: object) -> FunctionInfo:
    binding = {"type": "serviceBusTrigger", "name": "message", "direction": "IN", **trigger}
    return FunctionInfo(name="handle", trigger=binding, bindings=(binding,), func=lambda m: None)


def test_batch_trigger_fails_start_up_naming_the_function():
    function = trigger_function(queueName="q", cardinality="MANY")

    with pytest.raises(RuntimeError, match="'handle' uses cardinality 'many'"):
        check_supported(function, RuntimeError)


def test_session_trigger_fails_start_up_naming_the_function():
    function = trigger_function(queueName="q", isSessionsEnabled=True)

    with pytest.raises(RuntimeError, match="'handle' enables sessions"):
        check_supported(function, RuntimeError)


def test_topic_trigger_receives_from_its_subscription_path():
    function = trigger_function(topicName="order-events", subscriptionName="audit")

    assert trigger_entity(function) == "order-events/Subscriptions/audit"
