"""The Durable HTTP API and the durable client binding value, served beside /api.

The same handlers answer on the public webhook path `/runtime/webhooks/durabletask/` (which
needs the master key or the `durabletask_extension` system key, as on Azure) and on the client's
`rpcBaseUrl` path `/durabletask/`, which the SDK calls without a key, as it calls the
extension's loopback listener. Status codes follow the extension's HttpApiHandler.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from aiohttp import web
from azure.functions import meta

from devhost.durable import history as h
from devhost.durable.engine import (
    DurableEngine,
    InstanceExistsError,
    InstanceNotFoundError,
    UnknownOrchestratorError,
)
from devhost.durable.store import TERMINAL_STATUSES
from devhost.keys import DURABLE_SYSTEM_KEY, HostKeys
from devhost.loader import FunctionInfo

WEBHOOK_PREFIX = "/runtime/webhooks/durabletask"
RPC_PREFIX = "/durabletask"
RUNNING_STATUSES = ("Running", "Pending", "ContinuedAsNew", "Suspended")
ALL_STATUSES = (*RUNNING_STATUSES, *TERMINAL_STATUSES)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"Message": message, "ExceptionMessage": message}, status=status)


def _flag(request: web.Request, name: str, default: bool) -> bool:
    value = request.query.get(name)
    return default if value is None else value.lower() == "true"


def _short_time(stored: str) -> str:
    return stored[:19] + "Z"


def _origin(request: web.Request) -> str:
    return str(request.url.origin()).rstrip("/")


def _load(text: str | None) -> Any:
    return None if text is None else json.loads(text)


class DurableHttpApi:
    """aiohttp handlers for orchestration start, status, events and management."""

    def __init__(self, engine: DurableEngine, keys: HostKeys) -> None:
        self._engine = engine
        self._keys = keys

    # ------------------------------------------------------------ wiring

    def add_routes(self, app: web.Application) -> None:
        routes: list[tuple[str, str, Handler]] = [
            ("POST", "/orchestrators/{name}", self.start),
            ("POST", "/orchestrators/{name}/{instance_id}", self.start),
            ("GET", "/instances", self.list_instances),
            ("GET", "/instances/", self.list_instances),
            ("DELETE", "/instances", self.purge_by_filter),
            ("DELETE", "/instances/", self.purge_by_filter),
            ("GET", "/instances/{instance_id}", self.get_status),
            ("DELETE", "/instances/{instance_id}", self.purge),
            ("POST", "/instances/{instance_id}/raiseEvent/{event_name}", self.raise_event),
            ("POST", "/instances/{instance_id}/terminate", self.terminate),
            ("POST", "/instances/{instance_id}/suspend", self.suspend),
            ("POST", "/instances/{instance_id}/resume", self.resume),
            ("POST", "/instances/{instance_id}/restart", self.restart),
            ("POST", "/instances/{instance_id}/rewind", self.rewind),
            ("*", "/entities/{tail:.*}", self.entities),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, WEBHOOK_PREFIX + path, self._with_system_key(handler))
            app.router.add_route(method, RPC_PREFIX + path, handler)

    def _with_system_key(self, handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            key = request.query.get("code") or request.headers.get("x-functions-key")
            if not self._keys.allows_system(DURABLE_SYSTEM_KEY, key):
                return _error(401, "A valid master key or durabletask_extension system key "
                                   "is required (code query parameter or x-functions-key).")
            return await handler(request)

        return guarded

    def management_urls(self, origin: str, instance_id: str) -> dict[str, str]:
        """Build the check-status payload for instance_id on origin."""
        base = origin + WEBHOOK_PREFIX
        query = (f"taskHub={quote(self._engine.hub_name)}&connection=Storage"
                 f"&code={quote(self._keys.durable_key)}")
        instance = f"{base}/instances/{instance_id}"
        return {
            "id": instance_id,
            "statusQueryGetUri": f"{instance}?{query}",
            "sendEventPostUri": f"{instance}/raiseEvent/{{eventName}}?{query}",
            "terminatePostUri": f"{instance}/terminate?reason={{text}}&{query}",
            "rewindPostUri": f"{instance}/rewind?reason={{text}}&{query}",
            "purgeHistoryDeleteUri": f"{instance}?{query}",
            "restartPostUri": f"{instance}/restart?{query}",
            "suspendPostUri": f"{instance}/suspend?reason={{text}}&{query}",
            "resumePostUri": f"{instance}/resume?reason={{text}}&{query}",
        }

    def client_binding(self, base_url: str) -> Callable[[FunctionInfo, dict], meta.Datum]:
        """Return the durableClient input provider: the binding JSON the extension sends."""

        def provide(function: FunctionInfo, binding: dict[str, Any]) -> meta.Datum:
            urls = self.management_urls(base_url, "INSTANCEID")
            base = base_url + WEBHOOK_PREFIX
            query = urls["statusQueryGetUri"].split("?", 1)[1]
            value = {
                "taskHubName": binding.get("taskHub") or self._engine.hub_name,
                "creationUrls": {
                    "createNewInstancePostUri":
                        f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]?{query}",
                    "createAndWaitOnNewInstancePostUri":
                        f"{base}/orchestrators/{{functionName}}[/{{instanceId}}]"
                        f"?timeout={{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}"
                        f"&{query}",
                },
                "managementUrls": urls,
                "baseUrl": base,
                "requiredQueryStringParameters": query,
                "rpcBaseUrl": f"{base_url}{RPC_PREFIX}/",
            }
            return meta.Datum(type="string", value=json.dumps(value))

        return provide

    # ------------------------------------------------------------ helpers

    def _row(self, instance_id: str) -> sqlite3.Row | None:
        return self._engine.reader.execute(
            "SELECT * FROM instances WHERE instance_id=?", (instance_id,)
        ).fetchone()

    def _accepted(self, request: web.Request, instance_id: str) -> web.Response:
        payload = self.management_urls(_origin(request), instance_id)
        return web.json_response(
            payload, status=202,
            headers={"Location": payload["statusQueryGetUri"], "Retry-After": "10"},
        )

    def _status_payload(self, row: sqlite3.Row, *, show_input: bool = True,
                        show_history: bool = False, show_output: bool = False) -> dict[str, Any]:
        payload = {
            "name": row["name"],
            "instanceId": row["instance_id"],
            "runtimeStatus": row["status"],
            "input": row["input"] if show_input else None,
            "customStatus": _load(row["custom_status"]),
            "output": _load(row["output"]),
            "createdTime": _short_time(row["created_time"]),
            "lastUpdatedTime": _short_time(row["last_updated_time"]),
        }
        if show_history:
            payload["historyEvents"] = self._history_events(row, show_output)
        return payload

    def _history_events(self, row: sqlite3.Row, show_output: bool) -> list[dict[str, Any]]:
        """Format the history as the extension's status API does."""
        events = [json.loads(text) for (text,) in self._engine.reader.execute(
            "SELECT event FROM history WHERE instance_id=? ORDER BY sequence",
            (row["instance_id"],),
        )]
        scheduled = {e["EventId"]: e for e in events
                     if e["EventType"] in (h.TASK_SCHEDULED, h.SUB_ORCHESTRATION_CREATED)}
        completions = (h.TASK_COMPLETED, h.TASK_FAILED, h.SUB_ORCHESTRATION_COMPLETED,
                       h.SUB_ORCHESTRATION_FAILED)
        folded = {e["TaskScheduledId"] for e in events if e["EventType"] in completions}
        formatted = []
        for event in events:
            kind = event["EventType"]
            if kind in (h.ORCHESTRATOR_STARTED, h.ORCHESTRATOR_COMPLETED):
                continue
            is_scheduling = kind in (h.TASK_SCHEDULED, h.SUB_ORCHESTRATION_CREATED)
            if is_scheduling and event["EventId"] in folded:
                continue
            item = {k: v for k, v in event.items()
                    if k not in ("EventId", "IsPlayed", "TaskScheduledId", "TimerId", "EventType")}
            item = {"EventType": h.EVENT_NAMES.get(kind, str(kind)), **item}
            if kind == h.EXECUTION_STARTED:
                item["FunctionName"] = row["name"]
            if kind in completions and event["TaskScheduledId"] in scheduled:
                origin = scheduled[event["TaskScheduledId"]]
                item.update(FunctionName=origin.get("Name"), ScheduledTime=origin["Timestamp"],
                            Input=origin.get("Input"))
            if not show_output:
                item.pop("Result", None)
            formatted.append(item)
        return formatted

    # ------------------------------------------------------------ handlers

    async def start(self, request: web.Request) -> web.Response:
        body = await request.text()
        try:
            decoded = json.loads(body) if body else None
        except json.JSONDecodeError:
            return _error(400, "Invalid JSON content")
        input_text = decoded if isinstance(decoded, str) or decoded is None else json.dumps(decoded)
        try:
            instance_id = await self._engine.start_new(
                request.match_info["name"], request.match_info.get("instance_id"), input_text,
                request.headers.get("traceparent", ""),
            )
        except UnknownOrchestratorError as error:
            return _error(400, str(error))
        except InstanceExistsError as error:
            return _error(409, str(error))
        return self._accepted(request, instance_id)

    async def get_status(self, request: web.Request) -> web.Response:
        row = self._row(request.match_info["instance_id"])
        if row is None:
            return web.Response(status=404)
        payload = self._status_payload(
            row,
            show_input=_flag(request, "showInput", True),
            show_history=_flag(request, "showHistory", False),
            show_output=_flag(request, "showHistoryOutput", False),
        )
        if row["status"] in RUNNING_STATUSES:
            return web.json_response(payload, status=202, headers={
                "Location": str(request.url), "Retry-After": "5"})
        failed = row["status"] == "Failed" and _flag(
            request, "returnInternalServerErrorOnFailure", False)
        return web.json_response(payload, status=500 if failed else 200)

    def _filtered_rows(self, request: web.Request) -> list[sqlite3.Row]:
        clauses, parameters = [], []
        statuses = [s for value in request.query.getall("runtimeStatus", [])
                    for s in value.split(",") if s in ALL_STATUSES]
        if statuses:
            clauses.append(f"status IN ({','.join('?' * len(statuses))})")
            parameters.extend(statuses)
        if "createdTimeFrom" in request.query:
            clauses.append("created_time >= ?")
            parameters.append(request.query["createdTimeFrom"])
        if "createdTimeTo" in request.query:
            clauses.append("created_time <= ?")
            parameters.append(request.query["createdTimeTo"])
        if "instanceIdPrefix" in request.query:
            clauses.append("substr(instance_id, 1, ?) = ?")
            prefix = request.query["instanceIdPrefix"]
            parameters.extend([len(prefix), prefix])
        where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
        return self._engine.reader.execute(
            f"SELECT * FROM instances{where} ORDER BY created_time", parameters
        ).fetchall()

    async def list_instances(self, request: web.Request) -> web.Response:
        show_input = _flag(request, "showInput", True)
        rows = self._filtered_rows(request)
        return web.json_response([self._status_payload(r, show_input=show_input) for r in rows])

    async def purge(self, request: web.Request) -> web.Response:
        instance_id = request.match_info["instance_id"]
        row = self._row(instance_id)
        if row is None:
            return web.Response(status=404)
        if row["status"] not in TERMINAL_STATUSES:
            return _error(412, "Only orchestrations in a terminal state can be purged, but the "
                               f"orchestration with instance ID {instance_id} has status "
                               f"{row['status']}")
        deleted = await self._engine.purge([instance_id])
        return web.json_response({"instancesDeleted": deleted})

    async def purge_by_filter(self, request: web.Request) -> web.Response:
        if "createdTimeFrom" not in request.query:
            return _error(400, "Please provide value for 'createdTimeFrom' parameter.")
        rows = [r for r in self._filtered_rows(request) if r["status"] in TERMINAL_STATUSES]
        deleted = await self._engine.purge([r["instance_id"] for r in rows])
        if deleted == 0:
            return web.Response(status=404)
        return web.json_response({"instancesDeleted": deleted})

    async def _send(self, request: web.Request, operation: Callable[[], Awaitable[None]]
                    ) -> web.Response:
        row = self._row(request.match_info["instance_id"])
        if row is None:
            return web.Response(status=404)
        if row["status"] in TERMINAL_STATUSES:
            return web.Response(status=410)
        try:
            await operation()
        except InstanceNotFoundError:
            return web.Response(status=404)
        except InstanceExistsError:
            return web.Response(status=410)
        return web.Response(status=202)

    async def raise_event(self, request: web.Request) -> web.Response:
        row = self._row(request.match_info["instance_id"])
        if row is not None and row["status"] not in TERMINAL_STATUSES:
            if request.content_type.lower() != "application/json":
                return _error(400, "Only application/json request content is supported")
            try:
                input_text = json.dumps(json.loads(await request.text()))
            except json.JSONDecodeError:
                return _error(400, "Invalid JSON content")
        else:
            input_text = "null"
        return await self._send(request, lambda: self._engine.raise_event(
            request.match_info["instance_id"], request.match_info["event_name"], input_text))

    async def terminate(self, request: web.Request) -> web.Response:
        return await self._control(request, h.EXECUTION_TERMINATED)

    async def suspend(self, request: web.Request) -> web.Response:
        return await self._control(request, h.EXECUTION_SUSPENDED)

    async def resume(self, request: web.Request) -> web.Response:
        return await self._control(request, h.EXECUTION_RESUMED)

    async def _control(self, request: web.Request, event_type: int) -> web.Response:
        reason = request.query.get("reason")
        return await self._send(request, lambda: self._engine.control(
            request.match_info["instance_id"], event_type, reason))

    async def restart(self, request: web.Request) -> web.Response:
        """Restart with the original name and input; answer 202 with the new id as JSON text.

        The Python SDK's restart() returns this body as the new instance id.
        """
        row = self._row(request.match_info["instance_id"])
        if row is None:
            return _error(400, "InstanceId does not match a valid orchestration instance.")
        new_id = None if _flag(request, "restartWithNewInstanceId", True) else row["instance_id"]
        try:
            instance_id = await self._engine.start_new(row["name"], new_id, row["input"])
        except InstanceExistsError:
            return _error(409, "A non-terminal instance with this instance ID already exists.")
        except UnknownOrchestratorError as error:
            return _error(400, str(error))
        payload = self.management_urls(_origin(request), instance_id)
        return web.json_response(instance_id, status=202,
                                 headers={"Location": payload["statusQueryGetUri"]})

    async def rewind(self, request: web.Request) -> web.Response:
        row = self._row(request.match_info["instance_id"])
        if row is None:
            instance_id = request.match_info["instance_id"]
            return _error(404, f"No orchestration with instance ID \"{instance_id}\" found.")
        if row["status"] != "Failed":
            return _error(412, f"This orchestration has status {row['status']}, but only "
                               "orchestrations in the \"Failed\" state can be rewound.")
        return _error(501, "Rewind is not supported by devhost.")

    async def entities(self, request: web.Request) -> web.Response:
        return _error(501, "Durable entities are not supported by devhost.")

