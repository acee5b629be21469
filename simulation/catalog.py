"""Load the catalog the simulation sells from: stores, products, initial stock and past orders.

Two sources exist. The BikeStores sample database (one CSV file per table, read in place and
never copied) gives three stores, 321 products, 939 stock rows and 1,615 orders to replay.
Machines without it use `sample_catalog()`, a small catalog made for this project, which has
no past orders and so supports generated workloads only.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import IntEnum
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR_VARIABLE = "AJ_BIKESTORES_DATA"
DEFAULT_DATA_DIR = Path(
    os.environ.get(DATA_DIR_VARIABLE) or REPO_ROOT.parent / "shared" / "data" / "bikestores"
)
"""Folder of the BikeStores CSV files when `--data` is not given: the AJ_BIKESTORES_DATA
environment variable when set, else `shared/data/bikestores` beside the repository."""

REQUIRED_FILES = ("stores.csv", "products.csv", "stocks.csv")
REPLAY_FILES = ("customers.csv", "orders.csv", "order_items.csv")


class CatalogNotFound(FileNotFoundError):
    """The BikeStores folder or one of its CSV files is missing."""


class SourceStatus(IntEnum):
    """The `order_status` code of a BikeStores order, where the order stood when the data ends."""

    PENDING = 1
    PROCESSING = 2
    REJECTED = 3
    COMPLETED = 4


@dataclass(frozen=True)
class Store:
    """A shop that keeps stock and ships orders."""

    store_id: str
    name: str
    street: str
    city: str
    state: str
    zip_code: str


@dataclass(frozen=True)
class Product:
    """A product and its list price in USD."""

    product_id: str
    name: str
    list_price: Decimal


@dataclass(frozen=True)
class Customer:
    """A customer's delivery address; the name is the generated one of the data set."""

    customer_id: str
    name: str
    street: str
    city: str
    state: str
    zip_code: str


@dataclass(frozen=True)
class SourceLine:
    """One line of a past order: product, quantity, unit price and discount fraction."""

    product_id: str
    quantity: int
    unit_price: Decimal
    discount: Decimal


@dataclass(frozen=True)
class SourceOrder:
    """A past order of the data set, replayed on the simulation's clock."""

    source_id: str
    customer_id: str
    store_id: str
    order_date: date
    status: SourceStatus
    lines: tuple[SourceLine, ...]


@dataclass(frozen=True)
class Catalog:
    """Stores, products, the initial stock per (store id, product id) and optional past orders."""

    name: str
    stores: dict[str, Store]
    products: dict[str, Product]
    stock: dict[tuple[str, str], int]
    customers: dict[str, Customer] = field(default_factory=dict)
    orders: tuple[SourceOrder, ...] = ()

    @property
    def has_orders(self) -> bool:
        return bool(self.orders)

    def stocked_products(self, store_id: str) -> list[str]:
        """Return the ids of the products with initial stock above zero at a store."""
        return [
            product_id
            for (stock_store, product_id), quantity in self.stock.items()
            if stock_store == store_id and quantity > 0
        ]


def load_bikestores(data_dir: Path = DEFAULT_DATA_DIR, *, with_orders: bool = True) -> Catalog:
    """Read the BikeStores CSV files from `data_dir`; past orders only when `with_orders`."""
    required = REQUIRED_FILES + (REPLAY_FILES if with_orders else ())
    _check_files(data_dir, required)

    stores = {row["store_id"]: _store(row) for row in _rows(data_dir / "stores.csv")}
    products = {row["product_id"]: _product(row) for row in _rows(data_dir / "products.csv")}
    stock = {
        (row["store_id"], row["product_id"]): int(row["quantity"])
        for row in _rows(data_dir / "stocks.csv")
    }
    if not with_orders:
        return Catalog("bikestores", stores, products, stock)

    customers = {row["customer_id"]: _customer(row) for row in _rows(data_dir / "customers.csv")}
    orders = _orders(data_dir)
    return Catalog("bikestores", stores, products, stock, customers, orders)


