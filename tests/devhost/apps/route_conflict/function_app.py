"""Test app with two functions on the same route and method: devhost must refuse to start."""

import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="orders/{order_id}", methods=["GET"])
def get_order(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("one")


@app.route(route="Orders/{id}", methods=["GET", "POST"])
def get_order_again(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("two")
