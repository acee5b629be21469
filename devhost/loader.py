"""Load a Function App folder like Core Tools: settings, host.json, and the indexed functions."""

from __future__ import annotations

import importlib
import inspect
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devhost.routing import RouteTemplate

HTTP_TRIGGER = "httpTrigger"
ORCHESTRATION_TRIGGER = "orchestrationTrigger"
ACTIVITY_TRIGGER = "activityTrigger"
RESERVED_ROUTE_ROOTS = ("admin", "runtime")


class LoadError(Exception):
    """The app folder cannot be hosted; the message says why and what to fix."""


@dataclass(frozen=True)
class FunctionInfo:
    """One indexed function: its trigger, bindings and the callable the worker would invoke."""

    name: str
    trigger: dict[str, Any]
    bindings: tuple[dict[str, Any], ...]
    func: Callable[..., Any]
    route: RouteTemplate | None = None

    @property
    def trigger_type(self) -> str:
        return self.trigger["type"]

    @property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.func)

    @property
    def methods(self) -> frozenset[str] | None:
        methods = self.trigger.get("methods")
        return frozenset(m.upper() for m in methods) if methods else None

    @property
    def auth_level(self) -> str:
        return str(self.trigger.get("authLevel", "FUNCTION")).upper()


def read_json_file(path: Path) -> dict[str, Any]:
    """Read a JSON object from a file; a missing file reads as an empty object."""
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        message = f"{path} is not valid JSON: {error}. Fix the file and start again."
        raise LoadError(message) from error


def load_settings(app_dir: Path) -> dict[str, str]:
    """Copy local.settings.json `Values` into os.environ, as Core Tools does.

    A variable already set in the environment wins over the file, so a shell or a test can
    override one setting without editing the file.
    """
    values = read_json_file(app_dir / "local.settings.json").get("Values") or {}
    settings = {str(key): str(value) for key, value in values.items()}
    for key, value in settings.items():
        os.environ.setdefault(key, value)
    return settings


def import_function_app(app_dir: Path) -> Any:
    """Import `function_app` from the app folder and return its FunctionRegister instance."""
    from azure.functions.decorators.function_app import FunctionRegister

    if not (app_dir / "function_app.py").exists():
        raise LoadError(f"No function_app.py in {app_dir}. Pass the app folder with --app.")
    sys.path.insert(0, str(app_dir))
    try:
        module = importlib.import_module("function_app")
    except Exception as error:
        raise LoadError(
            f"Importing function_app from {app_dir} failed: {type(error).__name__}: {error}"
        ) from error

    apps = [value for value in vars(module).values() if isinstance(value, FunctionRegister)]
    if len(apps) != 1:
        raise LoadError(
            f"function_app.py in {app_dir} must define exactly one FunctionApp at module level; "
            f"found {len(apps)}."
        )
    return apps[0]


def index_functions(app: Any) -> list[FunctionInfo]:
    """Index the app once with get_functions(); a second call would raise in azure-functions."""
    try:
        indexed = app.get_functions()
    except Exception as error:
        raise LoadError(f"Indexing the app failed: {type(error).__name__}: {error}") from error

    functions = []
    for function in indexed:
        bindings = tuple(json.loads(function.get_function_json())["bindings"])
        trigger = next(b for b in bindings if b["type"] == function.get_trigger().type)
        route = None
        if trigger["type"] == HTTP_TRIGGER:
            route = RouteTemplate(trigger.get("route") or function.get_function_name())
        functions.append(
            FunctionInfo(
                name=function.get_function_name(),
                trigger=trigger,
                bindings=bindings,
                func=function.get_user_function(),
                route=route,
            )
        )
    check_routes(functions)
    check_durable_signatures(functions)
    return functions


def check_durable_signatures(functions: list[FunctionInfo]) -> None:
    """Reject Durable functions that the Python worker could not call.

    The SDK's orchestrator handler takes a parameter named `context`, and the worker binds
    arguments by name; the durable client middleware awaits the user's function.
    """
    for function in functions:
        if function.trigger_type == ORCHESTRATION_TRIGGER and function.trigger["name"] != "context":
            raise LoadError(
                f"Orchestrator '{function.name}' names its context '{function.trigger['name']}', "
                "but the Durable SDK's handler takes 'context'. Use "
                "orchestration_trigger(context_name=\"context\")."
            )
        client = getattr(function.func, "client_function", None)
        if client is not None and not inspect.iscoroutinefunction(client):
            raise LoadError(
                f"Function '{function.name}' has a durable client binding but is not async; "
                "the Durable SDK awaits it. Declare it with 'async def'."
            )


def check_routes(functions: list[FunctionInfo]) -> None:
    """Reject reserved routes and two HTTP functions that answer the same route and method."""
    seen: dict[str, list[FunctionInfo]] = {}
    for function in functions:
        if function.route is None:
            continue
        root = function.route.template.strip("/").split("/")[0].lower()
        if root in RESERVED_ROUTE_ROOTS:
            raise LoadError(
                f"Function '{function.name}' uses the reserved route '{function.route.template}': "
                f"routes starting with {' or '.join(RESERVED_ROUTE_ROOTS)}/ belong to the host. "
                "Choose another route."
            )
        for other in seen.get(function.route.shape, []):
            if _methods_overlap(function.methods, other.methods):
                raise LoadError(
                    f"Route conflict: functions '{other.name}' and '{function.name}' both answer "
                    f"'{function.route.template}' for the same HTTP methods. Give one of them "
                    "another route or method."
                )
        seen.setdefault(function.route.shape, []).append(function)


def _methods_overlap(first: frozenset[str] | None, second: frozenset[str] | None) -> bool:
    if first is None or second is None:
        return True
    return bool(first & second)


@dataclass
class LoadedApp:
    """An imported and indexed app with its settings and host.json."""

    app_dir: Path
    host_json: dict[str, Any]
    settings: dict[str, str]
    functions: list[FunctionInfo]
    _by_name: dict[str, FunctionInfo] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # The engine looks a function up for every episode and activity: index the names once.
        self._by_name = {}
        for function in self.functions:
            self._by_name.setdefault(function.name.lower(), function)

    @property
    def route_prefix(self) -> str:
        http = self.host_json.get("extensions", {}).get("http", {})
        return str(http.get("routePrefix", "api")).strip("/")

    def function(self, name: str) -> FunctionInfo | None:
        """Find a function by name, case-insensitively as the Functions host does."""
        return self._by_name.get(name.lower())


def load_app(app_dir: Path, state_dir: Path) -> LoadedApp:
    """Load settings, set DEVHOST_STATE_DIR, import and index the app in app_dir."""
    host_json = read_json_file(app_dir / "host.json")
    settings = load_settings(app_dir)
    os.environ["DEVHOST_STATE_DIR"] = str(state_dir)
    app = import_function_app(app_dir)
    return LoadedApp(app_dir, host_json, settings, index_functions(app))
