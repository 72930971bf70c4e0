"""The attack suite's case table: hostile tool calls a store manager (Seattle) sends to the
real server, one row per case, grouped in families. test_attacks.py runs every row over
HTTP and asserts its expected outcome:

- REFUSED: an error result whose text holds `message` (and nothing outside the caller's
  view, and no stack trace);
- ANSWERED: a result whose rows stay within Seattle's view (every store id, order id,
  customer id, customer email and store name in it is Seattle's), optionally equal to
  `rows` and with exactly the store ids `stores`;
- CANCELLED: an error saying the time budget ran out, within budget + 5 s.

Each case names the property of ../../shared/DESIGN.md it attacks (P2 tenancy, P3 no
writes, P4 one query, P5 bounded cost, P6 nothing survives a call, P7 bound parameters,
P8 no files or other databases, P9 safe errors)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

HEAD_OFFICE = "00000000-0000-0000-0000-000000000000"
SEATTLE = "f47ac10b-58cc-4372-a567-0e02b2c3d479"
BELLEVUE = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"

REFUSED = "refused"
ANSWERED = "answered"
CANCELLED = "cancelled"

QUERY = "execute_sales_query"
EXPLAIN = "explain_query"
SCHEMAS = "get_multiple_table_schemas"
SEARCH = "semantic_search_products"

STACKED = "stacked statements"
FORGING = "principal forging"
WRITES = "writes"
FILES = "files and network"
CATALOG = "catalog probing"
RESOURCES = "timing and resources"
PARAMETERS = "parameter injection"

# The messages the guard gives (db/functions/mcp_internal.open_guarded_cursor.sql).
ONE_QUERY = "mcp.run_query runs exactly one query: remove stacked statements"
ONLY_READS = "mcp.run_query only reads: the query tried to write"
NEEDS_QUERY = "mcp.run_query needs a query: the text is empty or holds only comments"
BUDGET = "time budget"
NOT_VOLATILE = "is not allowed in a non-volatile function"

# What Seattle's own view holds, and what lies outside it; filled in by test_attacks.py
# from the owner's view before the suite runs (expected rows may depend on it).
Rows = list[list[Any]] | Callable[[Any], list[list[Any]]]
Message = str | tuple[str, ...] | None


def starts_with(keyword: str, tool: str = "mcp.run_query") -> str:
    return (
        f"{tool} runs one read-only query (SELECT, WITH, VALUES or TABLE); "
        f"this text starts with {keyword}"
    )


@dataclasses.dataclass(frozen=True, eq=False)
class Case:
    family: str
    prop: str
    tool: str
    arguments: dict[str, Any]
    expect: str
    message: Message = None  # REFUSED: a distinctive substring (or several) of the error
    rows: Rows | None = None  # ANSWERED: the exact rows (or a function of the truth)
    stores: frozenset[int] | None = None  # ANSWERED: exactly these store ids were seen
    truncated: bool | None = None  # ANSWERED (execute_sales_query): the truncated flag
    public_stores: bool = False  # the answer may name every store (retail.stores is public)
    forbid: tuple[str, ...] = ()  # text that must appear in no outcome (file contents...)
    note: str = ""
    case_id: str = ""


CASES: list[Case] = []


def add(
    family: str,
    prop: str,
    tool: str,
    arguments: dict[str, Any],
    expect: str,
    message: Message = None,
    **options: Any,
) -> None:
    CASES.append(Case(family, prop, tool, arguments, expect, message, **options))


def query(family: str, prop: str, sql: str, expect: str, message: Message = None, **options):
    arguments = {"postgresql_query": sql}
    if "max_rows" in options:
        arguments["max_rows"] = options.pop("max_rows")
    add(family, prop, QUERY, arguments, expect, message, **options)


def explain(family: str, prop: str, sql: str, expect: str, message: Message = None, **options):
    arguments: dict[str, Any] = {"postgresql_query": sql}
    if "analyze" in options:
        arguments["analyze"] = options.pop("analyze")
    add(family, prop, EXPLAIN, arguments, expect, message, **options)


SEATTLE_ONLY = frozenset({1})
ORDERS_SEEN = "array_agg(distinct store_id order by store_id) as stores"
ORDERS_SEEN_FROM = f"select {ORDERS_SEEN} from retail.orders"

# ---------------------------------------------------------------------------------------
# P4: stacked statements and transaction escapes.
# ---------------------------------------------------------------------------------------

for sql, expect, message in [
    ("SELECT 1; COMMIT; DROP TABLE retail.orders", REFUSED, ONE_QUERY),
    ("select 1; end; delete from retail.orders", REFUSED, ONE_QUERY),
    ("select 1; rollback; delete from retail.order_items", REFUSED, ONE_QUERY),
    ("select 1; abort; truncate retail.inventory", REFUSED, ONE_QUERY),
    ("select 1;/* ; */ delete from retail.orders", REFUSED, ONE_QUERY),
    ("select 1 /* ; */; delete from retail.orders", REFUSED, ONE_QUERY),
    ("select $$;$$; delete from retail.orders", REFUSED, ONE_QUERY),
    ("select $x$ $$ ; $x$; delete from retail.customers", REFUSED, ONE_QUERY),
    ("values (1); delete from retail.orders", REFUSED, ONE_QUERY),
    ("table retail.orders; truncate retail.orders", REFUSED, ONE_QUERY),
    ("(((select 1))); drop table retail.orders", REFUSED, ONE_QUERY),
    ("SeLeCt 1; DrOp TaBlE retail.orders", REFUSED, ONE_QUERY),
    ("with x as (select 1) select * from x; commit", REFUSED, ONE_QUERY),
    ("select 1 union all select 2; vacuum retail.orders", REFUSED, ONE_QUERY),
    ("select 1; savepoint s; release savepoint s", REFUSED, ONE_QUERY),
    ("select 1; set transaction read write; delete from retail.orders", REFUSED, ONE_QUERY),
    ("select 1; reset all; select 2", REFUSED, ONE_QUERY),
    ("END; DELETE FROM retail.orders", REFUSED, starts_with("END")),
    ("COMMIT; DROP TABLE retail.orders", REFUSED, starts_with("COMMIT")),
    ("ROLLBACK; SELECT 1", REFUSED, starts_with("ROLLBACK")),
    ("begin; select 1", REFUSED, starts_with("BEGIN")),
    ("start transaction read write; delete from retail.orders", REFUSED, starts_with("START")),
    ("abort", REFUSED, starts_with("ABORT")),
    ("rollback to savepoint mcp", REFUSED, starts_with("ROLLBACK")),
    ("prepare transaction 'escape'", REFUSED, starts_with("PREPARE")),
    ("/* select */ delete from retail.orders", REFUSED, starts_with("DELETE")),
    ("-- select\ndelete from retail.orders", REFUSED, starts_with("DELETE")),
    ("/* /* */ select */ delete from retail.orders returning *", REFUSED, starts_with("DELETE")),
    (
        "/* a */ /* b /* c */ */ -- d\n update retail.inventory set stock_level = 0",
        REFUSED,
        starts_with("UPDATE"),
    ),
    ("((delete from retail.orders returning *))", REFUSED, starts_with("DELETE")),
    ("do $$ begin delete from retail.orders; end $$", REFUSED, starts_with("DO")),
    (
        "do $x$ begin perform set_config('role', 'zava_owner', false); end $x$",
        REFUSED,
        starts_with("DO"),
    ),
    ("copy retail.orders to stdout", REFUSED, starts_with("COPY")),
    ("prepare attack as select * from retail.orders", REFUSED, starts_with("PREPARE")),
    ("execute mcp_run_query_columns", REFUSED, starts_with("EXECUTE")),
    ("deallocate all", REFUSED, starts_with("DEALLOCATE")),
    ("discard all", REFUSED, starts_with("DISCARD")),
    ("lock table retail.orders in access exclusive mode", REFUSED, starts_with("LOCK")),
    ("listen orders", REFUSED, starts_with("LISTEN")),
    ("checkpoint", REFUSED, starts_with("CHECKPOINT")),
    ("load 'plpgsql'", REFUSED, starts_with("LOAD")),
    ("call pg_catalog.pg_sleep(0)", REFUSED, starts_with("CALL")),
    ("explain analyze delete from retail.orders", REFUSED, starts_with("EXPLAIN")),
    ("create temp table loot as select * from retail.customers", REFUSED, starts_with("CREATE")),
    ("\u00a0delete from retail.orders", REFUSED, "this text starts with"),
    ("/* select 1", REFUSED, NEEDS_QUERY),
    ("-- select 1", REFUSED, NEEDS_QUERY),
    ("   \n\t  ", REFUSED, NEEDS_QUERY),
    ("select 1 \\; delete from retail.orders", REFUSED, 'syntax error at or near "\\"'),
    # run_query places the text in parentheses: a text that would close them first.
    (
        "select 1) as q; delete from retail.orders; select * from (select 1",
        REFUSED,
        "syntax error",
    ),
    ("select 1) as q, (select 2", REFUSED, "syntax error"),
    (
        "select 1) as q cross join generate_series(1, 100000000) as g, (select 1",
        REFUSED,
        "syntax error",
    ),
]:
    query(STACKED, "P4", sql, expect, message)

for sql, rows in [
    ("select $$; delete from retail.orders; $$ as payload", [["; delete from retail.orders; "]]),
    (
        "select $q$'; commit; drop table retail.orders; --$q$ as payload",
        [["'; commit; drop table retail.orders; --"]],
    ),
    ("select 1 as one -- ; delete from retail.orders", [[1]]),
    ("select 1 /* ; drop table retail.orders */ as one", [[1]]),
    ("select 'a'';delete from retail.orders;--' as payload", [["a';delete from retail.orders;--"]]),
    (
        "select E'\\'; delete from retail.orders; --' as payload",
        [["'; delete from retail.orders; --"]],
    ),
    ("select 1 as one;", [[1]]),
    ("select 1 as one;;;", [[1]]),
    ("select 1 as one; -- done\n/* ; */ ;", [[1]]),
    ("select '; --' as payload", [["; --"]]),
    ("select 1 as one --", [[1]]),
]:
    query(STACKED, "P4", sql, ANSWERED, rows=rows)

explain(
    STACKED,
    "P4",
    "select 1; delete from retail.orders",
    REFUSED,
    "mcp.explain_query runs exactly one query",
)
explain(
    STACKED,
    "P4",
    "delete from retail.orders",
    REFUSED,
    starts_with("DELETE", "mcp.explain_query"),
    analyze=True,
)
explain(
    STACKED, "P4", "explain analyze select 1", REFUSED, starts_with("EXPLAIN", "mcp.explain_query")
)
explain(STACKED, "P4", "select 1) union all (select 2", REFUSED, "syntax error")
explain(STACKED, "P4", "commit", REFUSED, starts_with("COMMIT", "mcp.explain_query"), analyze=True)

# ---------------------------------------------------------------------------------------
# P2: principal forging from inside the query. Every query reports the store ids of the
# orders (or other store-scoped rows) it saw in a column named "stores" or "store_id";
# Seattle must see exactly its own store, or get an error.
# ---------------------------------------------------------------------------------------

forge = f"set_config('mcp.principal', '{HEAD_OFFICE}', true)"
for sql in [
    f"select {forge} as forged, {ORDERS_SEEN} from retail.orders",
    f"with forged as (select set_config('mcp.rls_user_id', '{HEAD_OFFICE}', true) as principal) "
    f"select (select principal from forged) as forged, {ORDERS_SEEN} from retail.orders",
    f"with forged as materialized (select {forge} as p) select forged.p, {ORDERS_SEEN} "
    "from forged, retail.orders group by forged.p",
    f"select array_agg(distinct o.store_id order by o.store_id) as stores from "
    f"(select set_config('app.current_rls_user_id', '{HEAD_OFFICE}', true)) as forged "
    "cross join retail.orders as o",
    f"select array_agg(distinct o.store_id order by o.store_id) as stores from retail.orders as o "
    f"cross join lateral (select set_config('rls.user_id', '{HEAD_OFFICE}', true) "
    "where o.order_id > 0) as forged",
    "select array_agg(distinct s.store_id order by s.store_id) as stores from "
    f"(select store_id from retail.orders order by {forge}, order_id) as s",
    f"select upper({forge}) as forged, {ORDERS_SEEN} from retail.orders",
    f"select {ORDERS_SEEN} from retail.orders where {forge} is not null",
    f"select {ORDERS_SEEN} from retail.orders group by {forge}",
    f"select {ORDERS_SEEN} from retail.orders having {forge} is not null",
    f"select distinct store_id, max({forge}) over () from retail.order_items",
    f"select case when {forge} is null then 0 else store_id end as store_id from retail.inventory",
    f"select o.store_id from retail.orders o join retail.order_items i on i.order_id = o.order_id "
    f"and {forge} is not null",
    f"select (select {forge}) as forged, (select {ORDERS_SEEN} from retail.orders) as stores",
    f"select (select count(*) from ts_stat('select to_tsvector({forge.replace(chr(39), chr(39) * 2)})')) "
    f"as forged, (select {ORDERS_SEEN} from retail.orders) as stores",
    f"select coalesce({forge}, '') || '' as forged, array_agg(distinct primary_store_id) as stores "
    "from retail.customers",
    f"select set_config('request.jwt.claim.sub', '{HEAD_OFFICE}', true), "
    f"set_config('zava.principal', '{HEAD_OFFICE}', true), {ORDERS_SEEN} from retail.order_items",
    f"select set_config('mcp.principal', '{BELLEVUE}', false) as forged, {ORDERS_SEEN} "
    "from retail.orders",
    f"select {forge} as forged, (select array_agg(distinct store_id) from retail.inventory) as stores",
    "select ts_rewrite('a'::tsquery, 'select ''a''::tsquery, ''b''::tsquery where "
    f"{forge.replace(chr(39), chr(39) * 2)} is not null')::text as rewritten, "
    f"(select {ORDERS_SEEN} from retail.orders) as stores",
    f"select set_config('search_path', 'pg_temp, retail, public', true), {ORDERS_SEEN} from orders",
    f"select {forge}, mcp.current_principal() as principal, "
    f"(select {ORDERS_SEEN} from retail.orders) as stores",
    "select (mcp.run_query('select " + ORDERS_SEEN.replace("'", "''") + " from retail.orders "
    f"where {forge.replace(chr(39), chr(39) * 2)} is not null') -> 'rows' -> 0 -> 0) as stores",
    f"select mcp_internal.visible_store_ids() as stores, {forge}",
    f"with r as (select set_config('role', 'none', true) as reset_to) "
    f"select (select reset_to from r) as reset_to, {ORDERS_SEEN} from retail.orders",
    "select array_agg(distinct o.store_id order by o.store_id) as stores from retail.orders o "
    "cross join lateral (select set_config('role', 'none', true) where o.order_id > 0) as forged",
    f"select set_config('role', null, true) as reset_role, {ORDERS_SEEN} from retail.orders",
    f"select set_config('session_authorization', null, true) as reset_auth, {ORDERS_SEEN} "
    "from retail.orders",
    # A principal's login role reset to itself still reads through the policies.
    "select set_config('role', 'none', true), (mcp.run_query('select array_agg(distinct "
    "store_id order by store_id) from retail.orders') -> 'rows' -> 0 -> 0) as stores",
]:
    query(FORGING, "P2", sql, ANSWERED, stores=SEATTLE_ONLY)

# Reset to its login role, a query reads in pg_stat_activity only its own principal's
# backends, whose statements carry only placeholders ($1), never a caller's values.
query(
    FORGING,
    "P2",
    "with r as materialized (select set_config('role', 'none', true) as reset_to) "
    "select r.reset_to, a.usename, a.state, a.query from r cross join lateral "
    "(select usename, state, query from pg_stat_activity "
    "where r.reset_to is not null and datname = current_database()) as a",
    ANSWERED,
    forbid=("@example.com", "Zava Retail"),
)

# Every principal's role is visible in pg_roles; whose it is, only to itself.
query(
    FORGING,
    "P2",
    "select rolname, mcp_internal.principal_of_role(rolname)::text as principal "
    "from pg_roles where rolname like 'zava_p_%'",
    ANSWERED,
    forbid=(HEAD_OFFICE, BELLEVUE),
)

query(
    FORGING,
    "P2",
    f"select {forge} as forged, mcp.current_principal()::text as principal",
    ANSWERED,
    rows=[[HEAD_OFFICE, SEATTLE]],
    note="the forged setting is set, and the binding is still Seattle's",
)
query(
    FORGING,
    "P2",
    "select set_config('role', 'none', true) as reset_to, mcp.current_principal()::text",
    ANSWERED,
    rows=[["none", SEATTLE]],
)

query(
    FORGING,
    "P2",
    f"select store_id from retail.orders where store_id in (select 2 from (values ({forge})) v(x))",
    ANSWERED,
    rows=[],
)

for sql, message in [
    (
        f"select set_config('role', 'zava_owner', true), {ORDERS_SEEN} from retail.orders",
        'permission denied to set role "zava_owner"',
    ),
    (
        f"select {ORDERS_SEEN} from retail.orders where set_config('role', 'zava_owner', true) "
        "is not null",
        'permission denied to set role "zava_owner"',
    ),
    (
        "with r as (select set_config('role', 'zava_owner', true)) select * from r",
        'permission denied to set role "zava_owner"',
    ),
    ("select set_config('role', 'postgres', true)", 'permission denied to set role "postgres"'),
    (
        "select set_config('role', 'pg_read_all_data', true)",
        'permission denied to set role "pg_read_all_data"',
    ),
    (
        "select set_config('role', 'pg_execute_server_program', true)",
        'permission denied to set role "pg_execute_server_program"',
    ),
    (
        "select set_config('role', 'pg_signal_backend', true)",
        'permission denied to set role "pg_signal_backend"',
    ),
    (
        "select set_config('role', 'none', true), query_to_xml('select set_config(''role'', "
        "''zava_owner'', true)', true, true, '')",
        'permission denied to set role "zava_owner"',
    ),
    (
        f"select set_config('role', 'zava_reader', true), {ORDERS_SEEN} from retail.orders",
        'permission denied to set role "zava_reader"',
    ),
    (
        "select set_config('role', 'zava_server', true), query_to_xml('select array_agg(distinct "
        "store_id) from retail.orders', true, true, '')",
        'permission denied to set role "zava_server"',
    ),
    (
        "select set_config('role', rolname, true) from pg_roles where rolname like 'zava_p_%' "
        "and rolname <> current_user limit 1",
        "permission denied to set role",
    ),
    (
        "select set_config('session_authorization', 'postgres', true)",
        'permission denied to set session authorization "postgres"',
    ),
    (
        "select set_config('session_authorization', 'zava_owner', true)",
        'permission denied to set session authorization "zava_owner"',
    ),
    (
        "select set_config('session_authorization', 'zava_server', true), query_to_xml('select "
        "count(*) from retail.orders', true, true, '')",
        'permission denied to set session authorization "zava_server"',
    ),
    (
        "select set_config('row_security', 'off', true), query_to_xml('select array_agg(distinct "
        "store_id) from retail.orders', true, true, '')",
        'query would be affected by row-level security policy for table "orders"',
    ),
    (
        "select set_config('transaction_read_only', 'off', true)",
        "cannot set transaction read-write mode inside a read-only transaction",
    ),
    (
        "select set_config('role', 'none', true), query_to_xml('select mcp.bind_principal("
        f"''{HEAD_OFFICE}'')', true, true, '')",
        "permission denied for function bind_principal",
    ),
    (
        f"select set_config('role', 'none', true), mcp_internal.principal_role('{HEAD_OFFICE}')",
        "permission denied for function principal_role",
    ),
    (
        f"select mcp.bind_principal('{HEAD_OFFICE}')",
        "permission denied for function bind_principal",
    ),
    (
        f"select mcp_internal.principal_role('{HEAD_OFFICE}')",
        "permission denied for function principal_role",
    ),
    (
        "select * from mcp_internal.principal_roles",
        "permission denied for table principal_roles",
    ),
    (
        "with bound as (insert into mcp_internal.principal_roles (role_name, rls_user_id) "
        f"values (current_user, '{HEAD_OFFICE}') returning *) select * from bound",
        ONLY_READS,
    ),
    (
        f"with bound as (update mcp_internal.principal_roles set rls_user_id = '{HEAD_OFFICE}' "
        "where role_name = current_user returning *) select * from bound",
        ONLY_READS,
    ),
    ("select query_to_xml('set role zava_owner', true, true, '')", "SET " + NOT_VOLATILE),
    ("select query_to_xml('reset role', true, true, '')", "RESET " + NOT_VOLATILE),
    ("reset role", starts_with("RESET")),
    ("reset all", starts_with("RESET")),
    ("reset session authorization", starts_with("RESET")),
    ("set role zava_owner", starts_with("SET")),
    ("set session authorization postgres", starts_with("SET")),
    (f"set mcp.principal = '{HEAD_OFFICE}'", starts_with("SET")),
    # Where a superuser built the database these are revoked from PUBLIC too (callers are
    # kept apart by their roles either way: tests/py/test_isolation.py).
    (
        "select set_config('role', 'none', true), pg_cancel_backend(pg_backend_pid())",
        "permission denied for function pg_cancel_backend",
    ),
    (
        "select set_config('role', 'none', true), pg_terminate_backend(pg_backend_pid())",
        "permission denied for function pg_terminate_backend",
    ),
    (
        "select pg_cancel_backend(pg_backend_pid())",
        "permission denied for function pg_cancel_backend",
    ),
    (
        "select pg_terminate_backend(pid) from pg_stat_activity where pid = pg_backend_pid()",
        "permission denied for function pg_terminate_backend",
    ),
]:
    query(FORGING, "P2", sql, REFUSED, message)

# ---------------------------------------------------------------------------------------
# P3: nothing is written.
# ---------------------------------------------------------------------------------------

for sql, message in [
    ("with d as (delete from retail.order_items returning *) select count(*) from d", ONLY_READS),
    (
        "with d as (delete from retail.customers where primary_store_id <> 1 returning email) "
        "select * from d",
        ONLY_READS,
    ),
    (
        "with u as (update retail.inventory set stock_level = 0 returning *) select count(*) from u",
        ONLY_READS,
    ),
    (
        "with u as (update retail.orders set store_id = 1 where store_id = 2 returning *) "
        "select count(*) from u",
        ONLY_READS,
    ),
    (
        "with i as (insert into retail.stores (store_name, rls_user_id) values ('Zava Retail Evil', "
        "gen_random_uuid()) returning *) select * from i",
        ONLY_READS,
    ),
    (
        "with i as (insert into retail.orders (customer_id, store_id, order_date) select customer_id, "
        "store_id, order_date from retail.orders returning order_id) select count(*) from i",
        ONLY_READS,
    ),
    (
        "with m as (merge into retail.inventory i using (select 1 as p) s on i.product_id = s.p "
        "when matched then update set stock_level = 0 returning i.*) select count(*) from m",
        ONLY_READS,
    ),
    (
        "with k as (delete from mcp_internal.api_keys returning *) select count(*) from k",
        ONLY_READS,
    ),
    (
        "with a as (insert into mcp_internal.audit_log (tool) values ('forged') returning *) "
        "select * from a",
        ONLY_READS,
    ),
    ("delete from retail.order_items returning *", starts_with("DELETE")),
    ("update retail.products set base_price = 0 returning *", starts_with("UPDATE")),
    (
        "insert into retail.categories (category_name) values ('x') returning *",
        starts_with("INSERT"),
    ),
    (
        "merge into retail.inventory i using (select 1 as p) s on i.product_id = s.p "
        "when matched then delete",
        starts_with("MERGE"),
    ),
    ("truncate retail.order_items", starts_with("TRUNCATE")),
    ("drop table retail.orders", starts_with("DROP")),
    ("alter table retail.orders disable row level security", starts_with("ALTER")),
    ("grant select on retail.orders to public", starts_with("GRANT")),
    ("create table retail.loot as select * from retail.customers", starts_with("CREATE")),
    ("select * into loot from retail.customers", ONE_QUERY),
    ("select * into temp loot from retail.orders", ONE_QUERY),
    ("select * from retail.orders for update", ONLY_READS),
    ("select * from retail.orders for share", ONLY_READS),
    ("select * from retail.inventory for no key update", ONLY_READS),
    ("select * from retail.customers for key share", ONLY_READS),
    (
        "select nextval('retail.orders_order_id_seq')",
        "permission denied for sequence orders_order_id_seq",
    ),
    (
        "select nextval('retail.customers_customer_id_seq') from generate_series(1, 10)",
        "permission denied for sequence customers_customer_id_seq",
    ),
    (
        "select setval('retail.orders_order_id_seq', 1)",
        "permission denied for sequence orders_order_id_seq",
    ),
    (
        "select setval('retail.order_items_order_item_id_seq', 1, false)",
        "permission denied for sequence order_items_order_item_id_seq",
    ),
    (
        "select setval('retail.stores_store_id_seq', 1000)",
        "permission denied for sequence stores_store_id_seq",
    ),
    (
        "select currval('retail.products_product_id_seq')",
        "permission denied for sequence products_product_id_seq",
    ),
    ("select lo_create(0)", "cannot execute lo_create() in a read-only transaction"),
    ("select lo_create(424242)", "cannot execute lo_create() in a read-only transaction"),
    ("select lo_unlink(1)", "cannot execute lo_unlink() in a read-only transaction"),
    (
        "select lo_from_bytea(0, 'loot')",
        "cannot execute lo_from_bytea() in a read-only transaction",
    ),
    ("select lo_put(1, 0, 'x')", "cannot execute lo_put() in a read-only transaction"),
    ("select query_to_xml('delete from retail.orders', true, true, '')", "DELETE " + NOT_VOLATILE),
    (
        "select query_to_xml('insert into retail.categories (category_name) values (''x'')', true, "
        "true, '')",
        "INSERT " + NOT_VOLATILE,
    ),
    (
        "select * from ts_stat('update retail.inventory set stock_level = 0 returning ''x''::tsvector')",
        "UPDATE " + NOT_VOLATILE,
    ),
    ("select pg_stat_reset()", "permission denied for function pg_stat_reset"),
    (
        "select pg_stat_reset_single_table_counters('retail.orders'::regclass)",
        "permission denied for function pg_stat_reset_single_table_counters",
    ),
    (
        "select pg_create_logical_replication_slot('zava_attack', 'pgoutput')",
        "permission denied to use replication slots",
    ),
    (
        "select pg_create_physical_replication_slot('zava_attack')",
        "permission denied to use replication slots",
    ),
    # A WAL record that survives the rollback (transactional = false): a write, and with a
    # large payload in a loop a way to fill the server's disk.
    (
        "select pg_logical_emit_message(false, 'zava_attack', 'written despite read only')",
        "permission denied for function pg_logical_emit_message",
    ),
]:
    query(WRITES, "P3", sql, REFUSED, message)

for sql, rows in [
    ("select pg_notify('orders', 'hello') is null as notified", [[False]]),
    ("select pg_current_xact_id() is not null as has_xid", [[True]]),
]:
    query(
        WRITES,
        "P3",
        sql,
        ANSWERED,
        rows=rows,
        note="harmless: the notification and the xid go with the rollback",
    )

# ---------------------------------------------------------------------------------------
# P8: server files and other databases are out of reach.
# ---------------------------------------------------------------------------------------

PASSWD = ("root:x:0", "root:")
for sql, message in [
    ("select pg_read_file('/etc/passwd')", "permission denied for function pg_read_file"),
    ("select * from pg_read_file('/etc/passwd')", "permission denied for function pg_read_file"),
    (
        "select pg_read_file('postgresql.conf', 0, 200)",
        "permission denied for function pg_read_file",
    ),
    (
        "select pg_read_file('/etc/passwd', 0, 10, true)",
        "permission denied for function pg_read_file",
    ),
    (
        "select pg_read_binary_file('postgresql.conf')",
        "permission denied for function pg_read_binary_file",
    ),
    (
        "select convert_from(pg_read_binary_file('/etc/passwd'), 'utf8')",
        "permission denied for function pg_read_binary_file",
    ),
    ("select pg_ls_dir('.')", "permission denied for function pg_ls_dir"),
    ("select * from pg_ls_dir('/', true, false)", "permission denied for function pg_ls_dir"),
    ("select * from pg_ls_logdir()", "permission denied for function pg_ls_logdir"),
    ("select * from pg_ls_waldir()", "permission denied for function pg_ls_waldir"),
    ("select * from pg_ls_tmpdir()", "permission denied for function pg_ls_tmpdir"),
    ("select pg_stat_file('postgresql.conf')", "permission denied for function pg_stat_file"),
    ("select pg_stat_file('/etc/passwd', true)", "permission denied for function pg_stat_file"),
    ("select lo_import('/etc/passwd')", "permission denied for function lo_import"),
    ("select lo_import('/etc/passwd', 424242)", "permission denied for function lo_import"),
    ("select lo_export(0, '/tmp/zava_attack')", "permission denied for function lo_export"),
    ("select lo_get(0)", "large object 0 does not exist"),
    ("select * from pg_largeobject", "permission denied for table pg_largeobject"),
    ("copy (select 1) to program 'id'", starts_with("COPY")),
    ("copy retail.orders from program 'id'", starts_with("COPY")),
    ("copy retail.customers to '/tmp/zava_attack.csv'", starts_with("COPY")),
    (
        "select query_to_xml('copy (select 1) to program ''id''', true, true, '')",
        "COPY " + NOT_VOLATILE,
    ),
    (
        "select query_to_xml('copy retail.orders from ''/etc/passwd''', true, true, '')",
        "COPY " + NOT_VOLATILE,
    ),
    (
        "select * from dblink('dbname=postgres', 'select rolpassword from pg_authid') as t (p text)",
        "function dblink(unknown, unknown) does not exist",
    ),
    ("select dblink_connect('host=127.0.0.1 dbname=postgres')", "function dblink_connect"),
    ("select * from pg_file_write('/tmp/zava_attack', 'x', false)", "function pg_file_write"),
    ("select pg_file_unlink('/tmp/zava_attack')", "function pg_file_unlink"),
    ("create extension dblink", starts_with("CREATE")),
    ("create server loot foreign data wrapper postgres_fdw", starts_with("CREATE")),
    ("select rolname, rolpassword from pg_authid", "permission denied for table pg_authid"),
    ("select usename, passwd from pg_shadow", "permission denied for view pg_shadow"),
    ("select * from pg_file_settings", "permission denied for view pg_file_settings"),
    ("select * from pg_hba_file_rules", "permission denied for view pg_hba_file_rules"),
    ("select * from pg_ident_file_mappings", "permission denied for view pg_ident_file_mappings"),
    ("select * from pg_config", "permission denied for view pg_config"),
    ("select current_setting('data_directory')", 'permission denied to examine "data_directory"'),
    ("select current_setting('hba_file')", 'permission denied to examine "hba_file"'),
    (
        "select set_config('role', 'pg_read_server_files', true)",
        'permission denied to set role "pg_read_server_files"',
    ),
    (
        "select set_config('role', 'pg_read_server_files', true), pg_read_file('/etc/passwd')",
        "permission denied for function pg_read_file",
    ),
    (
        "select set_config('role', 'none', true), pg_read_file('/etc/passwd')",
        "permission denied for function pg_read_file",
    ),
    ("select pg_reload_conf()", "permission denied for function pg_reload_conf"),
    ("select pg_rotate_logfile()", "permission denied for function pg_rotate_logfile"),
    ("select pg_switch_wal()", "permission denied for function pg_switch_wal"),
]:
    query(FILES, "P8", sql, REFUSED, message, forbid=PASSWD)

query(
    FILES,
    "P8",
    "select count(*) from pg_settings where name in ('data_directory', 'config_file', 'hba_file')",
    ANSWERED,
    rows=[[0]],
)
query(FILES, "P8", "select count(*) from pg_largeobject_metadata", ANSWERED, rows=[[0]])
explain(
    FILES,
    "P8",
    "select pg_read_file('/etc/passwd')",
    REFUSED,
    "permission denied for function pg_read_file",
    forbid=PASSWD,
)
explain(
    FILES,
    "P8",
    "select * from pg_ls_dir('.')",
    REFUSED,
    "permission denied for function pg_ls_dir",
    analyze=True,
)
explain(
    FILES,
    "P8",
    "copy retail.orders from program 'id'",
    REFUSED,
    starts_with("COPY", "mcp.explain_query"),
)

# ---------------------------------------------------------------------------------------
# P2/P9: catalog probing for other stores' rows. Table-level statistics (reltuples,
# n_live_tup, relation sizes) are acceptable; column statistics are row values.
# ---------------------------------------------------------------------------------------

for sql, rows in [
    ("select count(*) from pg_stats where schemaname = 'retail'", [[0]]),
    ("select count(*) from pg_stats where tablename = 'customers' and attname = 'email'", [[0]]),
    (
        "select most_common_vals::text, histogram_bounds::text from pg_stats "
        "where tablename = 'orders'",
        [],
    ),
    ("select count(*) from pg_stats_ext where schemaname = 'retail'", [[0]]),
    ("select count(*) from pg_stats_ext_exprs where schemaname = 'retail'", [[0]]),
    ("select * from retail.orders where store_id = 2", []),
    ("select * from retail.customers where primary_store_id <> 1", []),
    ("select * from retail.inventory where store_id = 6", []),
    ("select * from retail.order_items where store_id <> 1", []),
    ("select count(*) from retail.orders where store_id <> 1", [[0]]),
    ("select * from retail.orders where ctid = '(0,1)' and store_id <> 1", []),
    (
        f"select count(*) from retail.customers where email = (select 'x') or primary_store_id = "
        f"(select store_id from retail.stores where rls_user_id = '{BELLEVUE}')",
        [[0]],
    ),
]:
    query(CATALOG, "P2", sql, ANSWERED, rows=rows)

for sql in [
    "select relname, reltuples from pg_class where relnamespace = 'retail'::regnamespace "
    "and relkind = 'r'",
    "select relname, n_live_tup from pg_stat_user_tables where schemaname = 'retail'",
    "select pg_total_relation_size('retail.orders') > 0 as sized",
    "select o.order_id, o.store_id, c.email, c.customer_id from retail.orders o "
    "left join retail.customers c on c.customer_id = o.customer_id order by o.order_id",
    "select customer_id, email, primary_store_id from retail.customers order by customer_id",
    "select store_id, order_id, customer_id from retail.orders order by order_id desc",
    "select store_id, product_id, stock_level from retail.inventory",
    "select i.store_id, i.order_id from retail.order_items i full join retail.orders o "
    "using (order_id)",
    "select email, customer_id from retail.customers where email like '%@%' "
    "or customer_id < 0 order by email",
    "select pid, usename, state, query from pg_stat_activity",
    "select name, statement from pg_cursors",
    "select locktype, mode, granted from pg_locks",
    "select count(*) as prepared from pg_prepared_xacts",
    "select xmin::text, ctid::text, order_id, store_id from retail.orders",
]:
    query(CATALOG, "P2", sql, ANSWERED, max_rows=1000)

query(
    CATALOG,
    "P2",
    "select count(*) from retail.customers",
    ANSWERED,
    rows=lambda truth: [[truth.seattle_customers]],
)
query(
    CATALOG,
    "P2",
    "select count(*) from retail.orders",
    ANSWERED,
    rows=lambda truth: [[truth.seattle_orders]],
)
query(
    CATALOG,
    "P2",
    "select store_id, store_name from retail.stores order by store_id",
    ANSWERED,
    public_stores=True,
    note="stores are reference data every known principal sees",
)

for sql, message in [
    ("select count(*) from pg_statistic", "permission denied for table pg_statistic"),
    (
        "select stavalues1::text from pg_statistic where starelid = 'retail.customers'::regclass",
        "permission denied for table pg_statistic",
    ),
    (
        "select count(*) from pg_statistic_ext_data",
        "permission denied for table pg_statistic_ext_data",
    ),
    ("select * from mcp_internal.api_keys", "permission denied for table api_keys"),
    ("select * from mcp_internal.audit_log", "permission denied for table audit_log"),
    ("select * from mcp.audit_log()", "only head office may read the audit log"),
    ("select * from pg_stat_statements", 'relation "pg_stat_statements" does not exist'),
    ("select email::integer from retail.customers", "invalid input syntax for type integer"),
]:
    query(CATALOG, "P9", sql, REFUSED, message)

for sql, rows in [
    ("select 1 / (store_id - 2) from retail.orders where store_id = 2", []),
    ("select count(*) from retail.orders where 1 / (store_id - 2) = 0", [[0]]),
    (
        "select count(*) from retail.customers where case when primary_store_id = 1 then false "
        "else email::integer = 0 end",
        [[0]],
    ),
    (
        "select (select email from retail.customers where primary_store_id = 2 limit 1)::integer",
        [[None]],
    ),
    (
        "select count(*) from retail.customers where primary_store_id <> 1 and "
        "(email::json is not null)",
        [[0]],
    ),
]:
    query(
        CATALOG,
        "P9",
        sql,
        ANSWERED,
        rows=rows,
        note="row level security filters before the caller's failing expression runs",
    )

# ---------------------------------------------------------------------------------------
# P5/P6: timing and resource abuse. The budget of the test server is 3 s.
# ---------------------------------------------------------------------------------------

for sql in [
    "select pg_sleep(30)",
    "select set_config('statement_timeout', '0', true), pg_sleep(30)",
    "select set_config('statement_timeout', '0', false), set_config('lock_timeout', '0', false), "
    "pg_sleep_for('1 hour')",
    "select pg_sleep_until(now() + interval '1 hour')",
    "select pg_sleep(1) from generate_series(1, 30)",
    "with t as materialized (select set_config('statement_timeout', '0', true)) "
    "select count(*) from t, generate_series(1, 1e6) a cross join generate_series(1, 1e6) b",
    "select count(*) from generate_series(1, 100000) a cross join generate_series(1, 100000) b",
    "with recursive r(n) as (select 1 union all select n + 1 from r) select count(*) from r",
    "select count(*) from retail.orders a, retail.orders b, retail.order_items c",
    "select set_config('work_mem', '256MB', true), count(*) from (select g from "
    "generate_series(1, 50000000) g order by md5(g::text)) s",
    "select query_to_xml('select pg_sleep(30)', true, true, '')",
    "select sum(length(repeat(md5(g::text), 100000))) from generate_series(1, 100000000) g",
]:
    query(RESOURCES, "P5", sql, CANCELLED, BUDGET)

explain(RESOURCES, "P5", "select pg_sleep(30)", CANCELLED, BUDGET, analyze=True)
explain(
    RESOURCES,
    "P5",
    "select set_config('statement_timeout', '0', true), count(*) from generate_series(1, 1e6) a, "
    "generate_series(1, 1e6) b",
    CANCELLED,
    BUDGET,
    analyze=True,
)

for sql, max_rows, rows, truncated in [
    (
        "select a, b from generate_series(1, 1e6) a cross join generate_series(1, 1e6) b",
        5,
        None,
        True,
    ),
    ("select repeat('x', 1000000) as filler from generate_series(1, 1000)", 1000, None, True),
    ("select repeat('x', 20000000) as huge", 10, [], True),
    ("select repeat('x', 100000000) is not null as huge", 10, [[True]], False),
]:
    query(RESOURCES, "P5", sql, ANSWERED, rows=rows, truncated=truncated, max_rows=max_rows)

query(RESOURCES, "P5", "select repeat('x', 1073741824)", REFUSED, "requested length too large")

for sql, rows in [
    (
        "select pg_advisory_lock(4242) is null as locked, pg_try_advisory_lock(4343) as locked2",
        [[False, True]],
    ),
    (
        "select pg_advisory_lock_shared(4444) is null as shared, "
        "pg_advisory_xact_lock(4545) is null as xact",
        [[False, False]],
    ),
    (
        "select set_config('work_mem', '1GB', false) as work_mem, "
        "set_config('statement_timeout', '0', false) as timeout",
        [["1GB", "0"]],
    ),
    ("select set_config('search_path', 'pg_temp', false) as search_path", [["pg_temp"]]),
    ("select set_config('default_transaction_read_only', 'off', false) as ro", [["off"]]),
    ("select set_config('idle_in_transaction_session_timeout', '0', false) as idle", [["0"]]),
    (f"select set_config('mcp.principal', '{HEAD_OFFICE}', false) as forged", [[HEAD_OFFICE]]),
    ("select count(*) from pg_prepared_statements", [[0]]),
]:
    query(
        RESOURCES,
        "P6",
        sql,
        ANSWERED,
        rows=rows,
        note="session state a query leaves must not survive into the next call",
    )

# ---------------------------------------------------------------------------------------
# P7: injection through every non-SQL parameter.
# ---------------------------------------------------------------------------------------

UNKNOWN_TABLE = "unknown table"


def invalid(parameter: str) -> tuple[str, str]:
    """The schema's refusal of a bad argument: a one-line message naming the parameter."""
    return ("invalid arguments for", parameter)


