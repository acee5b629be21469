"""HTTP triggers under /<routePrefix>/ and the admin endpoint that fires non-HTTP functions."""

from __future__ import annotations

import asyncio
import json
import logging
from http.cookies import SimpleCookie

from aiohttp import web
from azure.functions import meta

from devhost.invoker import InvocationError, Invoker
from devhost.keys import HostKeys
from devhost.loader import HTTP_TRIGGER, FunctionInfo, LoadedApp

logger = logging.getLogger("devhost.http")


def request_key(request: web.Request) -> str | None:
    """Return the key sent as the `code` query parameter or the x-functions-key header."""
    return request.query.get("code") or request.headers.get("x-functions-key")


async def http_datum(request: web.Request, route_params: dict[str, str]) -> meta.Datum:
    """Build the `http` Datum the host sends the worker: lower-cased headers, bytes body."""
    body = await request.read()
    query: dict[str, meta.Datum] = {}
    for name in request.query:
        value = request.query.get(name)
        if value:
            query[name] = meta.Datum(type="string", value=value)
    headers = {
        name.lower(): meta.Datum(type="string", value=", ".join(request.headers.getall(name)))
        for name in request.headers
    }
    return meta.Datum(type="http", value={
        "method": meta.Datum(type="string", value=request.method),
        "url": meta.Datum(type="string", value=str(request.url)),
        "headers": headers,
        "query": query,
        "params": {k: meta.Datum(type="string", value=v) for k, v in route_params.items()},
        "body": meta.Datum(type="bytes", value=body),
    })


def http_response(datum: meta.Datum | None) -> web.Response:
    """Turn the encoded `$return` value into an aiohttp response."""
    if datum is None or datum.value is None:
        return web.Response(status=204)
    if datum.type == "string":
        return web.Response(status=200, text=datum.value)
    if datum.type != "http":
        return web.Response(status=200, body=str(datum.python_value).encode())
    value = datum.value
    response = web.Response(status=int(value["status_code"].value), body=value["body"].value)
    for name, header in value["headers"].items():
        response.headers[name] = header.value
    for cookie in value.get("cookies") or []:
        for morsel in SimpleCookie(cookie).values():
            response.headers.add("Set-Cookie", morsel.OutputString())
    return response


class HttpTriggers:
    """Route requests to HTTP-triggered functions, checking auth levels and function keys."""

    def __init__(self, app: LoadedApp, invoker: Invoker, keys: HostKeys) -> None:
        self._app = app
        self._invoker = invoker
        self._keys = keys
        self._routes = sorted(
            (f for f in app.functions if f.trigger_type == HTTP_TRIGGER),
            key=lambda f: f.route.precedence,
        )
        self._prefix = f"/{app.route_prefix}" if app.route_prefix else ""
        self._background: set[asyncio.Task] = set()

    def add_routes(self, application: web.Application) -> None:
        application.router.add_post("/admin/functions/{name}", self.fire)
        application.router.add_route("*", "/{tail:.*}", self.dispatch)

    def _find(self, request: web.Request) -> tuple[FunctionInfo, dict[str, str]] | None:
        raw_path = request.rel_url.raw_path
        if self._prefix:
            if raw_path.lower() != self._prefix and not raw_path.lower().startswith(
                    self._prefix + "/"):
                return None
            raw_path = raw_path[len(self._prefix):]
        for function in self._routes:
            values = function.route.match(raw_path)
            if values is None:
                continue
            if function.methods is None or request.method.upper() in function.methods:
                return function, values
        return None

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        found = self._find(request)
        if found is None:
            return web.Response(status=404)
        function, route_params = found
        if not self._keys.allows(function.auth_level, request_key(request)):
            return web.Response(status=401)

        trigger = await http_datum(request, route_params)
        try:
            result = await self._invoker.invoke(
                function, trigger=trigger, trace_parent=request.headers.get("traceparent", "")
            )
        except InvocationError as failure:
            logger.error("Function %s failed (invocation %s)", function.name,
                         failure.invocation_id, exc_info=failure.error)
            return web.Response(status=500)
        return http_response(result.return_value)

    async def fire(self, request: web.Request) -> web.Response:
        """Run a non-HTTP function once with {"input": "..."} as its trigger, as Core Tools does."""
        if not self._keys.allows("ADMIN", request_key(request)):
            return web.Response(status=401)
        function = self._app.function(request.match_info["name"])
        if function is None:
            return web.Response(status=404)
        if function.trigger_type == HTTP_TRIGGER:
            return web.json_response(
                {"Message": f"Function '{function.name}' is an HTTP function; call its route."},
                status=400,
            )
        try:
            body = await request.json() if await request.read() else {}
        except json.JSONDecodeError:
            message = 'The body must be JSON like {"input": "..."}.'
            return web.json_response({"Message": message}, status=400)
        trigger = meta.Datum(type="string", value=str((body or {}).get("input") or ""))
        task = asyncio.create_task(self._run_fired(function, trigger))
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return web.Response(status=202)

    async def _run_fired(self, function: FunctionInfo, trigger: meta.Datum) -> None:
        try:
            result = await self._invoker.invoke(function, trigger=trigger)
        except InvocationError as failure:
            logger.error("Function %s failed (invocation %s)", function.name,
                         failure.invocation_id, exc_info=failure.error)
            return
        except Exception:
            logger.exception("Function %s could not be invoked from the admin endpoint",
                             function.name)
            return
        logger.info("Function %s ran from the admin endpoint (invocation %s)", function.name,
                    result.invocation_id)
