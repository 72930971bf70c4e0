"""The server's real login role (zava_server), connected as it will be in production.

pgTAP runs as the superuser; these tests prove what only the login role can show: that a
query resetting its role falls back to a role that can read nothing, and that the role
itself has no way around the binding.
"""

from __future__ import annotations

import psycopg
import pytest

from conftest import HEAD_OFFICE, SEATTLE, STORE_IDS, UNKNOWN
from zava_mcp import database


@pytest.fixture
def server_conn(seeded):
    with psycopg.connect(database.login_url(seeded[0])) as conn:
        yield conn


def test_login_role_reads_nothing_without_a_binding(server_conn):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        server_conn.execute("select count(*) from retail.orders")


def test_bound_store_manager_sees_only_their_store(server_conn, admin):
    expected = admin.execute(
        "select count(*) from retail.orders where store_id = %s", (STORE_IDS[SEATTLE],)
    ).fetchone()[0]
    server_conn.execute("select mcp.bind_principal(%s)", (SEATTLE,))
    result = server_conn.execute(
        "select mcp.run_query('select store_id, count(*) from retail.orders group by 1')"
    ).fetchone()[0]
    assert result["rows"] == [[STORE_IDS[SEATTLE], expected]]
    assert expected > 0


def test_head_office_sees_every_store(server_conn, admin):
    expected = admin.execute("select count(*) from retail.orders").fetchone()[0]
    server_conn.execute("select mcp.bind_principal(%s)", (HEAD_OFFICE,))
    result = server_conn.execute(
        "select mcp.run_query('select count(*) from retail.orders')"
    ).fetchone()[0]
    assert result["rows"] == [[expected]]


def test_unknown_principal_sees_nothing(server_conn):
    server_conn.execute("select mcp.bind_principal(%s)", (UNKNOWN,))
    result = server_conn.execute(
        "select mcp.run_query('select (select count(*) from retail.orders), "
        "(select count(*) from retail.products)')"
    ).fetchone()[0]
    assert result["rows"] == [[0, 0]]


@pytest.mark.parametrize(
    "attack",
    [
        "select count(*) from retail.orders, lateral (select set_config('role', 'none', true)) r",
        "with r as (select set_config('role', 'none', true)) select count(*) from r, retail.orders",
        "select count(*) from retail.orders where set_config('role', 'none', true) is not null",
        "select count(*) from retail.orders order by set_config('role', 'none', true)",
    ],
)
def test_resetting_the_role_inside_a_query_does_not_widen_it(server_conn, admin, attack):
    """Permissions and policies are fixed when the query starts: the reset comes too late."""
    expected = admin.execute(
        "select count(*) from retail.orders where store_id = %s", (STORE_IDS[SEATTLE],)
    ).fetchone()[0]
    server_conn.execute("select mcp.bind_principal(%s)", (SEATTLE,))
    result = server_conn.execute("select mcp.run_query(%s)", (attack,)).fetchone()[0]
    assert result["rows"] == [[expected]]


@pytest.mark.parametrize(
    "attack",
    [
        "select set_config('role', 'none', true), mcp.run_query('select count(*) from retail.orders')",
        "select set_config('role', 'none', true), mcp.describe_tables(array['orders'])",
    ],
)
def test_after_a_role_reset_later_queries_can_read_nothing(server_conn, attack):
    """A query started after the reset runs as the login role, which inherits nothing."""
    server_conn.execute("select mcp.bind_principal(%s)", (SEATTLE,))
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        server_conn.execute("select mcp.run_query(%s)", (attack,))


def test_a_query_cannot_rebind_after_resetting_its_role(server_conn):
    """Back as the login role, bind_principal is callable, but the transaction is read-only."""
    server_conn.execute("select mcp.bind_principal(%s)", (SEATTLE,))
    attack = (
        "select set_config('role', 'none', true), "
        f"mcp.bind_principal('{HEAD_OFFICE}'), count(*) from retail.orders"
    )
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        server_conn.execute("select mcp.run_query(%s)", (attack,))
    server_conn.rollback()
    server_conn.execute("select mcp.bind_principal(%s)", (SEATTLE,))
    server_conn.execute("select set_config('role', 'none', true)")
    with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
        server_conn.execute("select mcp.bind_principal(%s)", (HEAD_OFFICE,))


def test_login_role_cannot_become_the_owner(server_conn):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        server_conn.execute("set role zava_owner")


def test_binding_ends_with_the_transaction(server_conn):
    server_conn.execute("select mcp.bind_principal(%s)", (SEATTLE,))
    assert server_conn.execute("select mcp.current_principal()::text").fetchone()[0] == SEATTLE
    server_conn.rollback()
    assert server_conn.execute("select mcp.current_principal()").fetchone()[0] is None
    assert server_conn.execute("select current_user").fetchone()[0] == "zava_server"


def test_a_committed_binding_does_not_carry_over(server_conn):
    """Even if a transaction that bound a principal commits, the next one is unbound."""
    server_conn.execute("select mcp.bind_principal(%s)", (SEATTLE,))
    server_conn.commit()
    assert server_conn.execute("select mcp.current_principal()").fetchone()[0] is None
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        server_conn.execute("select count(*) from retail.orders")