for names, expect, message in [
    (["orders; drop table retail.orders"], REFUSED, UNKNOWN_TABLE),
    (["orders' or '1'='1"], REFUSED, UNKNOWN_TABLE),
    (['orders"; drop table retail.orders; --'], REFUSED, UNKNOWN_TABLE),
    (["pg_catalog.pg_authid"], REFUSED, UNKNOWN_TABLE),
    (["mcp_internal.principal_roles"], REFUSED, UNKNOWN_TABLE),
    (["mcp_internal.api_keys"], REFUSED, UNKNOWN_TABLE),
    (["information_schema.tables"], REFUSED, UNKNOWN_TABLE),
    (["../etc/passwd"], REFUSED, UNKNOWN_TABLE),
    (["retail.orders where false"], REFUSED, UNKNOWN_TABLE),
    (['"orders"'], REFUSED, UNKNOWN_TABLE),
    (["orders", "x' union select rolpassword from pg_authid --"], REFUSED, UNKNOWN_TABLE),
    (["o" * 100000], REFUSED, UNKNOWN_TABLE),
    (["orders\x00; drop table retail.orders"], REFUSED, "NUL"),
    ([], REFUSED, "describe_tables needs at least one table name"),
    (["orders"] * 51, REFUSED, "describe_tables takes at most 50 table names, not 51"),
    ("orders", REFUSED, invalid("table_names")),
    ([None], REFUSED, invalid("table_names")),
    ([1], REFUSED, invalid("table_names")),
    ({"orders": 1}, REFUSED, invalid("table_names")),
    (None, REFUSED, invalid("table_names")),
]:
    add(PARAMETERS, "P7", SCHEMAS, {"table_names": names}, expect, message)

