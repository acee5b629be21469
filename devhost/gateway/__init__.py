"""devhost's API Management stand-in: serves the app's apim/ folder on its own port.

The gateway reads the OpenAPI document and the policy files of the app's `apim` folder, or of
the folder that the setting DEVHOST_APIM_DIR names relative to the app folder. It enforces
the policies it implements with API Management's status codes and messages, and forwards to
the Functions host with the host's function key. Any policy element, attribute or expression
it does not implement stops start-up with the element and its file named.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from devhost.context import HostContext
from devhost.gateway.config import load_config
from devhost.gateway.errors import GatewayStartError
from devhost.gateway.pipeline import Runtime
from devhost.gateway.server import Gateway, new_backend_session, serve
from devhost.gateway.subscriptions import load_or_create_subscriptions

APIM_DIR_SETTING = "DEVHOST_APIM_DIR"
DEFAULT_APIM_DIR = "apim"
logger = logging.getLogger("devhost.gateway")


def apim_dir_for(host: HostContext) -> Path:
    """Return the app's apim folder: DEVHOST_APIM_DIR, relative to the app folder, or apim/."""
    configured = (
        host.settings.get(APIM_DIR_SETTING) or os.environ.get(APIM_DIR_SETTING) or DEFAULT_APIM_DIR
    )
    return Path(host.app_dir) / configured


async def start(host: HostContext) -> Gateway | None:
    """Start the gateway on 127.0.0.1:<--gateway-port>, or return None when it has no work."""
    if getattr(host.args, "no_gateway", False):
        return None

    apim_dir = apim_dir_for(host)
    if not (apim_dir / "openapi.yaml").exists():
        logger.info("gateway: no %s, so no gateway is started", apim_dir / "openapi.yaml")
        return None

    provided = {
        "functions-base-url": host.base_url,
        "functions-key": host.keys.default_function_key,
    }
    # Core Tools and devhost put the app's Values into the environment; Values win.
    settings = {**os.environ, **host.settings}
    config = load_config(apim_dir, settings, provided)
    subscriptions = load_or_create_subscriptions(Path(host.state_dir))

    runtime = Runtime(config, subscriptions, new_backend_session(), logger)
    try:
        gateway = await serve(runtime, host.args.gateway_port)
    except GatewayStartError:
        await runtime.session.close()
        raise
    _print_banner(gateway, runtime)
    return gateway


def _print_banner(gateway: Gateway, runtime: Runtime) -> None:
    """Print where the gateway listens and the local subscription keys, once at start-up."""
    api = runtime.config.api
    print(f"API Management gateway on {gateway.url} ({len(api.operations)} operations)", flush=True)
    for subscription in runtime.subscriptions:
        print(
            f"  subscription {subscription.id!r}: primary key {subscription.primary_key}, "
            f"secondary key {subscription.secondary_key} "
            f"(header {api.key_header_name} or query {api.key_query_name})",
            flush=True,
        )
