"""Subscription filters: the SQL subset and correlation filters, parsed and never evaluated."""

from __future__ import annotations

import pytest

from devhost.servicebus.filters import FilterError, MessageView, parse_rule, parse_sql

SHIPPED = MessageView(
    {"Label": "OrderShipped", "CorrelationId": "order-1", "MessageId": "m1"},
    {"storeId": 1, "region": "west", "priority": "high"},
)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("sys.Label = 'OrderShipped'", True),
        ("sys.Label <> 'OrderShipped'", False),
        ("sys.Label != 'OrderPlaced'", True),
        ("sys.Label IN ('OrderPlaced', 'OrderShipped')", True),
        ("sys.Label NOT IN ('OrderPlaced', 'OrderShipped')", False),
        ("storeId = 1 AND region = 'west'", True),
        ("storeId = 2 OR region = 'west'", True),
        ("NOT (storeId = 1)", False),
        ("user.missing IS NULL", True),
        ("user.region IS NOT NULL", True),
        ("sys.Label LIKE 'Order%'", True),
        ("sys.Label LIKE 'Order_hipped'", True),
        ("sys.Label NOT LIKE 'Order%'", False),
        ("[priority] = 'high'", True),
        ("storeId >= 1 AND storeId < 2", True),
        ("sys.label = 'OrderShipped'", True),
        ("1 = 1", True),
        ("(sys.Label = 'OrderPlaced' OR storeId = 1) AND NOT region = 'east'", True),
    ],
)
def test_sql_filter_evaluates(expression, expected):
    assert parse_sql(expression)(SHIPPED) is expected


def test_like_escape_matches_wildcard_literally():
    predicate = parse_sql("sys.CorrelationId LIKE 'order!_%' ESCAPE '!'")

    assert predicate(MessageView({"CorrelationId": "order_1"}, {})) is True
    assert predicate(MessageView({"CorrelationId": "order-1"}, {})) is False


def test_comparison_with_missing_property_does_not_match():
    assert parse_sql("missing = 'x'")(SHIPPED) is None


def test_not_of_unknown_stays_unknown():
    assert parse_sql("NOT missing = 'x'")(SHIPPED) is None


def test_quoted_string_keeps_doubled_quote():
    view = MessageView({"Label": "it's"}, {})

    assert parse_sql("sys.Label = 'it''s'")(view) is True


@pytest.mark.parametrize(
    "expression",
    [
        "sys.Label = ",
        "sys.Unknown = 'x'",
        "EXISTS(storeId)",
        "storeId = 1 extra",
        "other.storeId = 1",
        "storeId = 1; DROP TABLE message",
    ],
)
def test_unsupported_sql_is_rejected(expression):
    with pytest.raises(FilterError):
        parse_sql(expression)


def test_correlation_filter_matches_system_and_application_properties():
    rule = parse_rule(
        {
            "Name": "shipped-store-1",
            "Properties": {
                "FilterType": "Correlation",
                "CorrelationFilter": {"Label": "OrderShipped", "Properties": {"storeId": 1}},
            },
        }
    )

    assert rule.matches(SHIPPED) is True
    assert rule.matches(MessageView({"Label": "OrderShipped"}, {"storeId": 2})) is False
    assert rule.matches(MessageView({"Label": "OrderShipped"}, {})) is False


def test_unknown_correlation_key_fails_naming_the_rule():
    with pytest.raises(FilterError, match=r"rule 'odd'.*'Colour'"):
        parse_rule(
            {
                "Name": "odd",
                "Properties": {"FilterType": "Correlation", "CorrelationFilter": {"Colour": "red"}},
            }
        )


def test_rule_action_fails_naming_the_rule():
    with pytest.raises(FilterError, match=r"rule 'rewrite' has a rule action"):
        parse_rule(
            {
                "Name": "rewrite",
                "Properties": {
                    "FilterType": "Sql",
                    "SqlFilter": {"SqlExpression": "1 = 1"},
                    "Action": {"SqlExpression": "SET a = 1"},
                },
            }
        )


def test_unknown_filter_type_fails_naming_the_rule():
    with pytest.raises(FilterError, match=r"rule 'boolean'.*'True'"):
        parse_rule({"Name": "boolean", "Properties": {"FilterType": "True"}})
