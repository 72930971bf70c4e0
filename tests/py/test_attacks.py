"""The attack suite (issue 4): hundreds of hostile tool calls sent over real HTTP with
Seattle's store-manager key, each a row of attack_cases.CASES with the property it attacks
and the outcome it must get; then the side channels (describe_tables values, explain_query
estimates, error messages); then, after everything, proof that nothing was written and
that no pooled connection carries state, with the counts asserted and a summary printed.

Tests run in file order: the case table first, the side channels next, the checks that
need every attack to have run last."""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime
import json
import re
import time
import uuid
from typing import Any

import anyio
import psycopg
import pytest

from attack_cases import (
    ANSWERED,
    BELLEVUE,
    BUDGET,
    CANCELLED,
    CASES,
    EXPLAIN,
    FAMILIES,
    QUERY,
    REFUSED,
    SCHEMAS,
    SEATTLE,
    Case,
)
from conftest import bearer, mcp_client
from zava_mcp import database

SEATTLE_STORE = 1
# Columns whose values are store ids; every one of them Seattle's must be 1.
STORE_COLUMNS = {"store_id", "primary_store_id", "stores", "store_ids"}
EMAIL = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){1,8}")
PLANNER_ESTIMATES = ("Plan Rows", "Total Cost", "Startup Cost", "Plan Width")
CONCURRENT_SLOW_CALLS = 4  # cancelled cases run side by side, within a principal's pool of 5


# --- What the owner sees, before the suite: the truth the checks compare with. ---------


@dataclasses.dataclass(frozen=True)
class Truth:
    seattle_orders: int
    seattle_customers: int
    seattle_order_ids: frozenset[int]
    seattle_customer_ids: frozenset[int]
    seattle_emails: frozenset[str]
    other_emails: frozenset[str]
    other_store_names: frozenset[str]
    a_bellevue_email: str


@dataclasses.dataclass(frozen=True)
class Before:
    checksum: str
    parts: dict[str, str]
    truth: Truth


def load_truth(admin_url: str) -> Truth:
    with psycopg.connect(admin_url) as conn:

        def column(sql: str) -> frozenset[Any]:
            return frozenset(row[0] for row in conn.execute(sql))

        seattle_order_ids = column("select order_id from retail.orders where store_id = 1")
        seattle_customer_ids = column(
            "select customer_id from retail.customers where primary_store_id = 1 "
            "union select customer_id from retail.orders where store_id = 1"
        )
        return Truth(
            seattle_orders=len(seattle_order_ids),
            seattle_customers=len(
                column("select customer_id from retail.customers where primary_store_id = 1")
            ),
            seattle_order_ids=seattle_order_ids,
            seattle_customer_ids=seattle_customer_ids,
            seattle_emails=column("select email from retail.customers where primary_store_id = 1"),
            other_emails=column("select email from retail.customers where primary_store_id <> 1"),
            other_store_names=column("select store_name from retail.stores where store_id <> 1"),
            a_bellevue_email=conn.execute(
                "select c.email from retail.customers c join retail.stores s "
                "on s.store_id = c.primary_store_id where s.rls_user_id = %s "
                "order by c.customer_id limit 1",
                (BELLEVUE,),
            ).fetchone()[0],
        )


