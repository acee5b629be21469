"""Loading the BikeStores catalog and the built-in sample catalog."""

from __future__ import annotations

import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from simulation.catalog import (
    DEFAULT_DATA_DIR,
    CatalogNotFound,
    SourceStatus,
    load_bikestores,
    sample_catalog,
)


def test_bikestores_loads_every_table_row(bikestores):

    assert len(bikestores.stores) == 3
    assert len(bikestores.products) == 321
    assert len(bikestores.stock) == 939
    assert len(bikestores.customers) == 1445
    assert len(bikestores.orders) == 1615
    assert sum(len(order.lines) for order in bikestores.orders) == 4722


def test_bikestores_keeps_product_prices_and_names(bikestores):
    product = bikestores.products["1"]

    assert product.name == "Trek 820 - 2016"
    assert product.list_price == Decimal("379.99")


def test_bikestores_orders_are_sorted_by_date(bikestores):
    dates = [order.order_date for order in bikestores.orders]

    assert dates == sorted(dates)


def test_bikestores_source_statuses_match_the_data(bikestores):
    statuses = [order.status for order in bikestores.orders]

    assert statuses.count(SourceStatus.COMPLETED) == 1445
    assert statuses.count(SourceStatus.REJECTED) == 45
    assert statuses.count(SourceStatus.PENDING) == 62
    assert statuses.count(SourceStatus.PROCESSING) == 63


def test_bikestores_without_orders_needs_no_order_files(bikestores, tmp_path: Path):
    for name in ("stores.csv", "products.csv", "stocks.csv"):
        shutil.copy(DEFAULT_DATA_DIR / name, tmp_path / name)

    catalog = load_bikestores(tmp_path, with_orders=False)

    assert catalog.orders == ()
    assert len(catalog.stock) == 939


def test_missing_folder_names_the_folder_and_the_fix(tmp_path: Path):
    missing = tmp_path / "nowhere"

    with pytest.raises(CatalogNotFound) as raised:
        load_bikestores(missing)

    assert str(missing) in str(raised.value)
    assert "--data DIR" in str(raised.value)


def test_sample_catalog_has_stores_products_and_stock():
    catalog = sample_catalog()

    assert len(catalog.stores) == 3
    assert len(catalog.products) == 20
    assert all(catalog.stocked_products(store_id) for store_id in catalog.stores)
    assert not catalog.has_orders


def test_sample_stock_refers_to_known_stores_and_products():
    catalog = sample_catalog()

    assert {store_id for store_id, _ in catalog.stock} == set(catalog.stores)
    assert {product_id for _, product_id in catalog.stock} == set(catalog.products)
