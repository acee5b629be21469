"""The domain stays pure: no Azure SDK, database, network or file access."""

import ast
import pathlib
import subprocess
import sys
import textwrap

DOMAIN = pathlib.Path(__file__).resolve().parents[2] / "domain"
FORBIDDEN = ("azure", "sqlite3", "socket", "aiohttp", "requests", "adapters", "devhost")


def imported_roots(path: pathlib.Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_domain_modules_import_nothing_forbidden():
    offenders = {
        path.name: sorted(imported_roots(path) & set(FORBIDDEN))
        for path in sorted(DOMAIN.glob("*.py"))
    }

    assert {name: roots for name, roots in offenders.items() if roots} == {}


# Runs in a fresh interpreter: refuses any import of a forbidden module made by domain code,
# even one already loaded by a library, and any file opening, then imports every domain module
# and runs an order through its rules. Prints each refused import.
PROBE = textwrap.dedent(
    """
    import builtins, importlib, io, os, pkgutil, sys
    from datetime import UTC, datetime

    forbidden = set(sys.argv[1].split(","))
    refused = []
    real_import = builtins.__import__

    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
        importer = (globals or {}).get("__name__", "")
        if importer.split(".")[0] == "domain" and level == 0 and name.split(".")[0] in forbidden:
            refused.append(f"{importer} imports {name}")
            raise ImportError(f"{importer} may not import {name}")
        return real_import(name, globals, locals, fromlist, level)

    def refuse_open(*args, **kwargs):
        raise PermissionError(f"domain code opened a file: {args[:1]}")

    builtins.__import__ = guarded_import
    builtins.open = io.open = os.open = refuse_open

    import domain
    for module in pkgutil.iter_modules(domain.__path__):
        importlib.import_module(f"domain.{module.name}")

    from domain.messages import OrderCancelled, parse_envelope, saga_event
    from domain.orders import OrderStatus, change_status, new_order, parse_place_order
    from domain.shipments import new_shipment, shipment_request

    now = datetime.now(UTC)
    request = parse_place_order({
        "storeId": "1", "customerId": "2",
        "lines": [{"productId": "3", "quantity": 1, "unitPrice": 9.99}],
        "shipTo": {"name": "N", "street": "S", "city": "C", "state": "NY", "postalCode": "10001"},
    })
    order = new_order(request, "o1", now)
    change_status(order, OrderStatus.CANCELLED, now, "r")
    new_shipment(shipment_request(order, order.id), now)
    parse_envelope(saga_event(OrderCancelled(order_id="o1", reason="r"), now).to_bytes())

    print("\\n".join(refused))
    """
)


def test_domain_runs_without_forbidden_imports_or_files():
    result = subprocess.run(
        [sys.executable, "-c", PROBE, ",".join(FORBIDDEN)],
        cwd=DOMAIN.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == ""
