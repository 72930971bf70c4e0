"""mcp.search_products reaches its rows through its indexes, as a principal under row level
security: the plans of every statement it runs, read with auto_explain.

The test database is small enough that reading whole tables costs nothing, so only the
plans can show a change that leaves an index unusable (an ORDER BY the HNSW index does
not serve, a test row level security keeps out of an index scan); at a million products
such a change turns milliseconds into seconds (docs/benchmarks.md, section 3).
Sequential scans are switched off, so that PostgreSQL scans a table whole only where no
index can serve the statement.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql

from conftest import HEAD_OFFICE, SEATTLE

SEARCH = "select product_id from mcp.search_products(%s::vector, 10, 0, %s::text, %s, null::text)"
# A text of two words: the text half counts the products holding both, then ranks.
TEXT = "cordless drill"


def plan_nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", []):
        yield from plan_nodes(child)


PRINCIPALS = pytest.mark.parametrize(
    "principal", [HEAD_OFFICE, SEATTLE], ids=["head office", "Seattle's manager"]
)


def nodes_while_searching(
    admin_url: str, principal: str, text: str | None, in_stock_only: bool
) -> list[dict]:
    """Every plan node of every statement the search ran as the principal's own role."""
    plans: list[dict[str, Any]] = []
    with psycopg.connect(admin_url, autocommit=True) as conn:
        row = conn.execute(
            "select description_embedding::text, mcp_internal.principal_role(%s)::text "
            "from retail.product_description_embeddings order by product_id limit 1",
            (uuid.UUID(principal),),
        ).fetchone()
        assert row is not None, "the test database has no embedded products"
        query_vector, role = row

        def keep(diagnostic: psycopg.errors.Diagnostic) -> None:
            message = diagnostic.message_primary or ""
            if "plan:" in message:
                plans.append(json.loads(message.split("plan:", 1)[1])["Plan"])

        conn.add_notice_handler(keep)
        conn.execute("load 'auto_explain'")
        for setting, value in (
            ("auto_explain.log_min_duration", "0"),
            ("auto_explain.log_nested_statements", "on"),
            ("auto_explain.log_format", "json"),
            ("auto_explain.log_level", "notice"),
            ("enable_seqscan", "off"),
        ):
            conn.execute("select set_config(%s, %s, false)", (setting, value))
        conn.execute(sql.SQL("set role {}").format(sql.Identifier(role)))
        found = conn.execute(SEARCH, (query_vector, text, in_stock_only)).fetchall()
        assert found, "the search found nothing"
    return [node for plan in plans for node in plan_nodes(plan)]


def indexes_used(nodes: list[dict]) -> set[str]:
    """The indexes scanned (a bitmap index scan names its index, not its table)."""
    return {node["Index Name"] for node in nodes if "Index Name" in node}


def whole_table_scans(nodes: list[dict]) -> list[str]:
    return [node["Relation Name"] for node in nodes if node["Node Type"] == "Seq Scan"]


def inventory_indexes(nodes: list[dict]) -> set[str]:
    return {node["Index Name"] for node in nodes if node.get("Relation Name") == "inventory"}


@PRINCIPALS
@pytest.mark.parametrize("in_stock_only", [False, True], ids=["everywhere", "in stock"])
def test_the_nearest_products_come_from_the_hnsw_index(
    seeded, embedded_products, principal, in_stock_only
):
    nodes = nodes_while_searching(seeded[1], principal, None, in_stock_only)
    assert "product_description_embeddings_hnsw_idx" in indexes_used(nodes)
    assert whole_table_scans(nodes) == []
    if in_stock_only:
        # Each candidate's stock is one probe of the caller's in-stock rows.
        assert inventory_indexes(nodes) == {"inventory_in_stock_idx"}


@PRINCIPALS
def test_hybrid_search_finds_text_matches_through_the_text_index(
    seeded, embedded_products, principal
):
    nodes = nodes_while_searching(seeded[1], principal, TEXT, True)
    assert {"products_search_document_idx", "product_description_embeddings_hnsw_idx"} <= (
        indexes_used(nodes)
    )
    assert inventory_indexes(nodes) == {"inventory_in_stock_idx"}
    assert whole_table_scans(nodes) == []
