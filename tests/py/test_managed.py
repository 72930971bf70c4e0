"""The build and the guarantees on a managed PostgreSQL, where the administrator is not a
superuser (as on Azure Database for PostgreSQL): it creates the roles itself, builds as
the owner, seeds and embeds through row level security, and the login role's view is
still limited to its principal's store."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest

from conftest import SEATTLE, STORE_IDS, managed_like_database
from zava_mcp import database, schema
from zava_mcp.embeddings import embed_products
from zava_mcp.seed import seed


@pytest.fixture(scope="module")
def managed(seeded):
    """A database owned by a CREATEROLE, CREATEDB administrator that is no superuser."""
    with managed_like_database(seeded[0], "zava_pytest_managed", "managed") as pair:
        yield pair


def test_a_non_superuser_administrator_builds_seeds_and_embeds(managed, local_provider):
    settings, admin_url = managed
    with psycopg.connect(admin_url) as conn:
        superuser, bypass = conn.execute(
            "select rolsuper, rolbypassrls from pg_roles where rolname = current_user"
        ).fetchone()
    assert not superuser and not bypass
    schema.build(admin_url, settings)
    schema.build(admin_url, settings)  # again: idempotent for this administrator too
    report = seed(admin_url, scale=0.01, random_seed=11, settings=settings)
    assert report.counts["orders"] > 0
    embedded = asyncio.run(
        embed_products(admin_url, local_provider, owner_role=settings.owner_role)
    )
    assert embedded == report.counts["products"]


def test_a_principals_role_sees_only_its_store(managed):
    settings, _ = managed
    with psycopg.connect(database.login_url(settings)) as conn:
        problems = conn.execute("select mcp_internal.login_role_problems()").fetchone()[0]
    assert problems == []
    with psycopg.connect(database.principal_url(settings, SEATTLE)) as conn:
        conn.execute("set transaction read only")
        rows = conn.execute(
            "select mcp.run_query('select distinct store_id from retail.orders')"
        ).fetchone()[0]["rows"]
        forged = conn.execute(
            "select mcp.run_query('select set_config(''role'', ''none'', true), "
            "(select count(distinct store_id) from retail.orders)')"
        ).fetchone()[0]["rows"]
    assert rows == [[STORE_IDS[SEATTLE]]]
    assert forged == [["none", 1]]


def test_the_administrator_can_look_as_a_store_manager(managed):
    """The DBA flow of the README works for an administrator that is no superuser."""
    _, admin_url = managed
    with psycopg.connect(admin_url) as conn:
        conn.execute("select mcp.bind_principal(%s)", (uuid.UUID(SEATTLE),))
        rows = conn.execute(
            "select mcp.run_query('select distinct store_id from retail.orders')"
        ).fetchone()[0]["rows"]
        role, principal = conn.execute(
            "select current_user, mcp.current_principal()::text"
        ).fetchone()
    assert rows == [[STORE_IDS[SEATTLE]]]
    assert role.startswith("zava_p_") and principal == SEATTLE
