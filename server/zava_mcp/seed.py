"""Loads the sample data: db/seed/*.sql in file-name order, with the catalog CSV files.

The generator is deterministic: the same seed and scale give the same rows, whatever
the machine. It runs in one transaction, so a failed or interrupted seed leaves the
previous data in place.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from zava_mcp.config import DB_DIR, Settings
from zava_mcp.schema import PRINCIPAL_ROLES, render

SEED_DIR = DB_DIR / "seed"
# The retail tables the seed fills, in the order it fills them (their row counts are reported).
SEEDED_TABLES = (
    "stores",
    "categories",
    "product_types",
    "products",
    "customers",
    "orders",
    "order_items",
    "inventory",
)
CATALOG_FILES = {
    "catalog_categories": ("categories.csv", "category_name"),
    "catalog_product_types": ("product_types.csv", "category_name, type_name"),
    "catalog_products": (
        "products.csv",
        "sku, product_name, category_name, type_name, cost, base_price, product_description",
    ),
}
# The catalog is copied in after this step has created the tables for it.
CATALOG_AFTER_STEP = "00_prepare.sql"


@dataclass(frozen=True)
class SeedReport:
    counts: dict[str, int]
    seconds: float


def seed_steps(seed_dir: Path = SEED_DIR) -> list[Path]:
    return sorted(seed_dir.glob("*.sql"))


def seed(
    url: str,
    *,
    scale: float = 1.0,
    random_seed: int = 42,
    settings: Settings | None = None,
    on_step: Callable[[str, float], None] = lambda step, seconds: None,
) -> SeedReport:
    """Replace the retail data with freshly generated sample data.

    It runs as the owner of the tables (the administrator must be a member, as
    `db init` arranges): on managed PostgreSQL the administrator is no superuser, and row
    level security would refuse its writes. Then, as the administrator and in the same
    transaction, it gives every store's manager a login role (db/principal_roles.sql).
    settings names the roles (default: the default roles). on_step(name, seconds) is
    called after each step, for progress output.
    """
    settings = settings or Settings.from_env()
    if not 0 < scale <= 1000:
        raise ValueError(f"scale must be above 0 and at most 1000, not {scale}")
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        conn.execute(sql.SQL("set local role {}").format(sql.Identifier(settings.owner_role)))
        conn.execute("select set_config('zava_seed.seed', %s, true)", (str(random_seed),))
        conn.execute("select set_config('zava_seed.scale', %s, true)", (repr(scale),))
        # Parallel plans would not change the data (the generator hashes, it does not
        # draw), but a single process keeps the run's memory and timing predictable.
        conn.execute("set local max_parallel_workers_per_gather = 0")
        for step in seed_steps():
            step_started = time.perf_counter()
            conn.execute(step.read_text())
            if step.name == CATALOG_AFTER_STEP:
                _copy_catalog(conn)
            on_step(step.stem, time.perf_counter() - step_started)
        conn.execute("reset role")
        conn.execute(render(DB_DIR / PRINCIPAL_ROLES, settings))
        counts = {
            table: conn.execute(f"select count(*) from retail.{table}").fetchone()[0]  # type: ignore[index]
            for table in SEEDED_TABLES
        }
    return SeedReport(counts=counts, seconds=time.perf_counter() - started)


def _copy_catalog(conn: psycopg.Connection) -> None:
    for table, (file_name, columns) in CATALOG_FILES.items():
        path = SEED_DIR / "catalog" / file_name
        copy_sql = f"copy zava_seed.{table} ({columns}) from stdin with (format csv, header true)"
        with conn.cursor().copy(copy_sql) as copy:
            copy.write(path.read_bytes())
