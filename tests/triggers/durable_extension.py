"""A loopback stand-in for the Durable extension's HTTP API that records the client's calls.

`DurableOrchestrationClient` sends every operation to the binding's `rpcBaseUrl`. This server
returns, for start, get-status and raise-event, the status codes and bodies the extension
uses: 202 with the check-status payload for a start; 200 (finished) or 202 (running) with the
status JSON, or 404 with an empty body, for a status read; 202, 404 (unknown instance), 410
(finished instance) or 400 (body that is not JSON) for an event.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

FINISHED = frozenset({"Completed", "Failed", "Terminated", "Canceled"})
TASK_HUB = "TestHub"


@dataclass
class Instance:
    """One orchestration instance as the extension stores it."""

    name: str
    input_json: str
    runtime_status: str = "Running"
    custom_status: Any = None
    output: Any = None
    created_time: str = "2026-12-04T20:00:00Z"
    last_updated_time: str = "2026-12-04T20:00:05Z"

    def to_status(self, instance_id: str) -> dict[str, Any]:
        # Python-started instances keep their input as the JSON text the client sent.
        return {
            "name": self.name,
            "instanceId": instance_id,
            "runtimeStatus": self.runtime_status,
            "input": self.input_json,
            "customStatus": self.custom_status,
            "output": self.output,
            "createdTime": self.created_time,
            "lastUpdatedTime": self.last_updated_time,
        }


@dataclass
class RaisedEvent:
    instance_id: str
    name: str
    data: Any


@dataclass
class StartedOrchestration:
    name: str
    instance_id: str
    input: Any


@dataclass
class FakeDurableExtension:
    """The recorded calls and the instances, served on 127.0.0.1 at a free port."""

    instances: dict[str, Instance] = field(default_factory=dict)
    started: list[StartedOrchestration] = field(default_factory=list)
    raised: list[RaisedEvent] = field(default_factory=list)
    status_reads: list[str] = field(default_factory=list)
    base_url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/durabletask/orchestrators/{name}/{instance_id}", self._start_new)
        app.router.add_get("/durabletask/instances/{instance_id}", self._get_status)
        app.router.add_post(
            "/durabletask/instances/{instance_id}/raiseEvent/{event}", self._raise_event
        )
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def client_binding(self) -> str:
        """Return the durableClient binding data the host passes to a client function."""
        webhooks = f"{self.base_url}/runtime/webhooks/durabletask"
        instance = f"{webhooks}/instances/INSTANCEID"
        create = f"{webhooks}/orchestrators/{{functionName}}"
        return json.dumps(
            {
                "taskHubName": TASK_HUB,
                "creationUrls": {
                    "createNewInstancePostUri": create,
                    "createAndWaitOnNewInstancePostUri": create,
                },
                "managementUrls": {
                    "id": "INSTANCEID",
                    "statusQueryGetUri": instance,
                    "sendEventPostUri": f"{instance}/raiseEvent/{{eventName}}",
                    "terminatePostUri": f"{instance}/terminate",
                    "rewindPostUri": f"{instance}/rewind",
                    "purgeHistoryDeleteUri": instance,
                    "restartPostUri": f"{instance}/restart",
                    "suspendPostUri": f"{instance}/suspend",
                    "resumePostUri": f"{instance}/resume",
                },
                "baseUrl": webhooks,
                "requiredQueryStringParameters": "code=system-key",
                "rpcBaseUrl": f"{self.base_url}/durabletask/",
            }
        )

    def add_instance(self, instance_id: str, saga_input: Any, **fields: Any) -> Instance:
        instance = Instance("order_saga", json.dumps(saga_input), **fields)
        self.instances[instance_id] = instance
        return instance

    async def _start_new(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        instance_id = request.match_info["instance_id"]
        # The client posts the input's JSON text as a JSON string.
        input_json = json.loads(await request.text())
        self.started.append(StartedOrchestration(name, instance_id, json.loads(input_json)))
        self.instances[instance_id] = Instance(name, input_json, runtime_status="Pending")
        return web.json_response(
            {"id": instance_id, "statusQueryGetUri": f"{self.base_url}/status/{instance_id}"},
            status=202,
        )

    async def _get_status(self, request: web.Request) -> web.Response:
        instance_id = request.match_info["instance_id"]
        self.status_reads.append(instance_id)
        instance = self.instances.get(instance_id)
        if instance is None:
            return web.Response(status=404)

        status = 200 if instance.runtime_status in FINISHED else 202
        return web.json_response(instance.to_status(instance_id), status=status)

    async def _raise_event(self, request: web.Request) -> web.Response:
        instance_id = request.match_info["instance_id"]
        if request.content_type != "application/json":
            return web.Response(
                status=400, text="Only application/json request content is supported"
            )

        instance = self.instances.get(instance_id)
        if instance is None:
            return web.Response(status=404)
        if instance.runtime_status in FINISHED:
            return web.Response(status=410)

        # The client JSON-encodes the data and posts that text as a JSON string.
        posted = json.loads(await request.text())
        data = json.loads(posted) if isinstance(posted, str) else posted
        self.raised.append(RaisedEvent(instance_id, request.match_info["event"], data))
        return web.Response(status=202)
