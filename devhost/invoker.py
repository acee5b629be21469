"""Invoke an indexed function as the Python worker does, through the azure.functions converters.

Usage by any trigger source (HTTP, Service Bus, the Durable engine):

    result = await invoker.invoke(function, trigger=Datum(...), trigger_metadata={name: Datum})

The invoker decodes the trigger and the other input bindings into Python arguments, calls the
function (async functions on the event loop, sync ones in a thread pool), then encodes the return
value and every `func.Out` value with the converter of its binding. Input bindings other than the
trigger (for example `durableClient`) are filled by providers registered per binding type, and
output values can be handed to sinks registered per binding type (for example `serviceBus`).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import inspect
import logging
import random
import threading
import typing
import uuid
from collections.abc import Awaitable, Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import azure.functions as func
from azure.functions import meta

from devhost.loader import HTTP_TRIGGER, FunctionInfo
from devhost.traces import HostSpan, SpanRecorder

try:  # The app's OpenTelemetry API, when installed, receives each invocation's trace context.
    from opentelemetry import context as otel_context
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
except ImportError:  # pragma: no cover - the Durable SDK depends on opentelemetry-api
    otel_context = None

logger = logging.getLogger("devhost.invoker")

SERVICEBUS_TRIGGER = "serviceBusTrigger"

RETURN_BINDING = "$return"

InputProvider = Callable[[FunctionInfo, dict[str, Any]], meta.Datum]
OutputSink = Callable[[FunctionInfo, dict[str, Any], meta.Datum], Awaitable[None]]


class InvocationError(Exception):
    """The function raised; `__cause__` is its exception."""

    def __init__(self, function_name: str, invocation_id: str, error: BaseException) -> None:
        super().__init__(
            f"Function '{function_name}' (invocation {invocation_id}) failed: "
            f"{type(error).__name__}: {error}"
        )
        self.function_name = function_name
        self.invocation_id = invocation_id
        self.error = error


@dataclass
class InvocationResult:
    """The encoded results of one invocation: `$return` (or implicit output) and `func.Out`s."""

    invocation_id: str
    return_value: meta.Datum | None
    outputs: dict[str, meta.Datum] = field(default_factory=dict)


class _Out(func.Out):
    """The worker's own settable `func.Out` (the azure.functions class is abstract)."""

    def __init__(self) -> None:
        self._value: Any = None

    def set(self, val: Any) -> None:
        self._value = val

    def get(self) -> Any:
        return self._value


class _TraceContext(func._abc.TraceContext):
    def __init__(self, trace_parent: str, trace_state: str) -> None:
        self._trace_parent, self._trace_state = trace_parent, trace_state

    @property
    def trace_state(self) -> str:
        return self._trace_state

    @property
    def trace_parent(self) -> str:
        return self._trace_parent

    @property
    def attributes(self) -> dict[str, str]:
        return {}


class _RetryContext(func._abc.RetryContext):
    @property
    def retry_count(self) -> int:
        return 0

    @property
    def max_retry_count(self) -> int:
        return 0

    @property
    def exception(self) -> Any:
        return None


class InvocationContext(func.Context):
    """The `context: func.Context` argument: invocation id, function name and trace context."""

    def __init__(self, invocation_id: str, function: FunctionInfo, directory: str,
                 trace_parent: str = "", trace_state: str = "") -> None:
        self._invocation_id = invocation_id
        self._function_name = function.name
        self._directory = directory
        self._trace = _TraceContext(trace_parent, trace_state)
        self._thread_local = threading.local()

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def thread_local_storage(self) -> threading.local:
        return self._thread_local

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._directory

    @property
    def trace_context(self) -> func._abc.TraceContext:
        return self._trace

    @property
    def retry_context(self) -> func._abc.RetryContext:
        return _RetryContext()


class _GenericBinding:
    """The worker's fallback for unknown bindings and for str/bytes parameters."""

    @staticmethod
    def decode(data: meta.Datum, *, trigger_metadata: Any) -> Any:
        if data is None or data.type is None:
            return None
        if data.type in ("string", "bytes", "json"):
            return data.value
        raise ValueError(f"unexpected type of data received for the generic binding: {data.type}")

    @staticmethod
    def encode(obj: Any, *, expected_type: Any) -> meta.Datum:
        if isinstance(obj, str):
            return meta.Datum(type="string", value=obj)
        if isinstance(obj, (bytes, bytearray)):
            return meta.Datum(type="bytes", value=bytes(obj))
        raise NotImplementedError(f"the generic binding cannot encode {type(obj).__name__}")


