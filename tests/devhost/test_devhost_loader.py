"""The loaded app's function lookup: by name, case-insensitively, as the Functions host does."""

from pathlib import Path

import azure.durable_functions as df
import azure.functions as func

from devhost.loader import LoadedApp, index_functions

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.activity_trigger(input_name="name")
def SayHello(name: str) -> str:
    return f"Hello {name}"


LOADED = LoadedApp(Path(__file__).parent, {}, {}, index_functions(app))


def test_function_lookup_ignores_case() -> None:
    assert LOADED.function("sayhello").name == "SayHello"
    assert LOADED.function("SAYHELLO").name == "SayHello"


def test_function_lookup_of_unknown_name_is_none() -> None:
    assert LOADED.function("missing") is None