def retail_checksum(admin_url: str) -> tuple[str, dict[str, str]]:
    """md5 of every retail table's rows in key order, of every retail sequence's state, of
    the large objects, and of the relations, policies and grants of our schemas."""
    parts: dict[str, str] = {}
    with psycopg.connect(admin_url) as conn:
        tables = conn.execute(
            """
            select
                c.oid::regclass::text,
                coalesce(
                    (
                        select string_agg(quote_ident(a.attname), ', ' order by k.ord)
                        from pg_index i
                        cross join unnest(i.indkey) with ordinality as k (attnum, ord)
                        join pg_attribute a on a.attrelid = c.oid and a.attnum = k.attnum
                        where i.indrelid = c.oid and i.indisprimary
                    ),
                    't::text'
                )
            from pg_class c
            where c.relnamespace = 'retail'::regnamespace and c.relkind in ('r', 'p')
            order by 1
            """
        ).fetchall()
        assert len(tables) >= 9
        for table, key in tables:
            digest, count = conn.execute(
                f"select md5(coalesce(string_agg(t::text, E'\\n' order by {key}), '')), count(*) "
                f"from {table} as t"
            ).fetchone()
            parts[table] = f"{count}:{digest}"
        for (sequence,) in conn.execute(
            "select oid::regclass::text from pg_class "
            "where relnamespace = 'retail'::regnamespace and relkind = 'S' order by 1"
        ).fetchall():
            last_value, is_called = conn.execute(
                f"select last_value, is_called from {sequence}"
            ).fetchone()
            parts[sequence] = f"{last_value}:{is_called}"
        parts["large objects"] = str(
            conn.execute("select count(*) from pg_largeobject_metadata").fetchone()[0]
        )
        parts["relations"] = conn.execute(
            "select md5(string_agg(format('%s.%s:%s:%s:%s', n.nspname, c.relname, c.relkind, "
            "c.relrowsecurity, c.relacl), ',' order by n.nspname, c.relname)) "
            "from pg_class c join pg_namespace n on n.oid = c.relnamespace "
            "where n.nspname in ('retail', 'mcp', 'mcp_internal')"
        ).fetchone()[0]
        parts["policies"] = conn.execute(
            "select md5(string_agg(format('%s:%s:%s', polrelid::regclass, polname, "
            "pg_get_expr(polqual, polrelid)), ',' order by polrelid::regclass::text, polname)) "
            "from pg_policy"
        ).fetchone()[0]
    checksum = json.dumps(parts, sort_keys=True)
    return checksum, parts


@pytest.fixture(scope="module")
def before(served) -> Before:
    checksum, parts = retail_checksum(served.admin_url)
    return Before(checksum, parts, load_truth(served.admin_url))


# --- Running the cases. ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Observed:
    is_error: bool
    text: str
    structured: Any
    elapsed: float

    @property
    def outcome(self) -> str:
        if not self.is_error:
            return ANSWERED
        return CANCELLED if BUDGET in self.text else REFUSED


async def send(client, tool: str, arguments: dict[str, Any]) -> Observed:
    started = time.monotonic()
    try:
        result = await client.call_tool(tool, arguments)
    except Exception as error:  # a protocol-level refusal is a refusal too
        return Observed(True, f"{type(error).__name__}: {error}", None, time.monotonic() - started)
    text = "\n".join(getattr(block, "text", "") for block in result.content)
    return Observed(
        bool(result.is_error), text, result.structured_content, time.monotonic() - started
    )


async def run_cases(served) -> dict[str, Observed]:
    observed: dict[str, Observed] = {}
    limiter = anyio.Semaphore(CONCURRENT_SLOW_CALLS)
    async with mcp_client(served.url, bearer(served.keys["Seattle"])) as client:

        async def slow(case: Case) -> None:
            async with limiter:
                observed[case.case_id] = await send(client, case.tool, case.arguments)

        # The cases the budget must cancel run side by side (each timed on its own).
        async with anyio.create_task_group() as group:
            for case in CASES:
                if case.expect == CANCELLED:
                    group.start_soon(slow, case)
        for case in CASES:
            if case.expect != CANCELLED:
                observed[case.case_id] = await send(client, case.tool, case.arguments)
    return observed


@pytest.fixture(scope="module")
def observed(served, before) -> dict[str, Observed]:
    """Every case of the table, sent once through one MCP session as Seattle."""
    return asyncio.run(run_cases(served))


# --- Checking an outcome. ----------------------------------------------------------------


def ints(value: Any) -> list[int]:
    """The integers in a cell: a number, or numbers nested in arrays and objects."""
    if isinstance(value, bool) or value is None:
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, float) and value.is_integer():
        return [int(value)]
    if isinstance(value, list):
        return [number for item in value for number in ints(item)]
    if isinstance(value, dict):
        return [number for item in value.values() for number in ints(item)]
    return []


