"""The gateway's HTTP server: an aiohttp site on loopback that runs each request's pipeline."""

from __future__ import annotations

import os

import aiohttp
from aiohttp import web
from multidict import CIMultiDict

from devhost.gateway.errors import GatewayStartError
from devhost.gateway.exchange import Exchange
from devhost.gateway.pipeline import HOP_BY_HOP, Runtime

# Bodies above this size are rejected by aiohttp with its own 413 before any policy runs.
MAX_BODY_BYTES = 16 * 1024 * 1024


class Gateway:
    """A running gateway; `stop()` closes its site and its backend client."""

    def __init__(self, runtime: Runtime, runner: web.AppRunner, url: str) -> None:
        self.runtime = runtime
        self.url = url
        self._runner = runner

    async def stop(self) -> None:
        await self._runner.cleanup()
        await self.runtime.session.close()


async def serve(runtime: Runtime, port: int) -> Gateway:
    """Listen on 127.0.0.1:`port` and run every request through the pipeline."""

    async def handle(request: web.Request) -> web.StreamResponse:
        exchange = await _exchange_for(request, runtime)
        response = await runtime.handle(exchange)
        return _web_response(response, exchange)

    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app.router.add_route("*", "/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        # A host process of `devhost start --processes N` shares the port with the others.
        shared = os.environ.get("DEVHOST_REUSE_PORT") == "1"
        await web.TCPSite(runner, "127.0.0.1", port, reuse_port=shared or None).start()
    except OSError as error:
        await runner.cleanup()
        raise GatewayStartError(
            f"the gateway cannot listen on 127.0.0.1:{port}: {error.strerror}; pass "
            "--gateway-port with a free port, or --no-gateway"
        ) from None
    bound_port = runner.addresses[0][1]  # differs from `port` when port 0 picked a free one
    return Gateway(runtime, runner, f"http://127.0.0.1:{bound_port}")


def new_backend_session() -> aiohttp.ClientSession:
    """Return the client the gateway forwards with: no decompression, no cookie jar."""
    return aiohttp.ClientSession(auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar())


async def _exchange_for(request: web.Request, runtime: Runtime) -> Exchange:
    body = await request.read()
    raw_path = request.rel_url.raw_path
    return Exchange(
        original_url=request.url,
        method=request.method.upper(),
        api_path=request.path,
        raw_api_path=raw_path,
        query=request.query.copy(),
        request_headers=CIMultiDict(request.headers),
        request_body=body,
        named_values=runtime.config.named_values,
    )


def _web_response(response, exchange: Exchange) -> web.Response:
    headers = CIMultiDict(
        (name, value) for name, value in response.headers.items() if name.lower() not in HOP_BY_HOP
    )
    headers.update(exchange.cors_response_headers)
    body = b"" if exchange.method == "HEAD" else response.body
    return web.Response(
        status=response.status, reason=response.reason or None, headers=headers, body=body
    )