def _attach_trace_context(trace_parent: str) -> object | None:
    """Make `trace_parent` the OpenTelemetry context of the call, as the Python worker does.

    The worker does this when the PYTHON_ENABLE_OPENTELEMETRY app setting is true, so spans
    the function starts, and the traceparent the Durable client sends, continue the trace.
    """
    if otel_context is None or not trace_parent:
        return None
    extracted = TraceContextTextMapPropagator().extract({"traceparent": trace_parent})
    return otel_context.attach(extracted)


def _trigger_attributes(function: FunctionInfo, trigger: meta.Datum,
                        trigger_metadata: dict[str, meta.Datum]) -> tuple[str, dict[str, Any]]:
    """Return the span kind and the semantic-convention attributes of a trigger."""
    if function.trigger_type == HTTP_TRIGGER and isinstance(trigger.value, dict):
        request = trigger.value
        return "SERVER", {"faas.trigger": "http",
                          "http.request.method": request["method"].value,
                          "url.full": request["url"].value}
    if function.trigger_type == SERVICEBUS_TRIGGER:
        binding = function.trigger
        destination = binding.get("queueName") or binding.get("topicName")
        message_id = trigger_metadata.get("MessageId")
        return "CONSUMER", {"faas.trigger": "pubsub", "messaging.system": "servicebus",
                            "messaging.operation.type": "process",
                            "messaging.destination.name": destination,
                            "messaging.message.id": message_id.value if message_id else None}
    return "SERVER", {"faas.trigger": "other"}


def _record_http_status(span: HostSpan, result: InvocationResult) -> None:
    returned = result.return_value
    if returned is not None and returned.type == "http":
        status = int(returned.value["status_code"].value)
        span.attributes["http.response.status_code"] = status
        if status >= 500:
            span.status = "ERROR"


def new_id() -> uuid.UUID:
    """Return a random version-4 UUID for invocation, instance and execution ids.

    uuid.uuid4() reads os.urandom, which cost about 1 ms a call on the loaded development
    machine; these ids need to be unique, not unpredictable, so the random module serves.
    """
    return uuid.UUID(int=random.getrandbits(128), version=4)


def _converter(binding_type: str) -> Any:
    return meta.get_binding_registry().get(binding_type) or _GenericBinding


def _is_out_annotation(annotation: Any) -> bool:
    origin = typing.get_origin(annotation) or annotation
    return inspect.isclass(origin) and issubclass(origin, func.Out)


def _has_implicit_output(binding_type: str) -> bool:
    converter = meta.get_binding_registry().get(binding_type)
    has_output = getattr(converter, "has_implicit_output", None)
    return bool(has_output and has_output())