def stores_seen(structured: Any) -> set[int]:
    """The store ids in the store-id columns of a query result."""
    if not isinstance(structured, dict) or "columns" not in structured:
        return set()
    seen: set[int] = set()
    for position, column in enumerate(structured["columns"]):
        if column["name"] in STORE_COLUMNS:
            for row in structured["rows"]:
                seen.update(ints(row[position]))
    return seen


def leaks(observed: Observed, truth: Truth, *, public_stores: bool = False) -> list[str]:
    """Everything in an outcome that lies outside Seattle's view: other stores' ids in
    store-id columns, other stores' order and customer ids, other stores' customers'
    emails anywhere, and (unless the stores table itself was asked for) other stores'
    names anywhere."""
    found: list[str] = []
    blob = observed.text + "\n" + json.dumps(observed.structured, default=str)
    found += [f"email {email}" for email in sorted(set(EMAIL.findall(blob)) & truth.other_emails)]
    if not public_stores:
        found += [f"store name {name}" for name in sorted(truth.other_store_names) if name in blob]
    structured = observed.structured
    if isinstance(structured, dict) and "columns" in structured:
        if not public_stores:
            found += [
                f"store id {store}" for store in sorted(stores_seen(structured) - {SEATTLE_STORE})
            ]
        for position, column in enumerate(structured["columns"]):
            allowed = {
                "order_id": truth.seattle_order_ids,
                "customer_id": truth.seattle_customer_ids,
            }.get(column["name"])
            if allowed is None:
                continue
            for row in structured["rows"]:
                found += [
                    f"{column['name']} {number}"
                    for number in ints(row[position])
                    if number not in allowed
                ]
    return found


def problems_of(case: Case, observed: Observed, truth: Truth, budget: float) -> list[str]:
    """What is wrong with an outcome, as readable lines; empty when the case holds."""
    problems = [
        f"outside Seattle's view: {leak}"
        for leak in leaks(observed, truth, public_stores=case.public_stores)
    ]
    if "Traceback" in observed.text:
        problems.append("the text carries a stack trace")
    problems += [f"the outcome shows {text!r}" for text in case.forbid if text in observed.text]
    if observed.elapsed >= budget + 5:
        problems.append(f"took {observed.elapsed:.1f} s, past the budget of {budget:g} s + 5 s")
    if observed.outcome != case.expect:
        problems.append(f"expected {case.expect}, got {observed.outcome}: {observed.text[:500]!r}")
        return problems
    if case.expect == REFUSED and case.message:
        wanted = (case.message,) if isinstance(case.message, str) else case.message
        missing = [text for text in wanted if text not in observed.text]
        if missing:
            problems.append(f"the error does not say {missing!r}: {observed.text[:500]!r}")
    if case.expect == ANSWERED:
        structured = observed.structured or {}
        if case.rows is not None:
            rows = case.rows(truth) if callable(case.rows) else case.rows
            if structured.get("rows") != rows:
                problems.append(f"rows {structured.get('rows')!r} are not {rows!r}")
        if case.stores is not None and stores_seen(structured) != set(case.stores):
            problems.append(
                f"saw stores {sorted(stores_seen(structured))}, expected {sorted(case.stores)}"
            )
        if case.truncated is not None and structured.get("truncated") is not case.truncated:
            problems.append(f"truncated is {structured.get('truncated')!r}")
    return problems


# --- 1. The case table. ------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[case.case_id for case in CASES])
def test_attack(case: Case, observed, before, served):
    budget = served.settings.server.time_budget_seconds
    problems = problems_of(case, observed[case.case_id], before.truth, budget)
    assert not problems, (
        f"{case.family} / {case.prop} / {case.tool} {json.dumps(case.arguments)[:300]}: "
        + "; ".join(problems)
    )


# --- 2. Side channels: the line is table-level statistics. -------------------------------


async def call(served, who: str, tool: str, arguments: dict[str, Any]) -> Observed:
    async with mcp_client(served.url, bearer(served.keys[who])) as client:
        return await send(client, tool, arguments)


