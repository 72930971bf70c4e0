"""The sample data generator: deterministic, shaped like the reference, scalable."""

from __future__ import annotations

import psycopg
import pytest

from conftest import replace_database
from zava_mcp import database, schema
from zava_mcp.seed import seed

CHECKSUM = """
select md5(string_agg(part, '|' order by part)) from (
    select 'stores' || string_agg(s::text, ',' order by store_id) as part from retail.stores s
    union all select 'customers' || string_agg(c::text, ',' order by customer_id) from retail.customers c
    union all select 'products' || string_agg(p::text, ',' order by product_id) from retail.products p
    union all select 'orders' || string_agg(o::text, ',' order by order_id) from retail.orders o
    union all select 'items' || string_agg(i::text, ',' order by order_item_id) from retail.order_items i
    union all select 'inventory' || string_agg(v::text, ',' order by store_id, product_id)
              from retail.inventory v
) as parts
"""


@pytest.fixture(scope="module")
def scratch(seeded):
    """A second database to seed again and again."""
    settings = replace_database(seeded[0], "zava_pytest_seed")
    database.drop_embedded_database(settings)
    url = database.admin_url(settings)
    schema.build(url, settings)
    return url


def checksum(url: str) -> str:
    with psycopg.connect(url) as conn:
        return conn.execute(CHECKSUM).fetchone()[0]


def test_same_seed_gives_the_same_data(scratch):
    seed(scratch, scale=0.01, random_seed=3)
    first = checksum(scratch)
    seed(scratch, scale=0.01, random_seed=3)
    assert checksum(scratch) == first


def test_another_seed_gives_other_data(scratch):
    seed(scratch, scale=0.01, random_seed=3)
    first = checksum(scratch)
    seed(scratch, scale=0.01, random_seed=4)
    assert checksum(scratch) != first


def test_scale_sets_the_size(scratch):
    small = seed(scratch, scale=0.01, random_seed=3).counts
    larger = seed(scratch, scale=0.04, random_seed=3).counts
    assert small["customers"] == 500
    assert larger["customers"] == 2000
    # Orders follow the scale up to the randomised rounding of each store-day.
    assert 3.5 < larger["orders"] / small["orders"] < 4.5
    # The catalog and the stores do not scale.
    assert small["products"] == larger["products"] >= 400
    assert small["stores"] == larger["stores"] == 8
    assert small["categories"] == 9


def test_steps_report_progress(scratch):
    steps: list[str] = []
    seed(scratch, scale=0.01, random_seed=3, on_step=lambda step, seconds: steps.append(step))
    assert steps[0] == "00_prepare"
    assert steps[-1] == "90_finish"
    assert len(steps) == len(set(steps)) >= 7


def test_invalid_scale_is_refused(scratch):
    with pytest.raises(ValueError, match="scale"):
        seed(scratch, scale=0, random_seed=3)


def test_data_is_consistent(admin):
    bad_items = admin.execute(
        """
        select count(*) from retail.order_items i
        join retail.orders o using (order_id)
        where i.store_id <> o.store_id
           or i.total_amount <> i.quantity * i.unit_price - i.discount_amount
           or i.discount_amount <> round(i.quantity * i.unit_price * i.discount_percent / 100.0, 2)
        """
    ).fetchone()[0]
    assert bad_items == 0
    foreign_customers = admin.execute(
        "select count(*) from retail.orders o join retail.customers c using (customer_id) "
        "where c.primary_store_id <> o.store_id"
    ).fetchone()[0]
    assert foreign_customers == 0
    first, last = admin.execute(
        "select min(order_date), max(order_date) from retail.orders"
    ).fetchone()
    assert first.year == 2020
    assert last.year == 2026
    empty_orders = admin.execute(
        "select count(*) from retail.orders o where not exists "
        "(select from retail.order_items i where i.order_id = o.order_id)"
    ).fetchone()[0]
    assert empty_orders == 0


def test_data_has_seasons_discounts_and_stockouts(admin):
    by_month = dict(
        admin.execute(
            "select extract(month from order_date)::int, count(*) from retail.orders "
            "where order_date < '2026-01-01' group by 1"
        ).fetchall()
    )
    assert by_month[5] > 1.4 * by_month[1], "spring outsells January"
    discounted_share = dict(
        admin.execute(
            "select extract(month from o.order_date) in (11, 12), avg((i.discount_percent > 0)::int)::float "
            "from retail.order_items i join retail.orders o using (order_id) group by 1"
        ).fetchall()
    )
    assert discounted_share[True] > 1.5 * discounted_share[False], (
        "November and December discount more"
    )
    out_of_stock = admin.execute(
        "select avg((stock_level = 0)::int)::float from retail.inventory"
    ).fetchone()[0]
    assert 0.03 < out_of_stock < 0.15


def test_waterproof_connectors_are_in_the_catalog(admin):
    """The semantic search demo needs them (the embeddings come with the server)."""
    names = admin.execute(
        """
        select p.product_name from retail.products p
        join retail.categories c using (category_id)
        where c.category_name = 'Electrical' and p.product_description ilike '%waterproof%'
        """
    ).fetchall()
    assert len(names) >= 3