def sample_catalog() -> Catalog:
    """Build the project's own small catalog: three stores, twenty products and their stock."""
    stores = {
        store.store_id: store
        for store in (
            Store("north", "Northside Cycles", "12 Harbor Road", "Portland", "ME", "04101"),
            Store("central", "Central Wheels", "400 Main Street", "Omaha", "NE", "68102"),
            Store("south", "Southern Spokes", "77 Pecan Avenue", "Austin", "TX", "78701"),
        )
    }
    products = {
        product_id: Product(product_id, name, Decimal(price))
        for product_id, name, price in _SAMPLE_PRODUCTS
    }
    stock = {
        (store_id, product_id): 5 + (index * 7 + offset * 3) % 20
        for offset, store_id in enumerate(stores)
        for index, product_id in enumerate(products)
    }
    return Catalog("sample", stores, products, stock)


_SAMPLE_PRODUCTS = (
    ("city-3", "Commuter City 3-speed", "449.00"),
    ("city-8", "Commuter City 8-speed", "629.00"),
    ("road-al", "Asphalt Road Aluminium", "899.00"),
    ("road-cf", "Asphalt Road Carbon", "2199.00"),
    ("gravel-1", "Backroads Gravel One", "1249.00"),
    ("gravel-2", "Backroads Gravel Two", "1799.00"),
    ("mtb-ht", "Ridgeline Hardtail", "999.00"),
    ("mtb-fs", "Ridgeline Full Suspension", "2599.00"),
    ("kids-16", "Sprout 16-inch", "229.00"),
    ("kids-20", "Sprout 20-inch", "279.00"),
    ("kids-24", "Sprout 24-inch", "329.00"),
    ("ebike-city", "Volt City E-bike", "2499.00"),
    ("ebike-cargo", "Volt Cargo E-bike", "3999.00"),
    ("cruiser", "Boardwalk Cruiser", "379.00"),
    ("folding", "Pocket Folding Bike", "699.00"),
    ("helmet", "Shell Helmet", "59.00"),
    ("lock", "Ironclad U-lock", "45.00"),
    ("lights", "Beacon Light Set", "39.00"),
    ("pump", "Floor Pump", "35.00"),
    ("bottle-cage", "Bottle Cage", "12.00"),
)


def _check_files(data_dir: Path, names: tuple[str, ...]) -> None:
    missing = [name for name in names if not (data_dir / name).is_file()]
    if not missing:
        return
    raise CatalogNotFound(
        f"BikeStores data not found: {data_dir} lacks {', '.join(missing)}; "
        "pass --data DIR with the folder of the BikeStores CSV files "
        "(generated workloads can use --catalog sample instead)"
    )


def _rows(path: Path) -> Iterator[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        yield from csv.DictReader(handle)


def _store(row: dict[str, str]) -> Store:
    return Store(
        row["store_id"], row["store_name"], row["street"], row["city"], row["state"],
        row["zip_code"],
    )


def _product(row: dict[str, str]) -> Product:
    return Product(row["product_id"], row["product_name"], Decimal(row["list_price"]))


def _customer(row: dict[str, str]) -> Customer:
    name = f"{row['first_name']} {row['last_name']}"
    return Customer(
        row["customer_id"], name, row["street"], row["city"], row["state"], row["zip_code"]
    )


def _orders(data_dir: Path) -> tuple[SourceOrder, ...]:
    lines: dict[str, list[SourceLine]] = {}
    for row in _rows(data_dir / "order_items.csv"):
        line = SourceLine(
            row["product_id"],
            int(row["quantity"]),
            Decimal(row["list_price"]),
            Decimal(row["discount"]),
        )
        lines.setdefault(row["order_id"], []).append(line)

    orders = [
        SourceOrder(
            source_id=row["order_id"],
            customer_id=row["customer_id"],
            store_id=row["store_id"],
            order_date=date.fromisoformat(row["order_date"]),
            status=SourceStatus(int(row["order_status"])),
            lines=tuple(_merge_lines(lines.get(row["order_id"], []))),
        )
        for row in _rows(data_dir / "orders.csv")
    ]
    orders.sort(key=lambda order: (order.order_date, int(order.source_id)))
    return tuple(orders)


def _merge_lines(lines: list[SourceLine]) -> list[SourceLine]:
    """Merge lines of one product into one, because an order accepts each product once."""
    merged: dict[str, SourceLine] = {}
    for line in lines:
        known = merged.get(line.product_id)
        if known is None:
            merged[line.product_id] = line
            continue
        merged[line.product_id] = SourceLine(
            line.product_id, known.quantity + line.quantity, known.unit_price, known.discount
        )
    return list(merged.values())