for names, public in [
    (["  ORDERS ", "retail.order_items"], False),
    (["customers", "inventory", "orders", "order_items"], False),
    (["stores", "retail.stores"], True),
]:
    add(PARAMETERS, "P7", SCHEMAS, {"table_names": names}, ANSWERED, public_stores=public)
add(PARAMETERS, "P7", SCHEMAS, {}, REFUSED, invalid("table_names"))

for max_rows, expect, message in [
    (0, REFUSED, invalid("max_rows")),
    (-1, REFUSED, invalid("max_rows")),
    (1001, REFUSED, "max_rows must be at most 1000, not 1001"),
    (10**12, REFUSED, "max_rows must be at most 1000"),
    (2**63, REFUSED, "max_rows must be at most 1000"),
    (1.5, REFUSED, invalid("max_rows")),
    ("5; drop table retail.orders", REFUSED, invalid("max_rows")),
    ("NaN", REFUSED, invalid("max_rows")),
    ("Infinity", REFUSED, invalid("max_rows")),
    (None, REFUSED, invalid("max_rows")),
    ([5], REFUSED, invalid("max_rows")),
    ({"$gt": 0}, REFUSED, invalid("max_rows")),
]:
    add(
        PARAMETERS,
        "P7",
        QUERY,
        {"postgresql_query": "select store_id from retail.orders", "max_rows": max_rows},
        expect,
        message,
    )