def keys_in(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {key for item in value.values() for key in keys_in(item)}
    if isinstance(value, list):
        return {key for item in value for key in keys_in(item)}
    return set()


def nodes_of(value: Any) -> list[dict[str, Any]]:
    """Every plan node (an object with a "Node Type") in an EXPLAIN plan."""
    if isinstance(value, dict):
        here = [value] if "Node Type" in value else []
        return here + [node for item in value.values() for node in nodes_of(item)]
    if isinstance(value, list):
        return [node for item in value for node in nodes_of(item)]
    return []


def as_instant(value: Any) -> Any:
    if isinstance(value, str) and "T" in value:
        return datetime.datetime.fromisoformat(value)
    if isinstance(value, str):
        return datetime.date.fromisoformat(value)
    return value


# The store-scoped tables, with the condition that picks Seattle's rows.
SEATTLE_ROWS = {
    "retail.customers": "primary_store_id = 1",
    "retail.orders": "store_id = 1",
    "retail.order_items": "store_id = 1",
    "retail.inventory": "store_id = 1",
}


@pytest.mark.anyio
async def test_describe_tables_values_come_from_seattles_rows_only(served, before):
    answer = await call(served, "Seattle", SCHEMAS, {"table_names": sorted(SEATTLE_ROWS)})
    assert not answer.is_error, answer.text
    assert not leaks(answer, before.truth)
    tables = {table["table_name"]: table for table in answer.structured["tables"]}
    assert set(tables) == set(SEATTLE_ROWS)
    checked = 0
    with psycopg.connect(served.admin_url) as conn:
        for name, condition in SEATTLE_ROWS.items():
            table = tables[name]
            # Acceptable: table-level statistics, the same for every caller.
            reltuples = conn.execute(
                "select reltuples::bigint from pg_class where oid = %s::regclass", (name,)
            ).fetchone()[0]
            assert table["estimated_rows"] in (reltuples, None), name
            for column, listed in table["value_ranges"].items():
                low, high = conn.execute(
                    f"select min({column}), max({column}) from {name} where {condition}"
                ).fetchone()
                assert as_instant(listed["min"]) == low, (name, column)
                assert as_instant(listed["max"]) == high, (name, column)
                checked += 1
            for column, listed in table["sample_values"].items():
                own = {
                    row[0]
                    for row in conn.execute(
                        f"select distinct {column}::text from {name} "
                        f"where {condition} and {column} is not null"
                    )
                }
                assert set(listed) == own, (name, column)
                checked += 1
        owner_range = conn.execute(
            "select min(order_date), max(order_date) from retail.orders where store_id = 1"
        ).fetchone()
    order_date = tables["retail.orders"]["value_ranges"]["order_date"]
    assert (as_instant(order_date["min"]), as_instant(order_date["max"])) == owner_range
    assert checked >= 2


@pytest.mark.anyio
async def test_list_tables_estimates_are_table_level_statistics(served):
    """The line we chose: estimated_rows is pg_class.reltuples (a whole-table figure the
    same for every caller), which is acceptable; nothing finer is shown."""
    listed = await call(served, "Seattle", "list_tables", {})
    head_office = await call(served, "head office", "list_tables", {})
    assert not listed.is_error and not head_office.is_error
    assert listed.structured["tables"] == head_office.structured["tables"]
    with psycopg.connect(served.admin_url) as conn:
        reltuples = dict(
            conn.execute(
                "select format('%I.%I', 'retail', relname), reltuples::bigint from pg_class "
                "where relnamespace = 'retail'::regnamespace and relkind = 'r'"
            ).fetchall()
        )
    for table in listed.structured["tables"]:
        assert table["estimated_rows"] in (reltuples[table["table_name"]], None)


def probing_queries(truth: Truth) -> list[str]:
    return [
        "select * from retail.orders where store_id = 2",
        f"select * from retail.customers where email = '{truth.a_bellevue_email}'",
    ]


@pytest.mark.anyio
async def test_explain_shows_a_store_manager_no_planner_estimates(served, before):
    """Without analyze, EXPLAIN's estimates for `store_id = 2` or a Bellevue customer's
    email come from statistics over every store's rows: a store manager must not get
    them. Head office, who sees every store, keeps them."""
    for sql in probing_queries(before.truth):
        seattle = await call(served, "Seattle", EXPLAIN, {"postgresql_query": sql})
        assert not seattle.is_error, seattle.text
        found = keys_in(seattle.structured["plan"]) & set(PLANNER_ESTIMATES)
        assert not found, f"Seattle's plan of {sql!r} carries {sorted(found)}"
        assert "Node Type" in keys_in(seattle.structured["plan"])
        head_office = await call(served, "head office", EXPLAIN, {"postgresql_query": sql})
        assert not head_office.is_error, head_office.text
        assert set(PLANNER_ESTIMATES) <= keys_in(head_office.structured["plan"])


@pytest.mark.anyio
async def test_explain_analyze_counts_only_seattles_rows(served, before):
    scanned = []
    for sql in probing_queries(before.truth):
        seattle = await call(served, "Seattle", EXPLAIN, {"postgresql_query": sql, "analyze": True})
        assert not seattle.is_error, seattle.text
        plan = seattle.structured["plan"]
        # Every scan of a retail table, and the plan as a whole, found no row: only
        # Seattle's rows are counted. (The policy's one-row InitPlan is Seattle's own.) The
        # orders and inventory policies put Seattle's store in the plan, so for
        # `store_id = 2` there PostgreSQL proves that no row can pass and scans nothing.
        scans = [node for node in nodes_of(plan) if "Relation Name" in node]
        assert all(node["Actual Rows"] == 0 for node in scans), (sql, scans)
        assert plan["Plan"]["Actual Rows"] == 0, sql
        removed = {key for key in keys_in(plan) if key.startswith("Rows Removed by")}
        assert not removed, (sql, removed)
        scanned += scans
    assert scanned, "no probing query's plan scanned a table: the counts above prove nothing"
    own = await call(
        served,
        "Seattle",
        EXPLAIN,
        {"postgresql_query": "select * from retail.orders where store_id = 1", "analyze": True},
    )
    assert own.structured["plan"]["Plan"]["Actual Rows"] == before.truth.seattle_orders


@pytest.mark.anyio
async def test_error_messages_never_carry_other_stores_values(served, before):
    truth = before.truth
    async with mcp_client(served.url, bearer(served.keys["Seattle"])) as client:
        # Row level security filters before the failing cast runs: no error, no rows.
        for sql in (
            "select email::integer from retail.customers where primary_store_id = 2",
            f"select email::integer from retail.customers where email = '{truth.a_bellevue_email}'",
            "select email::integer from retail.customers where primary_store_id <> 1",
            "select (c.email || o.order_id)::integer from retail.orders o "
            "join retail.customers c on c.customer_id = o.customer_id where o.store_id <> 1",
        ):
            answer = await send(client, QUERY, {"postgresql_query": sql})
            assert not answer.is_error, (sql, answer.text)
            assert answer.structured["rows"] == []
            plan = await send(client, EXPLAIN, {"postgresql_query": sql, "analyze": True})
            assert not plan.is_error, (sql, plan.text)
        # The same cast over Seattle's own rows fails, naming one of Seattle's emails.
        failed = await send(
            client, QUERY, {"postgresql_query": "select email::integer from retail.customers"}
        )
        assert failed.is_error
        named = set(EMAIL.findall(failed.text))
        assert named and named <= truth.seattle_emails, failed.text
        # Other failing expressions over Seattle's own rows: clear errors, nothing else.
        for sql, message in (
            (
                "select store_name::integer from retail.stores where store_id = 1",
                "invalid input syntax for type integer",
            ),
            ("select 1 / 0 from retail.orders where store_id = 1", "division by zero"),
        ):
            answer = await send(client, QUERY, {"postgresql_query": sql})
            assert answer.is_error and message in answer.text, (sql, answer.text)
            assert "Traceback" not in answer.text
            assert not leaks(answer, truth), (sql, answer.text)


@pytest.mark.anyio
async def test_a_store_manager_cannot_cancel_another_callers_query(served):
    """Dropping to the login role (set_config('role', 'none', true)) must not let a query
    signal the pooled backends that serve other callers."""
    victim_query = {
        "postgresql_query": "select pg_sleep(2) is null as slept, count(*) as orders "
        "from retail.orders"
    }
    attack = {
        "postgresql_query": "select set_config('role', 'none', true) as reset_to, pid, "
        "pg_cancel_backend(pid) as cancelled from pg_stat_activity "
        "where datname = current_database() and usename = session_user "
        "and pid <> pg_backend_pid()"
    }
    outcome: dict[str, Observed] = {}
    async with (
        mcp_client(served.url, bearer(served.keys["Redmond"])) as redmond,
        mcp_client(served.url, bearer(served.keys["Seattle"])) as seattle,
    ):

        async def victim() -> None:
            outcome["victim"] = await send(redmond, QUERY, victim_query)

        async with anyio.create_task_group() as group:
            group.start_soon(victim)
            await anyio.sleep(0.8)
            outcome["attack"] = await send(seattle, QUERY, attack)
    attacked = outcome["attack"]
    cancelled = [] if attacked.is_error else [row for row in attacked.structured["rows"] if row[2]]
    assert not outcome["victim"].is_error, (
        f"Redmond's query was cancelled by Seattle's ({outcome['victim'].text!r}; "
        f"Seattle's answer: {attacked.text!r})"
    )
    assert not cancelled, f"Seattle's query signalled other backends: {cancelled}"


@pytest.mark.anyio
async def test_a_nul_byte_in_a_query_does_not_stop_the_audit_trail(served):
    """A query text with a NUL byte (refused: PostgreSQL text cannot hold one) must not keep
    the calls after it out of the audit trail."""
    marker = f"audit-marker-{uuid.uuid4().hex}"
    async with mcp_client(served.url, bearer(served.keys["Seattle"])) as client:
        refused = await send(client, QUERY, {"postgresql_query": "select 1\x00 as nul"})
        assert refused.is_error and "NUL" in refused.text
        answered = await send(client, QUERY, {"postgresql_query": f"select '{marker}' as marker"})
        assert not answered.is_error, answered.text
    deadline = time.monotonic() + 8
    while True:
        with psycopg.connect(served.admin_url) as conn:
            recorded = conn.execute(
                "select count(*) from mcp_internal.audit_log where query_text like %s",
                (f"%{marker}%",),
            ).fetchone()[0]
        if recorded or time.monotonic() > deadline:
            break
        await anyio.sleep(0.25)
    assert recorded == 1, "the call after a NUL byte never reached the audit trail"


# --- 3. After every attack. ---------------------------------------------------------------

STATE_QUERY = """
select
    pg_backend_pid() as pid,
    (select count(*) from pg_prepared_statements) as prepared_statements,
    (select count(*) from pg_listening_channels()) as listening,
    (select count(*) from pg_locks where locktype = 'advisory' and pid = pg_backend_pid()) as advisory_locks,
    (select count(*) from pg_cursors where is_holdable) as holdable_cursors,
    current_setting('work_mem') as work_mem,
    current_setting('statement_timeout') as statement_timeout,
    current_setting('lock_timeout') as lock_timeout,
    current_setting('idle_in_transaction_session_timeout') as idle_timeout,
    current_setting('search_path') as search_path,
    current_setting('default_transaction_read_only') as default_read_only,
    current_setting('transaction_read_only') as read_only,
    current_setting('row_security') as row_security,
    coalesce(current_setting('mcp.principal', true), '') as mcp_principal,
    coalesce(current_setting('mcp.rls_user_id', true), '') as mcp_rls_user_id,
    coalesce(current_setting('app.current_rls_user_id', true), '') as app_rls_user_id,
    coalesce(current_setting('rls.user_id', true), '') as rls_user_id,
    mcp.current_principal()::text as principal,
    current_user::text as current_role,
    session_user::text as session_role,
    pg_sleep(0.25) is null as slept
"""


def fresh_state(served) -> list[Any]:
    """STATE_QUERY as a tool call would run it, on a brand-new connection of Seattle's role."""
    conn = psycopg.connect(database.principal_url(served.settings, SEATTLE), autocommit=True)
    with conn, conn.transaction(force_rollback=True):
        conn.execute("set transaction read only")
        answer = conn.execute("select mcp.run_query(%s, 10)", (STATE_QUERY,)).fetchone()[0]
    return answer["rows"][0][1:]


@pytest.mark.anyio
async def test_zz_no_pooled_connection_carries_state(served):
    expected = fresh_state(served)
    rows: list[list[Any]] = []
    async with mcp_client(served.url, bearer(served.keys["Seattle"])) as client:
        for _wave in range(3):
            answers: list[Observed] = []

            async def one(answers: list[Observed] = answers) -> None:
                answers.append(await send(client, QUERY, {"postgresql_query": STATE_QUERY}))

            async with anyio.create_task_group() as group:
                for _ in range(10):
                    group.start_soon(one)
            for answer in answers:
                assert not answer.is_error, answer.text
                rows.append(answer.structured["rows"][0])
    assert len(rows) == 30
    stale = [row for row in rows if row[1:] != expected]
    assert not stale, f"pooled connections carry state: {stale} (fresh: {expected})"
    assert len({row[0] for row in rows}) >= 2, "the calls did not spread over the pool"
    with psycopg.connect(served.admin_url) as conn:
        advisory, idle_in_transaction = conn.execute(
            """
            with callers as (select role_name from mcp_internal.principal_roles)
            select
                (select count(*) from pg_locks l join pg_stat_activity a using (pid)
                 where l.locktype = 'advisory' and a.usename in (select * from callers)
                   and a.datname = current_database()),
                (select count(*) from pg_stat_activity
                 where usename in (select * from callers) and datname = current_database()
                   and state like 'idle in transaction%%')
            """
        ).fetchone()
    assert advisory == 0
    assert idle_in_transaction == 0


def test_zz_retail_is_byte_for_byte_unchanged(served, before, observed):
    checksum, parts = retail_checksum(served.admin_url)
    changed = {
        name: (before.parts.get(name), value)
        for name, value in parts.items()
        if before.parts.get(name) != value
    }
    assert not changed, f"the suite wrote to retail: {changed}"
    assert checksum == before.checksum


def test_zz_summary(served, before, observed):
    """Counts, asserted: zero cross-tenant rows, zero writes, zero escapes past the budget;
    and the table of families and outcomes (visible with pytest -s)."""
    budget = served.settings.server.time_budget_seconds
    truth = before.truth
    table: dict[str, collections.Counter[str]] = {
        family: collections.Counter() for family in FAMILIES
    }
    cross_tenant: list[str] = []
    escapes: list[str] = []
    failing: list[str] = []
    for case in CASES:
        seen = observed[case.case_id]
        counts = table[case.family]
        counts["cases"] += 1
        counts[seen.outcome] += 1
        if problems_of(case, seen, truth, budget):
            counts["not as expected"] += 1
            failing.append(case.case_id)
        cross_tenant += [
            f"{case.case_id}: {leak}"
            for leak in leaks(seen, truth, public_stores=case.public_stores)
        ]
        if seen.elapsed >= budget + 5 or (case.expect == CANCELLED and seen.outcome == ANSWERED):
            escapes.append(f"{case.case_id}: {seen.elapsed:.1f} s, {seen.outcome}")
    writes = 0 if retail_checksum(served.admin_url)[0] == before.checksum else 1

    columns = ["cases", REFUSED, ANSWERED, CANCELLED, "not as expected"]
    print()
    print(f"{'family':<24}" + "".join(f"{name:>17}" for name in columns))
    for family in FAMILIES:
        print(f"{family:<24}" + "".join(f"{table[family][name]:>17}" for name in columns))
    total = sum((table[family] for family in FAMILIES), collections.Counter())
    print(f"{'total':<24}" + "".join(f"{total[name]:>17}" for name in columns))
    print(
        f"cross-tenant values: {len(cross_tenant)}, writes: {writes}, "
        f"escapes past the budget: {len(escapes)}, cases not as expected: {failing}"
    )

    assert total["cases"] >= 160
    assert cross_tenant == []
    assert writes == 0
    assert escapes == []
