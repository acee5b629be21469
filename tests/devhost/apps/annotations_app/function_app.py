"""Test app with postponed annotations: func.Out must still be recognised from the strings."""

from __future__ import annotations

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="note")
@app.queue_output(arg_name="message", queue_name="notes", connection="AzureWebJobsStorage")
def note(req: func.HttpRequest, message: func.Out[str]) -> func.HttpResponse:
    message.set("noted")
    return func.HttpResponse(f"body={req.get_body().decode()}")
