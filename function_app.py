"""Build the Function App: the saga, its activities and its triggers, wired to their ports.

Composition only. Core Tools, the Functions worker and devhost import this module and
index `app`; the ports and settings are built once, when it is imported.
"""

import azure.durable_functions as df
import azure.functions as func

from activities import orders, shipments
from adapters.composition import build_ports
from adapters.settings import load_settings
from adapters.telemetry import configure_telemetry
from domain.saga import SagaOptions
from orchestrators import order_saga
from triggers import http_api, servicebus

settings = load_settings()
configure_telemetry(settings)
ports = build_ports(settings)
saga_options = SagaOptions(
    dispatch_deadline_seconds=settings.dispatch_deadline_seconds,
    delivery_deadline_seconds=settings.delivery_deadline_seconds,
    retry_first_interval_ms=settings.retry_first_interval_ms,
    retry_max_attempts=settings.retry_max_attempts,
)

app = df.DFApp(http_auth_level=func.AuthLevel.FUNCTION)
app.register_functions(order_saga.bp)
app.register_functions(orders.blueprint(ports))
app.register_functions(shipments.blueprint(ports))
app.register_functions(http_api.blueprint(ports, saga_options))
app.register_functions(servicebus.blueprint(ports, orders.receive_stock))
