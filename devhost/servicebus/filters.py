"""Subscription rules: correlation filters and a parsed (never evaluated) subset of SQL filters.

A filter reads a message as a mapping of system properties (`sys.*`, named as in Service Bus SQL:
MessageId, CorrelationId, Label, To, ReplyTo, SessionId, ReplyToSessionId, ContentType) and its
application properties. SQL comparisons follow three-valued logic: a comparison with a missing
property is unknown, and a message matches only when the expression is true.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

# Correlation filter keys and the system property each one compares.
CORRELATION_KEYS = {
    "CorrelationId": "CorrelationId",
    "MessageId": "MessageId",
    "To": "To",
    "ReplyTo": "ReplyTo",
    "Label": "Label",
    "Subject": "Label",
    "SessionId": "SessionId",
    "ReplyToSessionId": "ReplyToSessionId",
    "ContentType": "ContentType",
}
SYSTEM_NAMES = {name.lower(): name for name in set(CORRELATION_KEYS.values())} | {
    "subject": "Label"
}

Predicate = Callable[["MessageView"], "bool | None"]


class FilterError(ValueError):
    """A rule uses a filter the embedded broker does not support or cannot parse."""


@dataclass(frozen=True)
class MessageView:
    """The system properties and application properties of a message, as filters read them."""

    system: Mapping[str, Any]
    application: Mapping[str, Any]


@dataclass(frozen=True)
class Rule:
    """A named subscription rule with its compiled predicate."""

    name: str
    kind: str
    expression: str
    predicate: Predicate
    source: Mapping[str, Any]

    def matches(self, message: MessageView) -> bool:
        return self.predicate(message) is True


def parse_rule(data: Mapping[str, Any]) -> Rule:
    """Compile one Config.json rule; raise FilterError naming the rule when unsupported."""
    name = data.get("Name", "<unnamed>")
    props = data.get("Properties", {})
    kind = props.get("FilterType")
    if props.get("Action") or props.get("SqlAction"):
        raise FilterError(
            f"rule '{name}' has a rule action, which the embedded broker does not support"
        )

    if kind == "Correlation":
        spec = props.get("CorrelationFilter") or {}
        return Rule(
            name, kind, _describe_correlation(spec), correlation_predicate(spec, name), data
        )
    if kind == "Sql":
        expression = (props.get("SqlFilter") or {}).get("SqlExpression", "")
        try:
            return Rule(name, kind, expression, parse_sql(expression), data)
        except FilterError as error:
            raise FilterError(f"rule '{name}' SQL filter {expression!r}: {error}") from error
    raise FilterError(f"rule '{name}' has FilterType {kind!r}; use 'Correlation' or 'Sql'")


def matches_any(rules: tuple[Rule, ...], message: MessageView) -> bool:
    """Tell whether any rule matches; a subscription without rules takes every message."""
    return not rules or any(rule.matches(message) for rule in rules)


def correlation_predicate(spec: Mapping[str, Any], name: str) -> Predicate:
    """Build a predicate that is true when every named property equals its value exactly."""
    expected_system = {}
    for key, value in spec.items():
        if key == "Properties":
            continue
        if key not in CORRELATION_KEYS:
            raise FilterError(f"rule '{name}' correlation filter has unknown key '{key}'")
        expected_system[CORRELATION_KEYS[key]] = value
    expected_application = dict(spec.get("Properties") or {})
    if not expected_system and not expected_application:
        raise FilterError(f"rule '{name}' correlation filter is empty; name at least one property")

    def predicate(message: MessageView) -> bool:
        system_ok = all(message.system.get(k) == v for k, v in expected_system.items())
        return system_ok and all(
            k in message.application and message.application[k] == v
            for k, v in expected_application.items()
        )

    return predicate


def _describe_correlation(spec: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in spec.items())


# SQL filter grammar (a subset of the Service Bus SQL filter syntax):
#   expr      := and_expr (OR and_expr)*
#   and_expr  := not_expr (AND not_expr)*
#   not_expr  := NOT not_expr | predicate
#   predicate := '(' expr ')' | operand cmp operand | operand [NOT] IN '(' literal, ... ')'
#              | operand IS [NOT] NULL | operand [NOT] LIKE 'pattern' [ESCAPE 'c'] | TRUE | FALSE
#   operand   := sys.Name | user.Name | Name | [Name] | 'string' | number | TRUE | FALSE | NULL
_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>\d+(?:\.\d+)?)"
    r"|(?P<name>\[[^\]]+\]|[A-Za-z_][\w$]*(?:\.(?:\[[^\]]+\]|[A-Za-z_][\w$]*))?)"
    r"|(?P<op><>|!=|<=|>=|=|<|>|\(|\)|,))"
)
_KEYWORDS = {"AND", "OR", "NOT", "IN", "IS", "NULL", "LIKE", "ESCAPE", "TRUE", "FALSE"}
_COMPARE = {
    "=": lambda a, b: a == b,
    "<>": lambda a, b: a != b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
}
Operand = Callable[[MessageView], Any]
_MISSING = object()


def parse_sql(expression: str) -> Predicate:
    """Parse a SQL filter expression into a predicate; raise FilterError on anything else."""
    parser = _SqlParser(_tokenize(expression))
    predicate = parser.expression()
    if parser.peek() is not None:
        raise FilterError(f"unexpected {parser.peek()[1]!r} after a complete expression")
    return predicate


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if not match or match.end() == position:
            raise FilterError(f"cannot read the filter at {text[position : position + 20]!r}")
        kind = match.lastgroup
        value = match.group(kind)
        if kind == "name" and value.upper() in _KEYWORDS:
            kind, value = "keyword", value.upper()
        tokens.append((kind, value))
        position = match.end()
    return tokens


class _SqlParser:
    """Recursive-descent parser turning tokens into nested predicate closures."""

    def __init__(self, tokens: list[tuple[str, str]]):
        self.tokens = tokens
        self.position = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise FilterError("the expression ends too early")
        self.position += 1
        return token

    def accept(self, kind: str, value: str) -> bool:
        token = self.peek()
        if token == (kind, value):
            self.position += 1
            return True
        return False

    def expect(self, kind: str, value: str) -> None:
        if not self.accept(kind, value):
            found = self.peek()
            raise FilterError(f"expected {value!r}, found {found[1] if found else 'the end'!r}")

    def expression(self) -> Predicate:
        terms = [self.and_expression()]
        while self.accept("keyword", "OR"):
            terms.append(self.and_expression())
        return terms[0] if len(terms) == 1 else _or(terms)

    def and_expression(self) -> Predicate:
        terms = [self.not_expression()]
        while self.accept("keyword", "AND"):
            terms.append(self.not_expression())
        return terms[0] if len(terms) == 1 else _and(terms)

    def not_expression(self) -> Predicate:
        if self.accept("keyword", "NOT"):
            return _not(self.not_expression())
        return self.predicate()

    def predicate(self) -> Predicate:
        if self.accept("op", "("):
            inner = self.expression()
            self.expect("op", ")")
            return inner

        left = self.operand()
        token = self.peek()
        if token is None:
            return _truth(left)
        if token[0] == "op" and token[1] in _COMPARE:
            self.take()
            return _compare(_COMPARE[token[1]], left, self.operand())
        if self.accept("keyword", "IS"):
            negate = self.accept("keyword", "NOT")
            self.expect("keyword", "NULL")
            return _is_null(left, negate)

        negate = self.accept("keyword", "NOT")
        if self.accept("keyword", "IN"):
            return _maybe_not(_in(left, self.literal_list()), negate)
        if self.accept("keyword", "LIKE"):
            pattern = self.string_literal()
            escape = self.string_literal() if self.accept("keyword", "ESCAPE") else None
            return _maybe_not(_like(left, pattern, escape), negate)
        if negate:
            raise FilterError("NOT here must be followed by IN or LIKE")
        return _truth(left)

    def literal_list(self) -> list[Any]:
        self.expect("op", "(")
        values = [self.literal()]
        while self.accept("op", ","):
            values.append(self.literal())
        self.expect("op", ")")
        return values

    def operand(self) -> Operand:
        token = self.peek()
        if token is not None and token[0] == "name":
            self.take()
            return _property(token[1])
        value = self.literal()
        return lambda message: value

    def literal(self) -> Any:
        kind, value = self.take()
        if kind == "string":
            return value[1:-1].replace("''", "'")
        if kind == "number":
            return float(value) if "." in value else int(value)
        if kind == "keyword" and value in ("TRUE", "FALSE"):
            return value == "TRUE"
        if kind == "keyword" and value == "NULL":
            return None
        raise FilterError(f"expected a literal value, found {value!r}")

    def string_literal(self) -> str:
        value = self.literal()
        if not isinstance(value, str):
            raise FilterError(f"expected a quoted string, found {value!r}")
        return value


def _property(name: str) -> Operand:
    scope, _, prop = name.rpartition(".")
    prop = prop.strip("[]")
    scope = scope.lower()
    if scope == "sys":
        system_name = SYSTEM_NAMES.get(prop.lower())
        if system_name is None:
            raise FilterError(f"system property 'sys.{prop}' is not supported")
        return lambda message: message.system.get(system_name, _MISSING)
    if scope not in ("", "user"):
        raise FilterError(f"property scope '{scope}' is unknown; use sys. or user.")
    return lambda message: message.application.get(prop, _MISSING)


def _value(operand: Operand, message: MessageView) -> Any:
    value = operand(message)
    return None if value is _MISSING else value


def _compare(op: Callable[[Any, Any], bool], left: Operand, right: Operand) -> Predicate:
    def predicate(message: MessageView) -> bool | None:
        a, b = _value(left, message), _value(right, message)
        if a is None or b is None:
            return None
        try:
            return op(a, b)
        except TypeError:
            return None

    return predicate


def _in(operand: Operand, values: list[Any]) -> Predicate:
    def predicate(message: MessageView) -> bool | None:
        value = _value(operand, message)
        return None if value is None else value in values

    return predicate


def _is_null(operand: Operand, negate: bool) -> Predicate:
    return lambda message: (_value(operand, message) is None) != negate


def _like(operand: Operand, pattern: str, escape: str | None) -> Predicate:
    regex = re.compile(_like_to_regex(pattern, escape), re.DOTALL)

    def predicate(message: MessageView) -> bool | None:
        value = _value(operand, message)
        return None if not isinstance(value, str) else regex.fullmatch(value) is not None

    return predicate


def _like_to_regex(pattern: str, escape: str | None) -> str:
    parts = []
    characters = iter(pattern)
    for character in characters:
        if escape and character == escape:
            parts.append(re.escape(next(characters, "")))
        elif character == "%":
            parts.append(".*")
        elif character == "_":
            parts.append(".")
        else:
            parts.append(re.escape(character))
    return "".join(parts)


def _truth(operand: Operand) -> Predicate:
    def predicate(message: MessageView) -> bool | None:
        value = _value(operand, message)
        return value if isinstance(value, bool) else None

    return predicate


def _not(inner: Predicate) -> Predicate:
    def predicate(message: MessageView) -> bool | None:
        value = inner(message)
        return None if value is None else not value

    return predicate


def _maybe_not(inner: Predicate, negate: bool) -> Predicate:
    return _not(inner) if negate else inner


def _and(terms: list[Predicate]) -> Predicate:
    def predicate(message: MessageView) -> bool | None:
        values = [term(message) for term in terms]
        if any(value is False for value in values):
            return False
        return None if any(value is None for value in values) else True

    return predicate


def _or(terms: list[Predicate]) -> Predicate:
    def predicate(message: MessageView) -> bool | None:
        values = [term(message) for term in terms]
        if any(value is True for value in values):
            return True
        return None if any(value is None for value in values) else False

    return predicate
