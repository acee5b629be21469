"""Build RFC 9457 problem details responses (`application/problem+json`) for the HTTP API."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import azure.functions as func

from domain.errors import FieldError

PROBLEM_JSON = "application/problem+json"

# Problem types. The URIs identify the kind of problem; they are not meant to be fetched.
INVALID_REQUEST = "https://ajbikes.example/problems/invalid-request"
UNSUPPORTED_MEDIA_TYPE = "https://ajbikes.example/problems/unsupported-media-type"
NOT_FOUND = "https://ajbikes.example/problems/not-found"
IDEMPOTENCY_KEY_REUSED = "https://ajbikes.example/problems/idempotency-key-reused"
NOT_CANCELLABLE = "https://ajbikes.example/problems/order-not-cancellable"


def problem(
    req: func.HttpRequest,
    status: int,
    problem_type: str,
    title: str,
    detail: str,
    errors: list[FieldError] | None = None,
) -> func.HttpResponse:
    """Return a problem response; `instance` is the request's URL, `errors` the invalid fields.

    `instance` is absolute and without the query, which may carry a function key. Behind API
    Management, `redirect-content-urls` rewrites the Function App's URL into the gateway's.
    """
    parts = urlsplit(req.url)
    body: dict[str, Any] = {
        "type": problem_type,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": urlunsplit((parts.scheme, parts.netloc, parts.path, "", "")),
    }
    if errors:
        body["errors"] = [
            {"field": error.field, "pointer": _json_pointer(error.field), "detail": error.message}
            for error in errors
        ]
    return func.HttpResponse(json.dumps(body), status_code=status, mimetype=PROBLEM_JSON)


def not_found(req: func.HttpRequest, resource: str, identifier: str) -> func.HttpResponse:
    """Return 404 naming the kind of resource and the id that was not found."""
    return problem(
        req,
        404,
        NOT_FOUND,
        f"{resource.capitalize()} not found",
        f"no {resource} has id {identifier!r}; check the id in the URL",
    )


def invalid_request(
    req: func.HttpRequest, detail: str, errors: list[FieldError] | None = None
) -> func.HttpResponse:
    """Return 400 for a body that is not valid JSON or whose fields are invalid."""
    return problem(req, 400, INVALID_REQUEST, "Invalid request", detail, errors)


def _json_pointer(field: str) -> str:
    """Turn a field path such as `lines[0].quantity` into the JSON Pointer `#/lines/0/quantity`."""
    if field == "(body)":
        return "#"
    parts = field.replace("[", ".").replace("]", "").split(".")
    escaped = (part.replace("~", "~0").replace("/", "~1") for part in parts if part)
    return "#/" + "/".join(escaped)
