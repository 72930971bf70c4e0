"""The build and the guarantees on a managed PostgreSQL, where the administrator is not a
superuser (as on Azure Database for PostgreSQL): it creates the roles itself, builds as
the owner, seeds and embeds through row level security, and the login role's view is
still limited to its principal's store."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import uuid

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from conftest import SEATTLE, STORE_IDS, replace_database
from zava_mcp import database, schema
from zava_mcp.embeddings import embed_products
from zava_mcp.seed import seed


@pytest.fixture(scope="module")
def managed(seeded):
    """A database owned by a CREATEROLE, CREATEDB administrator that is no superuser, with
    pgvector already created (a managed service's allow-list does that)."""
    suffix = os.getpid()
    admin_role = f"managed_admin_{suffix}"
    settings = replace_database(seeded[0], "zava_pytest_managed")
    settings = dataclasses.replace(
        settings,
        owner_role=f"managed_owner_{suffix}",
        login_role=f"managed_server_{suffix}",
        reader_role=f"managed_reader_{suffix}",
    )
    superuser_url = database.admin_url(replace_database(seeded[0], "postgres"))
    with psycopg.connect(superuser_url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("create role {} login createrole createdb nosuperuser nobypassrls").format(
                sql.Identifier(admin_role)
            )
        )
        conn.execute(
            sql.SQL("create database {} owner {}").format(
                sql.Identifier(settings.database_name), sql.Identifier(admin_role)
            )
        )
    params = conninfo_to_dict(database.admin_url(settings))
    with psycopg.connect(make_conninfo("", **params), autocommit=True) as conn:
        conn.execute("create extension vector")
    params["user"] = admin_role
    admin_url = make_conninfo("", **params)
    yield dataclasses.replace(settings, database_url=admin_url), admin_url
    # The superuser drops the database and the principals' roles the build created.
    database.drop_embedded_database(dataclasses.replace(settings, database_url=None))
    with psycopg.connect(superuser_url, autocommit=True) as conn:
        for role in (settings.login_role, settings.reader_role, settings.owner_role, admin_role):
            conn.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(role)))


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