class Invoker:
    """Build arguments, call a function, and encode its outputs, as the Python worker does."""

    def __init__(self, app_dir: str, executor: Executor) -> None:
        self._app_dir = app_dir
        self._executor = executor
        self._providers: dict[str, InputProvider] = {}
        self._sinks: dict[str, OutputSink] = {}
        self._signatures: dict[str, inspect.Signature] = {}
        # Records an invocation span per call, as the Functions host does; None records none.
        self.recorder: SpanRecorder | None = None

    def register_input(self, binding_type: str, provider: InputProvider) -> None:
        """Fill every input binding of binding_type with provider(function, binding) -> Datum."""
        self._providers[binding_type] = provider

    def register_output(self, binding_type: str, sink: OutputSink) -> None:
        """Hand every value set on an output binding of binding_type to sink after the call."""
        self._sinks[binding_type] = sink

    async def invoke(
        self,
        function: FunctionInfo,
        *,
        trigger: meta.Datum,
        trigger_metadata: dict[str, meta.Datum] | None = None,
        inputs: dict[str, meta.Datum] | None = None,
        trace_parent: str = "",
        invocation_id: str | None = None,
        span_name: str | None = None,
        span_attributes: dict[str, Any] | None = None,
    ) -> InvocationResult:
        """Invoke function once; raise InvocationError when the function itself raises.

        `inputs` gives Datums for input bindings by binding name; bindings without one are
        filled by the provider registered for their type, or bound to None. With a recorder,
        the invocation gets a span (named `span_name`, default the function name) that is a
        child of `trace_parent`, and the function's `context.trace_context` is that span.
        """
        invocation_id = invocation_id or str(new_id())
        span = self._start_span(function, trigger, trigger_metadata or {}, trace_parent,
                                span_name, span_attributes, invocation_id)
        if span is not None:
            trace_parent = span.traceparent
        arguments, outs = self._build_arguments(
            function, trigger, trigger_metadata or {}, inputs or {}, invocation_id, trace_parent
        )

        token = _attach_trace_context(trace_parent)
        try:
            if function.is_async:
                returned = await function.func(**arguments)
            else:
                call = functools.partial(contextvars.copy_context().run, function.func, **arguments)
                returned = await asyncio.get_running_loop().run_in_executor(self._executor, call)
        except Exception as error:
            if span is not None:
                span.end(error)
            raise InvocationError(function.name, invocation_id, error) from error
        finally:
            if token is not None:
                otel_context.detach(token)

        result = self._encode_results(function, returned, outs, invocation_id)
        if span is not None:
            _record_http_status(span, result)
            span.end()
        await self._deliver_outputs(function, result)
        return result

    def _start_span(self, function: FunctionInfo, trigger: meta.Datum,
                    trigger_metadata: dict[str, meta.Datum], trace_parent: str,
                    name: str | None, attributes: dict[str, Any] | None,
                    invocation_id: str) -> HostSpan | None:
        if self.recorder is None:
            return None
        kind, trigger_attributes = _trigger_attributes(function, trigger, trigger_metadata)
        span_attributes = {"faas.name": function.name, "faas.invocation_id": invocation_id,
                           **trigger_attributes, **(attributes or {})}
        return self.recorder.start_span(name or function.name, kind, trace_parent,
                                        span_attributes)

    def _build_arguments(
        self,
        function: FunctionInfo,
        trigger: meta.Datum,
        trigger_metadata: dict[str, meta.Datum],
        inputs: dict[str, meta.Datum],
        invocation_id: str,
        trace_parent: str,
    ) -> tuple[dict[str, Any], dict[str, _Out]]:
        bindings = {b["name"]: b for b in function.bindings}
        arguments: dict[str, Any] = {}
        outs: dict[str, _Out] = {}
        for name, parameter in self._signature(function).parameters.items():
            binding = bindings.get(name)
            if binding is None:
                if name == "context":
                    arguments[name] = InvocationContext(
                        invocation_id, function, self._app_dir, trace_parent
                    )
                continue
            if _is_out_annotation(parameter.annotation):
                outs[name] = arguments[name] = _Out()
                continue
            converter = self._input_converter(binding["type"], parameter.annotation)
            if binding is function.trigger or binding["type"] == function.trigger_type:
                arguments[name] = converter.decode(trigger, trigger_metadata=trigger_metadata)
                continue
            datum = inputs.get(name)
            if datum is None and binding["type"] in self._providers:
                datum = self._providers[binding["type"]](function, binding)
            arguments[name] = converter.decode(datum, trigger_metadata={}) if datum else None
        return arguments, outs

    def _signature(self, function: FunctionInfo) -> inspect.Signature:
        signature = self._signatures.get(function.name)
        if signature is None:
            # Resolve `from __future__ import annotations` strings, as the worker's
            # typing.get_type_hints does, so func.Out and str parameters are recognised.
            try:
                signature = inspect.signature(function.func, eval_str=True)
            except (NameError, SyntaxError, TypeError):
                signature = inspect.signature(function.func)
            self._signatures[function.name] = signature
        return signature

    @staticmethod
    def _input_converter(binding_type: str, annotation: Any) -> Any:
        # The worker switches str/bytes parameters to its generic binding unless the binding
        # has an implicit output (activity and orchestration triggers).
        if annotation in (str, bytes) and not _has_implicit_output(binding_type):
            return _GenericBinding
        return _converter(binding_type)

    def _encode_results(
        self, function: FunctionInfo, returned: Any, outs: dict[str, _Out], invocation_id: str
    ) -> InvocationResult:
        result = InvocationResult(invocation_id=invocation_id, return_value=None)
        bindings = {b["name"]: b for b in function.bindings}
        for name, out in outs.items():
            value = out.get()
            if value is not None:
                result.outputs[name] = _converter(bindings[name]["type"]).encode(
                    value, expected_type=None
                )

        if RETURN_BINDING in bindings:
            return_type = bindings[RETURN_BINDING]["type"]
        elif _has_implicit_output(function.trigger_type):
            return_type = function.trigger_type
        else:
            return result
        if returned is not None or return_type == function.trigger_type:
            result.return_value = _converter(return_type).encode(returned, expected_type=None)
        return result

    async def _deliver_outputs(self, function: FunctionInfo, result: InvocationResult) -> None:
        bindings = {b["name"]: b for b in function.bindings}
        deliveries = list(result.outputs.items())
        if result.return_value is not None and RETURN_BINDING in bindings:
            deliveries.append((RETURN_BINDING, result.return_value))
        for name, datum in deliveries:
            sink = self._sinks.get(bindings[name]["type"])
            if sink is not None:
                await sink(function, bindings[name], datum)
