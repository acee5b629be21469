"""ASP.NET-style route templates as Azure Functions uses them: {x}, {x:int}, {x?}, {*rest}."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime
from urllib.parse import unquote

_PARAMETER = re.compile(r"\{([^{}]+)\}")

# Per-segment precedence, lowest first: literal text beats parameters, a constrained parameter
# beats a plain one, and optional and catch-all parameters come last (as in ASP.NET routing).
_RANK_LITERAL, _RANK_COMPLEX, _RANK_CONSTRAINED, _RANK_PARAMETER = 0, 1, 2, 3
_RANK_OPTIONAL, _RANK_CATCH_ALL = 4, 5


def _is_number(value: str, kind: type) -> bool:
    try:
        kind(value)
    except ValueError:
        return False
    return True


def _is_guid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _is_datetime(value: str) -> bool:
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _constraint_check(constraint: str) -> Callable[[str], bool]:
    """Build the check for one inline constraint such as `int` or `min(1)`."""
    name, _, argument = constraint.partition("(")
    argument = argument[:-1] if argument.endswith(")") else argument
    simple: dict[str, Callable[[str], bool]] = {
        "int": lambda v: re.fullmatch(r"-?\d+", v) is not None,
        "long": lambda v: re.fullmatch(r"-?\d+", v) is not None,
        "bool": lambda v: v.lower() in ("true", "false"),
        "alpha": lambda v: re.fullmatch(r"[A-Za-z]+", v) is not None,
        "guid": _is_guid,
        "double": lambda v: _is_number(v, float),
        "float": lambda v: _is_number(v, float),
        "decimal": lambda v: _is_number(v, float),
        "datetime": _is_datetime,
    }
    if name in simple:
        return simple[name]
    bounded: dict[str, Callable[[str, str], bool]] = {
        "min": lambda v, a: _is_number(v, int) and int(v) >= int(a),
        "max": lambda v, a: _is_number(v, int) and int(v) <= int(a),
        "range": lambda v, a: _is_number(v, int)
        and int(a.split(",")[0]) <= int(v) <= int(a.split(",")[1]),
        "minlength": lambda v, a: len(v) >= int(a),
        "maxlength": lambda v, a: len(v) <= int(a),
        "length": lambda v, a: len(v) == int(a),
        "regex": lambda v, a: re.fullmatch(a, v) is not None,
    }
    if name in bounded:
        return lambda value: bounded[name](value, argument)
    raise ValueError(f"unsupported route constraint '{constraint}'")


class RouteTemplate:
    """A compiled route template that matches a request path and extracts route parameters."""

    def __init__(self, template: str) -> None:
        self.template = template.strip("/")
        self._checks: dict[str, list[Callable[[str], bool]]] = {}
        self._defaults: dict[str, str] = {}
        pattern, ranks, shape = self._compile(self.template)
        self._regex = re.compile(pattern, re.IGNORECASE)
        self.precedence = tuple(ranks)
        self.shape = shape

    def _compile(self, template: str) -> tuple[str, list[int], str]:
        pattern, ranks, shapes = "^", [], []
        for index, segment in enumerate(template.split("/") if template else []):
            separator = "/" if index else ""
            parts = _PARAMETER.split(segment)
            if len(parts) == 3 and parts[0] == parts[2] == "":
                piece, rank, shape = self._compile_parameter(parts[1], separator)
            else:
                piece, rank, shape = self._compile_complex(parts, separator)
            pattern += piece
            ranks.append(rank)
            shapes.append(shape)
        return pattern + "/?$", ranks, "/".join(shapes)

    def _compile_parameter(self, spec: str, separator: str) -> tuple[str, int, str]:
        name, constraints, optional, catch_all = self._parse_parameter(spec)
        group = f"(?P<{name}>.*)" if catch_all else f"(?P<{name}>[^/]+)"
        if catch_all:
            return f"(?:{separator}{group})?", _RANK_CATCH_ALL, "{*}"
        if optional:
            return f"(?:{separator}{group})?", _RANK_OPTIONAL, "{?}"
        rank = _RANK_CONSTRAINED if constraints else _RANK_PARAMETER
        return separator + group, rank, "{:" + ":".join(constraints) + "}"

    def _compile_complex(self, parts: list[str], separator: str) -> tuple[str, int, str]:
        pattern, shape = separator, ""
        for position, part in enumerate(parts):
            if position % 2 == 0:
                pattern += re.escape(part)
                shape += part.lower()
                continue
            name, _, _, _ = self._parse_parameter(part)
            pattern += f"(?P<{name}>[^/]+?)"
            shape += "{}"
        rank = _RANK_COMPLEX if any(parts[0::2]) and len(parts) > 1 else _RANK_LITERAL
        return pattern, rank, shape

    def _parse_parameter(self, spec: str) -> tuple[str, list[str], bool, bool]:
        catch_all = spec.startswith("*")
        spec = spec.lstrip("*")
        optional = spec.endswith("?")
        spec = spec.rstrip("?")
        spec, _, default = spec.partition("=")
        name, *constraints = spec.split(":")
        if not name.isidentifier():
            raise ValueError(f"invalid route parameter name '{name}' in '{self.template}'")
        if default:
            self._defaults[name] = default
            optional = True
        self._checks[name] = [_constraint_check(c) for c in constraints]
        return name, constraints, optional, catch_all

    def match(self, raw_path: str) -> dict[str, str] | None:
        """Return the route parameters when raw_path (no prefix, still %-encoded) matches."""
        found = self._regex.match(raw_path.strip("/"))
        if found is None:
            return None
        values: dict[str, str] = {}
        for name, raw in found.groupdict().items():
            if raw is None or raw == "":
                if name in self._defaults:
                    values[name] = self._defaults[name]
                continue
            value = unquote(raw)
            if not all(check(value) for check in self._checks.get(name, [])):
                return None
            values[name] = value
        return values