add(
    PARAMETERS,
    "P7",
    QUERY,
    {"postgresql_query": "select store_id from retail.orders", "max_rows": "3"},
    ANSWERED,
    stores=SEATTLE_ONLY,
    note="a numeric string is coerced by the schema, then capped",
)
add(PARAMETERS, "P7", QUERY, {"postgresql_query": None}, REFUSED, invalid("postgresql_query"))
add(PARAMETERS, "P7", QUERY, {"postgresql_query": 123}, REFUSED, invalid("postgresql_query"))
add(
    PARAMETERS,
    "P7",
    QUERY,
    {"postgresql_query": ["select 1", "drop table retail.orders"]},
    REFUSED,
    invalid("postgresql_query"),
)
add(PARAMETERS, "P7", QUERY, {}, REFUSED, invalid("postgresql_query"))
add(
    PARAMETERS,
    "P7",
    QUERY,
    {"postgresql_query": "select 1\x00; drop table retail.orders"},
    REFUSED,
    "NUL",
)
add(
    PARAMETERS,
    "P7",
    QUERY,
    {
        "postgresql_query": "select store_id from retail.orders",
        "principal": HEAD_OFFICE,
        "role": "zava_owner",
        "x-rls-user-id": HEAD_OFFICE,
    },
    ANSWERED,
    stores=SEATTLE_ONLY,
    note="unknown arguments change nothing",
)
add(
    PARAMETERS,
    "P7",
    QUERY,
    {"postgresql_query": " " * 200000 + "select 1 as one"},
    ANSWERED,
    rows=[[1]],
)

