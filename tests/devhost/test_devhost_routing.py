"""Route templates match paths as Azure Functions (ASP.NET) routing does."""

from __future__ import annotations

import pytest

from devhost.routing import RouteTemplate


def test_plain_parameter_captures_one_segment() -> None:
    assert RouteTemplate("orders/{orderId}").match("orders/42") == {"orderId": "42"}


def test_literal_segments_match_case_insensitively() -> None:
    assert RouteTemplate("Orders/{id}").match("orders/7") == {"id": "7"}


def test_parameter_values_are_percent_decoded() -> None:
    assert RouteTemplate("items/{name}").match("items/a%20b") == {"name": "a b"}


def test_int_constraint_rejects_text() -> None:
    assert RouteTemplate("orders/{id:int}").match("orders/abc") is None


def test_optional_parameter_may_be_missing() -> None:
    assert RouteTemplate("orders/{id?}").match("orders") == {}


def test_default_value_fills_a_missing_parameter() -> None:
    assert RouteTemplate("pages/{page=1}").match("pages") == {"page": "1"}


def test_catch_all_takes_the_remaining_path() -> None:
    assert RouteTemplate("files/{*path}").match("files/a/b/c") == {"path": "a/b/c"}


def test_extra_segments_do_not_match() -> None:
    assert RouteTemplate("orders/{id}").match("orders/1/lines") is None


@pytest.mark.parametrize(
    ("template", "path", "expected"),
    [
        ("stores/{storeId:int}/stock/{productId:int}", "stores/1/stock/20", {"storeId": "1",
                                                                            "productId": "20"}),
        ("ids/{id:guid}", "ids/5b1c6c1e-0f7e-4c39-9a7a-4e0d1f0f5a11",
         {"id": "5b1c6c1e-0f7e-4c39-9a7a-4e0d1f0f5a11"}),
        ("flags/{on:bool}", "flags/True", {"on": "True"}),
        ("names/{name:alpha:minlength(2)}", "names/ab", {"name": "ab"}),
        ("files/{name}.{ext}", "files/report.pdf", {"name": "report", "ext": "pdf"}),
    ],
)
def test_constraints_and_complex_segments_match(template: str, path: str, expected: dict) -> None:
    assert RouteTemplate(template).match(path) == expected


def test_literal_route_outranks_parameter_route() -> None:
    literal = RouteTemplate("orders/recent")
    parameter = RouteTemplate("orders/{id}")

    assert literal.precedence < parameter.precedence


def test_same_shape_routes_have_equal_shapes_whatever_the_names() -> None:
    assert RouteTemplate("Orders/{a}").shape == RouteTemplate("orders/{b}").shape


def test_unknown_constraint_is_rejected() -> None:
    with pytest.raises(ValueError, match="unsupported route constraint 'nonsense'"):
        RouteTemplate("x/{id:nonsense}")
