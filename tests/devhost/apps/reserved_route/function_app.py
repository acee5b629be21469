"""Test app with a function on a route the host reserves: devhost must refuse to start."""

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="admin/reset")
def reset(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("reset")
