"""The roles tool calls and the server log in as, connected as they are in production.

pgTAP runs as the superuser; these tests prove what only the real login roles can show:
a principal's role sees its principal's rows, and a query that resets its role stays that
role, with nothing more; no principal's role can become another role or learn which
principal another role serves; the server's own role reads nothing and runs no tool.
"""

from __future__ import annotations

import psycopg
import pytest

from conftest import HEAD_OFFICE, REDMOND, SEATTLE, STORE_IDS, UNKNOWN
from zava_mcp import database


@pytest.fixture
def seattle(seeded):
    with psycopg.connect(database.principal_url(seeded[0], SEATTLE)) as conn:
        conn.execute("set transaction read only")
        yield conn


@pytest.fixture
def server_conn(seeded):
    with psycopg.connect(database.login_url(seeded[0])) as conn:
        yield conn


def seattle_orders(admin: psycopg.Connection) -> int:
    return admin.execute(
        "select count(*) from retail.orders where store_id = %s", (STORE_IDS[SEATTLE],)
    ).fetchone()[0]


def test_a_store_managers_role_sees_only_their_store(seattle, admin):
    expected = seattle_orders(admin)
    result = seattle.execute(
        "select mcp.run_query('select store_id, count(*) from retail.orders group by 1')"
    ).fetchone()[0]
    assert result["rows"] == [[STORE_IDS[SEATTLE], expected]]
    assert expected > 0


def test_head_offices_role_sees_every_store(seeded, admin):
    expected = admin.execute("select count(*) from retail.orders").fetchone()[0]
    with psycopg.connect(database.principal_url(seeded[0], HEAD_OFFICE)) as conn:
        result = conn.execute("select mcp.run_query('select count(*) from retail.orders')")
        assert result.fetchone()[0]["rows"] == [[expected]]


def test_an_unknown_principal_has_no_role(seeded):
    with pytest.raises(ValueError, match="has no login role"):
        database.principal_url(seeded[0], UNKNOWN)


def test_the_role_is_the_principal(seattle):
    role, principal = seattle.execute(
        "select current_user::text, mcp.current_principal()::text"
    ).fetchone()
    assert principal == SEATTLE
    assert role.startswith("zava_p_")
    # The name says nothing of whom it serves.
    assert SEATTLE.replace("-", "")[:8] not in role and "seattle" not in role


@pytest.mark.parametrize(
    "attack",
    [
        "select count(*) from retail.orders, lateral (select set_config('role', 'none', true)) r",
        "with r as (select set_config('role', 'none', true)) select count(*) from r, retail.orders",
        "select count(*) from retail.orders where set_config('role', 'none', true) is not null",
        "select count(*) from retail.orders order by set_config('role', 'none', true)",
    ],
)
def test_resetting_the_role_inside_a_query_does_not_widen_it(seattle, admin, attack):
    result = seattle.execute("select mcp.run_query(%s)", (attack,)).fetchone()[0]
    assert result["rows"] == [[seattle_orders(admin)]]


def test_after_a_role_reset_later_queries_still_see_only_the_store(seattle, admin):
    """Resetting the role returns to the session's login role: the principal's own."""
    seattle.execute("select set_config('role', 'none', true)")
    counts = seattle.execute(
        "select count(*), count(distinct store_id), mcp.current_principal()::text "
        "from retail.orders"
    ).fetchone()
    assert counts == (seattle_orders(admin), 1, SEATTLE)


@pytest.mark.parametrize(
    "target",
    ["zava_reader", "zava_owner", "zava_server", "postgres", "pg_read_all_stats", "another"],
)
def test_a_principals_role_can_become_no_other_role(seeded, seattle, admin, target):
    if target == "another":
        target = admin.execute(
            "select role_name from mcp_internal.principal_roles where rls_user_id = %s",
            (REDMOND,),
        ).fetchone()[0]
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied to set role"):
        seattle.execute("select set_config('role', %s, true)", (target,))


def test_a_principals_role_cannot_switch_principal(seattle):
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="bind_principal"):
        seattle.execute("select mcp.bind_principal(%s)", (HEAD_OFFICE,))
    seattle.rollback()
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="principal_role"):
        seattle.execute("select mcp_internal.principal_role(%s)", (HEAD_OFFICE,))
    seattle.rollback()
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="principal_roles"):
        seattle.execute("select * from mcp_internal.principal_roles")


def test_no_principal_learns_whom_another_role_serves(seattle):
    """principal_of_role answers only for a role the session may act as."""
    answers = dict(
        seattle.execute(
            "select rolname::text, mcp_internal.principal_of_role(rolname)::text "
            "from pg_roles where rolname like 'zava_p_%'"
        ).fetchall()
    )
    assert len(answers) >= 9
    assert {principal for principal in answers.values() if principal} == {SEATTLE}


def test_head_offices_role_is_no_member_of_a_store_role(seeded, admin):
    rows = admin.execute(
        """
        select count(*) from mcp_internal.principal_roles as one
        cross join mcp_internal.principal_roles as other
        where one.role_name <> other.role_name
          and pg_has_role(one.role_name, other.role_name, 'member')
        """
    ).fetchone()[0]
    assert rows == 0


def test_the_server_role_reads_nothing_and_runs_no_tool(server_conn):
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        server_conn.execute("select count(*) from retail.orders")
    server_conn.rollback()
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="run_query"):
        server_conn.execute("select mcp.run_query('select 1')")
    server_conn.rollback()
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied to set role"):
        server_conn.execute("set role zava_reader")
    server_conn.rollback()
    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        server_conn.execute("set role zava_owner")


def test_the_server_role_learns_a_principals_role_but_cannot_become_it(server_conn):
    role = server_conn.execute("select mcp_internal.principal_role(%s)", (SEATTLE,)).fetchone()[0]
    assert role.startswith("zava_p_")
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="permission denied to set role"):
        server_conn.execute("select set_config('role', %s, true)", (role,))
