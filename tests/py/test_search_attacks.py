"""Attacks on hybrid search's full-text half over real HTTP (issue 12): hostile
descriptions through semantic_search_products, and mcp_internal.product_text_matches (the
SECURITY DEFINER helper it calls) reached through execute_sales_query. The SQL side of the
same helper is tested in tests/sql/13_search_attacks.sql."""

from __future__ import annotations

import psycopg
import pytest

from conftest import bearer, mcp_client

pytestmark = pytest.mark.anyio

SEARCH = "semantic_search_products"
QUERY = "execute_sales_query"

# Text a caller may send as a description: tsquery operators and syntax, quotes,
# backslashes, control characters, SQL. Each must be answered, by its words only.
HOSTILE = [
    "!",
    "<->",
    ":*",
    "drill:*",
    "!drill <-> saw & (hammer | 'claw'",
    "'",
    "\\'",
    "\\\\",
    "''; drop table retail.products; --",
    "drill\x01\x08\x1f saw",
    '"circular saw" or -hammer',
    "$$ select pg_read_file('/etc/passwd') $$",
    "%s %n %I %L",
    "drill " * 333,
]


async def call(served, who: str, tool: str, arguments: dict):
    async with mcp_client(served.url, bearer(served.keys[who])) as client:
        return await client.call_tool(tool, arguments)


def products_holding_a_word_of(admin_url: str, text: str) -> set[int]:
    """The owner's answer: products whose document shares a word with the text."""
    with psycopg.connect(admin_url) as conn:
        return {
            row[0]
            for row in conn.execute(
                "select product_id from retail.products where tsvector_to_array(search_document) "
                "&& tsvector_to_array(to_tsvector('english', %s))",
                (text,),
            )
        }


@pytest.mark.parametrize("description", HOSTILE)
async def test_a_hostile_description_matches_by_its_words_only(served, description):
    result = await call(
        served,
        "Seattle",
        SEARCH,
        {"query_description": description, "similarity_threshold": 100, "max_rows": 200},
    )
    assert not result.is_error, result.content
    # At 100 % similarity only full-text matches are left: each holds a word of the text.
    matched = {p["product_id"] for p in result.structured_content["products"]}
    holding = products_holding_a_word_of(served.admin_url, description)
    assert matched <= holding
    assert bool(matched) == bool(holding)


async def test_operators_alone_are_no_words(served):
    result = await call(
        served,
        "Seattle",
        SEARCH,
        {"query_description": "! <-> :* & | ( ) ' \\", "similarity_threshold": 100},
    )
    assert not result.is_error, result.content
    assert result.structured_content["products"] == []


async def test_the_helper_through_sql_answers_only_the_callers_own_role(served):
    """Seattle's SQL may call the helper (the reader role may), but naming head office's
    role, the owner or the login role gets nothing; its own role gets ids and ranks."""
    with psycopg.connect(served.admin_url) as conn:
        row = conn.execute(
            "select role_name from mcp_internal.principal_roles "
            "where rls_user_id = '00000000-0000-0000-0000-000000000000'"
        ).fetchone()
    assert row is not None
    for caller in (row[0], "zava_owner", "zava_server", "postgres"):
        result = await call(
            served,
            "Seattle",
            QUERY,
            {
                "postgresql_query": "select * from mcp_internal.product_text_matches("
                f"'{caller}', 'cordless drill')"
            },
        )
        assert not result.is_error, result.content
        assert result.structured_content["row_count"] == 0, caller
    own = await call(
        served,
        "Seattle",
        QUERY,
        {
            "postgresql_query": "select * from mcp_internal.product_text_matches("
            "current_user, 'cordless drill')"
        },
    )
    assert not own.is_error, own.content
    columns = [column["name"] for column in own.structured_content["columns"]]
    assert columns == ["product_id", "text_rank", "text_position"]
    ids = {row[0] for row in own.structured_content["rows"]}
    assert ids == products_holding_a_word_of(served.admin_url, "cordless drill")


async def test_an_unknown_principal_finds_nothing_by_words(served):
    result = await call(
        served,
        "unknown",
        SEARCH,
        {"query_description": "cordless drill", "similarity_threshold": 0},
    )
    # Refused or empty, never a product: the unknown principal sees no catalog.
    assert result.is_error or result.structured_content["products"] == []


async def test_a_description_too_long_for_the_helper_is_refused_clearly(served):
    """The helper refuses more than 2,000 characters itself (it may be called from SQL);
    through execute_sales_query that is a clear error naming the limit."""
    result = await call(
        served,
        "Seattle",
        QUERY,
        {
            "postgresql_query": "select count(*) from mcp_internal.product_text_matches("
            "current_user, repeat('drill ', 400))"
        },
    )
    assert result.is_error
    assert "at most 2000 are searched" in result.content[0].text