for analyze, expect, message in [
    ("yes; drop table retail.orders", REFUSED, invalid("analyze")),
    (2, REFUSED, invalid("analyze")),
    (None, REFUSED, invalid("analyze")),
    ({"analyze": True}, REFUSED, invalid("analyze")),
    ("select pg_sleep(30)", REFUSED, invalid("analyze")),
]:
    explain(
        PARAMETERS,
        "P7",
        "select * from retail.orders where store_id = 2",
        expect,
        message,
        analyze=analyze,
    )
explain(
    PARAMETERS,
    "P7",
    "select store_id from retail.orders where store_id = 2",
    ANSWERED,
    analyze="true",
)
add(PARAMETERS, "P7", EXPLAIN, {"postgresql_query": 42}, REFUSED, invalid("postgresql_query"))

BASE_SEARCH = {"query_description": "cordless drill"}
for changes, expect, message in [
    ({"query_description": ""}, REFUSED, invalid("query_description")),
    ({"query_description": "a" * 2001}, REFUSED, invalid("query_description")),
    ({"query_description": None}, REFUSED, invalid("query_description")),
    ({"query_description": 42}, REFUSED, invalid("query_description")),
    ({"query_description": "drill\x00'; drop table retail.products; --"}, REFUSED, "NUL"),
    ({"similarity_threshold": -1}, REFUSED, invalid("similarity_threshold")),
    ({"similarity_threshold": 101}, REFUSED, invalid("similarity_threshold")),
    ({"similarity_threshold": "NaN"}, REFUSED, invalid("similarity_threshold")),
    ({"similarity_threshold": "Infinity"}, REFUSED, invalid("similarity_threshold")),
    ({"similarity_threshold": "-Infinity"}, REFUSED, invalid("similarity_threshold")),
    ({"similarity_threshold": 1e308}, REFUSED, invalid("similarity_threshold")),
    (
        {"similarity_threshold": "30; drop table retail.products"},
        REFUSED,
        invalid("similarity_threshold"),
    ),
    ({"similarity_threshold": None}, REFUSED, invalid("similarity_threshold")),
    ({"max_rows": 0}, REFUSED, invalid("max_rows")),
    ({"max_rows": 201}, REFUSED, invalid("max_rows")),
    ({"max_rows": -5}, REFUSED, invalid("max_rows")),
    ({"max_rows": 10**9}, REFUSED, invalid("max_rows")),
    ({"max_rows": "20 or 1=1"}, REFUSED, invalid("max_rows")),
    ({"max_rows": 2.5}, REFUSED, invalid("max_rows")),
    ({"in_stock_only": "maybe"}, REFUSED, invalid("in_stock_only")),
    ({"in_stock_only": "true; drop table retail.inventory"}, REFUSED, invalid("in_stock_only")),
    ({"in_stock_only": 2}, REFUSED, invalid("in_stock_only")),
    ({"in_stock_only": None}, REFUSED, invalid("in_stock_only")),
]:
    add(PARAMETERS, "P7", SEARCH, {**BASE_SEARCH, **changes}, expect, message)

