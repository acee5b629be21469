"""The policy files in apim/policies are well-formed and use only what API Management defines."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest
import yaml
from apim_reference import (
    ALLOWED_SECTIONS,
    ATTRIBUTE_VALUES,
    ATTRIBUTES,
    CHILDREN,
    POLICY_STATEMENTS,
    SECTIONS,
)

POLICIES = Path(__file__).resolve().parents[2] / "apim" / "policies"
POLICY_FILES = sorted(POLICIES.rglob("*.xml"))
SECTION_NAMES = ("inbound", "backend", "outbound", "on-error")


def elements_with_section(path: Path):
    """Yield (element, parent, section) for every element of a policy file."""
    root = ElementTree.parse(path).getroot()

    def walk(node, section):
        for child in node:
            child_section = child.tag if child.tag in SECTION_NAMES else section
            yield child, node, child_section
            yield from walk(child, child_section)

    yield root, None, None
    yield from walk(root, None)


def test_policy_files_exist():
    names = {path.relative_to(POLICIES).as_posix() for path in POLICY_FILES}

    assert {"global.xml", "api.xml"} <= names


@pytest.mark.parametrize("path", POLICY_FILES, ids=lambda p: p.name)
def test_policy_file_is_well_formed_with_policies_root(path):
    root = ElementTree.parse(path).getroot()

    assert root.tag == "policies"


@pytest.mark.parametrize("path", POLICY_FILES, ids=lambda p: p.name)
def test_every_element_is_defined_by_apim(path):
    for element, parent, _ in elements_with_section(path):
        is_statement = element.tag in SECTIONS or element.tag in POLICY_STATEMENTS
        is_documented_child = parent is not None and element.tag in CHILDREN.get(parent.tag, ())
        assert is_statement or is_documented_child, f"<{element.tag}> in {path.name}"


@pytest.mark.parametrize("path", POLICY_FILES, ids=lambda p: p.name)
def test_every_attribute_is_documented(path):
    for element, _, _ in elements_with_section(path):
        documented = ATTRIBUTES.get(element.tag)
        assert documented is not None, f"no reference entry for <{element.tag}> in {path.name}"
        unknown = set(element.attrib) - documented
        assert not unknown, f"<{element.tag}> in {path.name} has undocumented {unknown}"


@pytest.mark.parametrize("path", POLICY_FILES, ids=lambda p: p.name)
def test_enumerated_attributes_have_documented_values(path):
    for element, _, _ in elements_with_section(path):
        for attribute, value in element.attrib.items():
            allowed = ATTRIBUTE_VALUES.get((element.tag, attribute))
            if allowed is not None:
                assert value in allowed, f"<{element.tag} {attribute}={value!r}> in {path.name}"


@pytest.mark.parametrize("path", POLICY_FILES, ids=lambda p: p.name)
def test_policies_stand_in_allowed_sections(path):
    for element, _, section in elements_with_section(path):
        allowed = ALLOWED_SECTIONS.get(element.tag)
        if allowed is not None:
            assert section in allowed, f"<{element.tag}> in <{section}> of {path.name}"


def test_operation_files_are_named_after_operation_ids():
    document = yaml.safe_load((POLICIES.parent / "openapi.yaml").read_text(encoding="utf-8"))
    operation_ids = {
        operation["operationId"]
        for item in document["paths"].values()
        for operation in item.values()
    }

    for path in (POLICIES / "operations").glob("*.xml"):
        assert path.stem in operation_ids, path.name


def test_rate_limit_period_within_apim_maximum():
    named_values = json.loads((POLICIES.parent / "named-values.json").read_text(encoding="utf-8"))

    assert 0 < int(named_values["rate-limit-period"]["value"]) <= 300
