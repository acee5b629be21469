"""Parse API Management policy files into the policy elements the gateway implements.

Each element class names the attributes and sections it supports. Anything else in a file,
an element, an attribute, a child or a policy expression, stops start-up with the file named,
so no policy is skipped without notice. `<base />` is kept as a marker and expanded when the
scopes are composed (global, then API, then operation).
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from devhost.gateway.errors import GatewayConfigError
from devhost.gateway.expressions import Expression, compile_expression, is_expression
from devhost.gateway.named_values import substitute

SECTIONS = ("inbound", "backend", "outbound", "on-error")
ACTIONS = ("ignore", "prevent", "detect")


@dataclass(frozen=True)
class Source:
    """The file an element is read from, with the named values to resolve in it."""

    file: Path
    named_values: Mapping[str, str]

    def where(self, element: str) -> str:
        return f"{self.file}: <{element}>"


Value = Expression | str


def resolve(value: Value, exchange: Any) -> Any:
    """Evaluate an expression, or return a literal as it is."""
    return value(exchange) if callable(value) else value


class PolicyElement:
    """A policy statement: the parsed form of one XML element in a section."""

    name: ClassVar[str]
    attributes: ClassVar[frozenset[str]] = frozenset()
    sections: ClassVar[frozenset[str]] = frozenset(SECTIONS)
    children: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def parse(cls, node: ElementTree.Element, source: Source, section: str) -> PolicyElement:
        raise NotImplementedError


class Base(PolicyElement):
    """`<base />`: the same section of the enclosing scope."""

    name = "base"

    @classmethod
    def parse(cls, node: ElementTree.Element, source: Source, section: str) -> Base:
        return cls()


def literal(
    node: ElementTree.Element, attribute: str, source: Source, default: str | None = None
) -> str:
    """Return an attribute with named values resolved; raise when required and missing."""
    raw = node.get(attribute)
    if raw is None:
        if default is None:
            raise GatewayConfigError(f"{source.where(node.tag)} needs the attribute {attribute!r}")
        return default
    if is_expression(raw):
        raise GatewayConfigError(
            f"{source.where(node.tag)}: attribute {attribute!r} takes no policy expression "
            "in the devhost gateway; write the value, or a {{named value}}"
        )
    return substitute(raw, source.named_values, source.where(node.tag))


def integer(
    node: ElementTree.Element, attribute: str, source: Source, default: str | None = None
) -> int:
    text = literal(node, attribute, source, default)
    try:
        return int(text)
    except ValueError:
        raise GatewayConfigError(
            f"{source.where(node.tag)}: attribute {attribute!r}={text!r} is not a whole number"
        ) from None


def boolean(node: ElementTree.Element, attribute: str, source: Source, default: str) -> bool:
    text = literal(node, attribute, source, default).lower()
    if text not in ("true", "false"):
        raise GatewayConfigError(
            f"{source.where(node.tag)}: attribute {attribute!r}={text!r} must be true or false"
        )
    return text == "true"


def choice(
    node: ElementTree.Element,
    attribute: str,
    source: Source,
    allowed: tuple[str, ...],
    default: str | None = None,
) -> str:
    text = literal(node, attribute, source, default)
    if text not in allowed:
        raise GatewayConfigError(
            f"{source.where(node.tag)}: attribute {attribute!r}={text!r} is not implemented; "
            f"the devhost gateway implements {', '.join(allowed)}"
        )
    return text


def value_of(text: str | None, source: Source, element: str) -> Value:
    """Return element text as a compiled expression or a literal with named values resolved."""
    text = (text or "").strip()
    if is_expression(text):
        return compile_expression(text, source.where(element))
    return substitute(text, source.named_values, source.where(element))


def texts_of(node: ElementTree.Element, child: str, source: Source) -> list[str]:
    """Return the literal texts of the children named `child`."""
    return [str(value_of(item.text, source, child)) for item in node.findall(child)]


# The element classes by element name. Importing devhost.gateway.elements registers them.
REGISTRY: dict[str, type[PolicyElement]] = {"base": Base}


def register(cls: type[PolicyElement]) -> type[PolicyElement]:
    """Add an element class to the registry under its element name."""
    REGISTRY[cls.name] = cls
    return cls


def parse_elements(
    parent: ElementTree.Element, source: Source, section: str
) -> list[PolicyElement]:
    """Parse every child of a section (or of a `when`) into policy elements."""
    elements = []
    for node in parent:
        if not isinstance(node.tag, str):
            continue
        elements.append(parse_element(node, source, section))
    return elements


def parse_element(node: ElementTree.Element, source: Source, section: str) -> PolicyElement:
    """Check one element against what the gateway implements, then parse it."""
    cls = REGISTRY.get(node.tag)
    if cls is None:
        raise GatewayConfigError(
            f"{source.where(node.tag)}: the policy is not implemented by the devhost gateway; "
            f"it implements {', '.join(sorted(REGISTRY))}"
        )

    if section not in cls.sections:
        raise GatewayConfigError(
            f"{source.where(node.tag)}: not implemented in the {section} section; "
            f"use it in {', '.join(sorted(cls.sections))}"
        )

    unknown = set(node.attrib) - cls.attributes
    if unknown:
        raise GatewayConfigError(
            f"{source.where(node.tag)}: attribute(s) {', '.join(sorted(unknown))} not "
            "implemented by the devhost gateway"
        )

    unknown_children = {child.tag for child in node if isinstance(child.tag, str)} - cls.children
    if unknown_children:
        raise GatewayConfigError(
            f"{source.where(node.tag)}: child element(s) {', '.join(sorted(unknown_children))} "
            "not implemented by the devhost gateway"
        )
    return cls.parse(node, source, section)


PolicyDocument = dict[str, list[PolicyElement]]


def parse_policy_file(path: Path, named_values: Mapping[str, str]) -> PolicyDocument:
    """Parse one policy file into its sections; a missing section inherits the enclosing one."""
    import devhost.gateway.elements  # noqa: F401 (registers the element classes)

    try:
        root = ElementTree.parse(path).getroot()
    except (OSError, ElementTree.ParseError) as exc:
        raise GatewayConfigError(f"cannot read the policy file {path}: {exc}") from None

    if root.tag != "policies":
        raise GatewayConfigError(f"{path}: the root element must be <policies>, not <{root.tag}>")

    source = Source(path, named_values)
    document: PolicyDocument = {}
    for node in root:
        if not isinstance(node.tag, str):
            continue
        if node.tag not in SECTIONS:
            raise GatewayConfigError(
                f"{path}: <{node.tag}> is not a policy section; use {', '.join(SECTIONS)}"
            )
        document[node.tag] = parse_elements(node, source, node.tag)
    return document


def compose(scope: PolicyDocument | None, enclosing: PolicyDocument) -> PolicyDocument:
    """Expand the `<base />` of each section of `scope` into the section of `enclosing`."""
    composed: PolicyDocument = {}
    for section in SECTIONS:
        items = (scope or {}).get(section, [Base()])
        expanded: list[PolicyElement] = []
        for item in items:
            expanded.extend(enclosing.get(section, []) if isinstance(item, Base) else [item])
        composed[section] = expanded
    return composed


def find_first(elements: list[PolicyElement], kind: type[PolicyElement]) -> PolicyElement | None:
    """Return the first top-level element of a kind in a composed section."""
    return next((element for element in elements if isinstance(element, kind)), None)