for changes in [
    {"query_description": "x'); drop table retail.products; --"},
    {
        "query_description": "select * from retail.customers; select set_config('role', "
        "'zava_owner', true)"
    },
    {"query_description": '"circular saw" or hammer -claw'},
    {"query_description": "$$ || pg_read_file('/etc/passwd') || $$"},
    {
        "query_description": "drill",
        "in_stock_only": True,
        "max_rows": 200,
        "similarity_threshold": 0,
    },
    {"query_description": "drill", "similarity_threshold": 100},
    {"query_description": "drill", "in_stock_only": "true"},
    {"query_description": "drill", "store_id": 2, "principal": HEAD_OFFICE},
]:
    add(PARAMETERS, "P7", SEARCH, {**BASE_SEARCH, **changes}, ANSWERED, forbid=PASSWD)

add(
    PARAMETERS,
    "P7",
    "list_tables",
    {"schema": "pg_catalog'; drop table retail.orders; --"},
    ANSWERED,
)
add(PARAMETERS, "P7", "drop_table", {"table": "retail.orders"}, REFUSED, "drop_table")


def _number(cases: list[Case]) -> list[Case]:
    short = {
        STACKED: "stack",
        FORGING: "forge",
        WRITES: "write",
        FILES: "file",
        CATALOG: "catalog",
        RESOURCES: "cost",
        PARAMETERS: "param",
    }
    counters: dict[str, int] = {}
    numbered = []
    for case in cases:
        counters[case.family] = counters.get(case.family, 0) + 1
        numbered.append(
            dataclasses.replace(case, case_id=f"{short[case.family]}-{counters[case.family]:03d}")
        )
    return numbered


CASES = _number(CASES)
FAMILIES = [STACKED, FORGING, WRITES, FILES, CATALOG, RESOURCES, PARAMETERS]
