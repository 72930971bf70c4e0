"""Tool calls served by a streaming hot standby (DESIGN.md property 11; issue 10).

A primary and its hot standby on loopback (standby.py), a server whose tool calls go to the
standby (`read_urls`) and, for comparison, one whose calls go to the primary. In file order
(tests run in it):

0. the attack statements of tests/sql/09_attacks.sql, read from the file and run as
   Seattle's login role connected straight to the standby (pgTAP itself needs temporary
   tables, which a standby refuses), and the same on the primary;
1. calls are served by the standby (pg_is_in_recovery() and the port on the connection
   that served the call, and the principals' backends in the standby's
   pg_stat_activity), Seattle sees only store 1, head office every store, and the same
   questions get the same answers from both servers;
2. every case of attack_cases.py over HTTP, with calls on the standby;
3. the concurrent-caller isolation cases (isolation_cases.py) with calls on the standby,
   then proof from the primary's log that no principal's statement ran there;
4. failover: stopping the standby while calls are in flight fails calls only with clear
   errors, none past the budget, and the calls go to the primary within seconds; the
   standby started again takes new connections. It stops the standby, so it comes last.

A case that fails on the primary in the same way is not the standby's to answer for (xfail,
saying what the primary answered); a case a standby refuses only because it refuses writes
(an xid, NOTIFY) must still be a refusal, and is listed in the summaries (pytest -s)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import difflib
import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import psycopg
import pytest
from psycopg.conninfo import make_conninfo

from attack_cases import ANSWERED, BUDGET, CASES, QUERY, REFUSED, SCHEMAS, SEARCH, Case
from conftest import (
    HEAD_OFFICE,
    REDMOND,
    SEATTLE,
    Served,
    bearer,
    mcp_client,
    run_server,
    server_settings,
)
from standby import StandbyPair, standby_pair  # noqa: F401  (a fixture)
from test_attacks import (
    CONCURRENT_SLOW_CALLS,
    STATE_QUERY,
    Observed,
    Truth,
    leaks,
    load_truth,
    problems_of,
    retail_checksum,
    run_cases,
    send,
)
from zava_mcp.identity import create_key

BELLEVUE = "6ba7b810-9dad-11d1-80b4-00c04fd430c8"
BUDGET_SECONDS = 3.0
KEYED = {
    "head office": HEAD_OFFICE,
    "Seattle": SEATTLE,
    "Redmond": REDMOND,
    "Bellevue": BELLEVUE,  # first used after the failover: a pool opened then
    "unknown": "11111111-1111-1111-1111-111111111111",
}
SQL_ATTACKS = Path(__file__).resolve().parents[1] / "sql" / "09_attacks.sql"
# What a hot standby says when it refuses what a primary allows (a write, an xid).
RECOVERY_REFUSAL = re.compile(r"during recovery|hot standby|recovery is in progress", re.I)
# The errors a call may fail with while its standby goes away (calls.py).
CONNECTION_LOST = "the database connection was lost"
NO_CONNECTION = "no database connection was free"
WHERE = "select pg_is_in_recovery() as standby, inet_server_port() as port"


# --- Servers on the pair. ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def keys(standby_pair: StandbyPair) -> dict[str, str]:  # noqa: F811
    """API keys, on the primary (where the server checks them)."""
    return {
        who: create_key(standby_pair.primary_url, uuid.UUID(principal), f"standby: {who}")[1]
        for who, principal in KEYED.items()
    }


@contextlib.contextmanager
def serve(
    pair: StandbyPair, provider, keys: dict[str, str], name: str, **changes: Any
) -> Iterator[Served]:
    """A server on the pair's database; its connections carry application_name `name`
    (the server passes the URL's on to principals' connections), so that each server's
    backends can be told apart. A principal's pool holds the attack suite's concurrent slow
    calls (test_attacks.CONCURRENT_SLOW_CALLS, 7): with fewer connections than that, the
    calls beyond the pool wait for one until the budget runs out, and fail with "no
    database connection was free" instead of being cancelled."""
    settings = dataclasses.replace(
        pair.settings, database_url=make_conninfo(pair.primary_url, application_name=name)
    )
    pool = max(settings.server.principal_pool_max, CONCURRENT_SLOW_CALLS + 1)
    settings = server_settings(
        settings,
        time_budget_seconds=BUDGET_SECONDS,
        principal_pool_max=pool,
        connections_max=max(settings.server.connections_max, 5 * pool),
        **changes,
    )
    with run_server(settings, provider) as base_url:
        yield Served(f"{base_url}/mcp", base_url, keys, pair.primary_url, settings)


ON_STANDBY = "zava-mcp-on-standby"
ON_PRIMARY = "zava-mcp-on-primary"


@pytest.fixture(scope="module")
def primary_logs_statements(standby_pair) -> Iterator[None]:  # noqa: F811
    """The primary logs every statement (with its user and application), so that a test can
    prove that no principal's statement of the server on the standby ran there."""
    with psycopg.connect(standby_pair.primary_url, autocommit=True) as conn:
        conn.execute("alter system set log_statement = 'all'")
        conn.execute("select pg_reload_conf()")
    yield
    with psycopg.connect(standby_pair.primary_url, autocommit=True) as conn:
        conn.execute("alter system reset log_statement")
        conn.execute("select pg_reload_conf()")


@pytest.fixture(scope="module")
def on_standby(standby_pair, local_provider, keys, primary_logs_statements) -> Iterator[Served]:  # noqa: F811
    """A server whose tool calls go to the standby (the primary only when it is down)."""
    pair: StandbyPair = standby_pair
    with serve(pair, local_provider, keys, ON_STANDBY, read_urls=(pair.standby_url,)) as served:
        yield served


@pytest.fixture(scope="module")
def on_primary(standby_pair, local_provider, keys) -> Iterator[Served]:  # noqa: F811
    """The same server with no read URLs: its tool calls go to the primary."""
    with serve(standby_pair, local_provider, keys, ON_PRIMARY) as served:
        yield served


async def ask(served: Served, who: str, tool: str, arguments: dict[str, Any]) -> Observed:
    async with mcp_client(served.url, bearer(served.keys[who])) as client:
        return await send(client, tool, arguments)


def sql(query: str, **options: Any) -> dict[str, Any]:
    return {"postgresql_query": query, **options}


def principal_roles(url: str) -> dict[str, str]:
    """principal -> its login role, read as the superuser."""
    with psycopg.connect(url) as conn:
        rows = conn.execute("select rls_user_id::text, role_name from mcp_internal.principal_roles")
        return dict(rows.fetchall())


def backends(url: str, application: str = ON_STANDBY) -> collections.Counter[str]:
    """The client backends of the zava database on a server that one of our servers
    opened (by application_name), by login role."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select usename from pg_stat_activity where datname = current_database() "
            "and backend_type = 'client backend' and application_name = %s",
            (application,),
        ).fetchall()
    return collections.Counter(row[0] for row in rows)


# --- 0. The attack statements of tests/sql/09_attacks.sql, on the standby. ------------------
#
# pgTAP keeps its counters in temporary tables, which a standby cannot have; so the file's
# assertions are read from it and evaluated here, each in a read-only transaction of its
# own, on a connection that logged in as Seattle's role (as a tool call does). What the
# file computes with temporary objects is computed here instead: the owner's view (its
# `owner_view` select, as the superuser), its zero-argument SQL helpers (as the superuser:
# they are the owner's view too), and its helpers pg_temp.attempt and pg_temp.stores_seen
# (in Python, as their SQL says). Every assertion runs on the standby and on the primary,
# before any server of this module has opened a connection: the file expects Seattle's role
# to have no other backend (a server's pooled connections of Seattle's role are Seattle's
# own, which its queries may see).

_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_OWNER_VIEW = re.compile(r"\(\s*select\s+(\w+)\s+from\s+owner_view\s*\)", re.I)
_HELPER = re.compile(r"pg_temp\.(\w+)\s*\(", re.I)
_SQL_FUNCTION = re.compile(
    r"create\s+function\s+pg_temp\.(\w+)\(\)\s+returns\s+(\w+)\s+language\s+sql\b.*?"
    r"\bas\s+(\$\w*\$)(.*)\3",
    re.I | re.S,
)


def _quoted_end(text: str, i: int) -> int | None:
    """Where a string, quoted identifier, dollar-quoted string or comment that starts at i
    ends (the index after it); None when none starts there."""
    if text.startswith("--", i):
        end = text.find("\n", i)
        return len(text) if end < 0 else end + 1
    if text.startswith("/*", i):
        depth, j = 0, i
        while j < len(text):
            if text.startswith("/*", j):
                depth, j = depth + 1, j + 2
            elif text.startswith("*/", j):
                depth, j = depth - 1, j + 2
                if depth == 0:
                    return j
            else:
                j += 1
        return len(text)
    if text[i] in "'\"":
        quote, j = text[i], i + 1
        while True:
            k = text.find(quote, j)
            if k < 0:
                return len(text)
            if text.startswith(quote * 2, k):
                j = k + 2
                continue
            return k + 1
    if text[i] == "$" and not (i and (text[i - 1].isalnum() or text[i - 1] == "_")):
        match = _DOLLAR.match(text, i)
        if match:
            end = text.find(match.group(0), match.end())
            return len(text) if end < 0 else end + len(match.group(0))
    return None


def split_statements(text: str) -> list[str]:
    """Top-level statements, ended by ';' or by a psql meta-command (\\gexec)."""
    statements, start, i = [], 0, 0
    while i < len(text):
        end = _quoted_end(text, i)
        if end is not None:
            i = end
        elif text[i] == ";":
            statements.append(text[start:i])
            i = start = i + 1
        elif text[i] == "\\":
            statements.append(text[start:i])
            line_end = text.find("\n", i)
            i = start = len(text) if line_end < 0 else line_end + 1
        else:
            i += 1
    statements.append(text[start:])
    return [strip_comments(s) for s in statements if strip_comments(s)]


def strip_comments(text: str) -> str:
    out, i = [], 0
    while i < len(text):
        end = _quoted_end(text, i)
        if end is not None and text.startswith(("--", "/*"), i):
            out.append(" ")
            i = end
        elif end is not None:
            out.append(text[i:end])
            i = end
        else:
            out.append(text[i])
            i += 1
    return "".join(out).strip()


def closing_paren(text: str, opening: int) -> int:
    depth, i = 0, opening
    while i < len(text):
        end = _quoted_end(text, i)
        if end is not None:
            i = end
            continue
        if text[i] in "([":
            depth += 1
        elif text[i] in ")]":
            depth -= 1
            if depth == 0:
                return i
        i += 1
    raise ValueError(f"no closing parenthesis in {text[:200]!r}")


def split_arguments(text: str) -> list[str]:
    arguments, depth, start, i = [], 0, 0, 0
    while i < len(text):
        end = _quoted_end(text, i)
        if end is not None:
            i = end
            continue
        if text[i] in "([":
            depth += 1
        elif text[i] in ")]":
            depth -= 1
        elif text[i] == "," and depth == 0:
            arguments.append(text[start:i].strip())
            start = i + 1
        i += 1
    arguments.append(text[start:].strip())
    return [argument for argument in arguments if argument]


def as_call(expression: str) -> tuple[str, list[str]] | None:
    """(name, arguments) when the expression is exactly one function call."""
    match = re.match(r"\s*([A-Za-z_][\w.]*)\s*\(", expression)
    if not match:
        return None
    opening = match.end() - 1
    closing = closing_paren(expression, opening)
    if expression[closing + 1 :].strip():
        return None
    return match.group(1).lower(), split_arguments(expression[opening + 1 : closing])


def outside_quotes(text: str, pattern: re.Pattern[str]) -> list[re.Match[str]]:
    quoted: list[tuple[int, int]] = []
    i = 0
    while i < len(text):
        end = _quoted_end(text, i)
        if end is not None:
            quoted.append((i, end))
            i = end
        else:
            i += 1
    return [
        match
        for match in pattern.finditer(text)
        if not any(start <= match.start() < end for start, end in quoted)
    ]


def literal(value: Any, type_name: str = "text") -> str:
    if value is None:
        return f"null::{type_name}"
    return "'" + str(value).replace("'", "''") + "'::" + type_name


ASSERTIONS = {
    "is",
    "isnt",
    "ok",
    "throws_ok",
    "lives_ok",
    "cmp_ok",
    "results_eq",
    "collect_tap",
}
# Statements of the file that only set up pgTAP or the session (handled here by logging
# in as Seattle's role, in a read-only transaction).
SETUP = re.compile(
    r"^(begin|rollback|commit|grant\b|create\s+(temp|function)|select\s+plan\(|"
    r"select\s+\*\s+from\s+finish\(|select\s+set_config\('transaction_read_only')",
    re.I,
)


@dataclasses.dataclass(frozen=True)
class SqlCase:
    case_id: str
    statement: str  # the assertion, as the file has it
    call: str  # the assertion function
    arguments: tuple[str, ...]
    as_principal: bool  # after the file switched to Seattle's role (else the superuser)
    statement_timeout: str | None  # the file's SET LOCAL statement_timeout, if any

    @property
    def description(self) -> str:
        """The assertion's description (its last argument, when that is a string)."""
        last = self.arguments[-1] if self.arguments else ""
        if re.fullmatch(r"'(?:[^']|'')*'", last):
            return last[1:-1].replace("''", "'")
        return self.statement[:120]


@dataclasses.dataclass(frozen=True)
class SqlFile:
    cases: list[SqlCase]
    helpers: dict[str, str]  # zero-argument SQL function -> its body
    owner_view: str | None  # the select behind the owner_view temp table
    unknown: list[str]  # statements neither setup nor assertions


def read_sql_attacks(path: Path = SQL_ATTACKS) -> SqlFile:
    cases: list[SqlCase] = []
    helpers: dict[str, str] = {}
    owner_view = None
    unknown: list[str] = []
    as_principal = False
    timeout: str | None = None
    for statement in split_statements(path.read_text()):
        lowered = statement.lower()
        function = _SQL_FUNCTION.match(statement)
        if function:
            helpers[function.group(1).lower()] = function.group(4).strip()
            continue
        view = re.match(r"create\s+temp\s+table\s+owner_view\s+as\s+(.*)", statement, re.I | re.S)
        if view:
            owner_view = view.group(1)
            continue
        if "session authorization" in lowered:
            as_principal = not lowered.startswith("reset")
            continue
        setting = re.match(r"set\s+local\s+statement_timeout\s*(?:=|to)\s*(.+)", statement, re.I)
        if setting:
            timeout = setting.group(1).strip()
            continue
        if SETUP.match(statement):
            continue
        call = as_call(statement[len("select") :]) if lowered.startswith("select") else None
        if call and call[0] in ASSERTIONS:
            cases.append(
                SqlCase(
                    f"sql-{len(cases) + 1:03d}",
                    statement,
                    call[0],
                    tuple(call[1]),
                    as_principal,
                    timeout,
                )
            )
        else:
            unknown.append(statement[:200])
    return SqlFile(cases, helpers, owner_view, unknown)


SQL_FILE = read_sql_attacks()


class Unsupported(Exception):
    """The assertion uses something of the file this runner does not know."""


@dataclasses.dataclass(frozen=True)
class Verdict:
    holds: bool
    detail: str

    @property
    def refused_by_recovery(self) -> bool:
        return bool(RECOVERY_REFUSAL.search(self.detail))


def error_text(error: psycopg.Error) -> str:
    return f"{error.sqlstate}: {error.diag.message_primary or error}"


class SqlRunner:
    """Evaluates the file's assertions on one server (the standby or the primary)."""

    def __init__(self, server_url: str, role: str, sql_file: SqlFile):
        self.sql_file = sql_file
        self.superuser = psycopg.connect(server_url, autocommit=True)
        self.principal = psycopg.connect(make_conninfo(server_url, user=role), autocommit=True)
        self.owner: dict[str, str] = {}
        if sql_file.owner_view:
            self.owner = self._owner_view(sql_file.owner_view)

    def close(self) -> None:
        self.superuser.close()
        self.principal.close()

    def _as_superuser(self, query: str) -> tuple[Any, str]:
        self.superuser.execute("begin read only")
        try:
            row = self.superuser.execute(
                f"select v::text, pg_typeof(v)::text from (select ({query}) as v) as x"
            ).fetchone()
        finally:
            self.superuser.execute("rollback")
        assert row is not None
        return row[0], row[1]

    def _owner_view(self, select: str) -> dict[str, str]:
        """The owner_view's one row, as typed literals by column."""
        select = self._inline_helpers(select)
        self.superuser.execute("begin read only")
        try:
            cursor = self.superuser.execute(f"select * from ({select}) as v limit 0")
            names = [column.name for column in cursor.description or []]
            columns = ", ".join(f"v.{name}::text, pg_typeof(v.{name})::text" for name in names)
            row = self.superuser.execute(f"select {columns} from ({select}) as v").fetchone()
        finally:
            self.superuser.execute("rollback")
        assert row is not None, "the owner's view has no row"
        return {
            name: literal(row[2 * position], row[2 * position + 1])
            for position, name in enumerate(names)
        }

    def _inline_helpers(self, expression: str) -> str:
        """Zero-argument SQL helpers (the owner's view), evaluated as the superuser."""
        for match in reversed(outside_quotes(expression, _HELPER)):
            name = match.group(1).lower()
            closing = closing_paren(expression, match.end() - 1)
            if name in self.sql_file.helpers and not expression[match.end() : closing].strip():
                value, type_name = self._as_superuser(self.sql_file.helpers[name])
                expression = (
                    expression[: match.start()]
                    + literal(value, type_name)
                    + expression[closing + 1 :]
                )
        return expression

    def prepare(self, expression: str) -> str:
        """The expression with the file's temporary objects replaced by their values."""
        for match in reversed(outside_quotes(expression, _OWNER_VIEW)):
            column = match.group(1)
            if column not in self.owner:
                raise Unsupported(f"owner_view has no column {column}")
            expression = (
                expression[: match.start()] + self.owner[column] + expression[match.end() :]
            )
        expression = self._inline_helpers(expression)
        for match in reversed(outside_quotes(expression, _HELPER)):
            name = match.group(1).lower()
            closing = closing_paren(expression, match.end() - 1)
            arguments = split_arguments(expression[match.end() : closing])
            if name == "attempt" and len(arguments) == 1:
                value = literal(json.dumps(self.attempt(self.text_of(arguments[0]))), "jsonb")
            elif name == "stores_seen" and len(arguments) == 1:
                value = literal(self.stores_seen(self.text_of(arguments[0])), "text")
            else:
                raise Unsupported(f"pg_temp.{name} with {len(arguments)} arguments")
            expression = expression[: match.start()] + value + expression[closing + 1 :]
        return expression

    def text_of(self, expression: str) -> str:
        """The value of an expression (a query text, a message) in the current session."""
        row = self.principal.execute(f"select ({self.prepare(expression)})::text").fetchone()
        assert row is not None and row[0] is not None, expression
        return row[0]

    def attempt(self, call: str) -> dict[str, Any]:
        """pg_temp.attempt: the call's result or error, with the role and principal it left
        behind, all undone."""
        conn = self.principal
        conn.execute("savepoint attempt_outer")
        try:
            conn.execute("savepoint attempt_inner")
            try:
                row = conn.execute(call).fetchone()
                outcome: dict[str, Any] = {"returned": row[0] if row else None}
            except psycopg.Error as error:
                conn.execute("rollback to savepoint attempt_inner")
                outcome = {"error": error_text(error)}
            after = conn.execute(
                "select current_user::text, mcp.current_principal()::text"
            ).fetchone()
            assert after is not None
            outcome.update(role_after=after[0], principal_after=after[1])
            return outcome
        finally:
            conn.execute("rollback to savepoint attempt_outer")

    def stores_seen(self, query: str) -> str:
        """pg_temp.stores_seen: the sorted store ids of the query's `stores` column, as a
        json array, or its error."""
        outcome = self.attempt(f"select mcp.run_query({literal(query)})")
        if "error" in outcome:
            return outcome["error"]
        returned = outcome["returned"] or {}
        columns = [column.get("name") for column in returned.get("columns") or []]
        seen: set[Any] = set()
        for position, name in enumerate(columns):
            if name == "stores":
                for row in returned.get("rows") or []:
                    seen.update(row[position] or [])
        return json.dumps(sorted(seen))

    def raised(self, query: str) -> psycopg.Error | None:
        self.principal.execute("savepoint raised")
        try:
            self.principal.execute(query)
        except psycopg.Error as error:
            self.principal.execute("rollback to savepoint raised")
            return error
        self.principal.execute("release savepoint raised")
        return None

    def rows_of(self, query: str) -> list[tuple[Any, ...]]:
        return self.principal.execute(query).fetchall()

    def judge(self, name: str, arguments: list[str]) -> Verdict:
        if name in ("is", "isnt"):
            have, want = (self.prepare(argument) for argument in arguments[:2])
            operator = "is not distinct from" if name == "is" else "is distinct from"
            row = self.principal.execute(
                f"select h {operator} w, h::text, w::text "
                f"from (select ({have}) as h, ({want}) as w) as x"
            ).fetchone()
            assert row is not None
            return Verdict(bool(row[0]), f"have {row[1]!r}, want {row[2]!r}")
        if name == "ok":
            row = self.principal.execute(f"select ({self.prepare(arguments[0])})").fetchone()
            return Verdict(bool(row and row[0]), f"got {row!r}")
        if name == "cmp_ok":
            operator = self.text_of(arguments[1])
            have, want = self.prepare(arguments[0]), self.prepare(arguments[2])
            row = self.principal.execute(
                f"select h {operator} w, h::text, w::text from (select ({have}) as h, ({want}) as w) x"
            ).fetchone()
            assert row is not None
            return Verdict(bool(row[0]), f"{row[1]} {operator} {row[2]}")
        if name == "throws_ok":
            query = self.text_of(arguments[0])
            code = message = None
            rest = [self.text_of(argument) for argument in arguments[1:]]
            if rest and re.fullmatch(r"[0-9A-Z]{5}", rest[0]):
                code, rest = rest[0], rest[1:]
            if len(rest) >= 2 or (code is None and rest):
                message = rest[0]
            error = self.raised(query)
            if error is None:
                return Verdict(False, "no error")
            holds = (code is None or error.sqlstate == code) and (
                message is None or error.diag.message_primary == message
            )
            return Verdict(holds, f"raised {error_text(error)!r}, want {code}: {message!r}")
        if name == "lives_ok":
            error = self.raised(self.text_of(arguments[0]))
            return Verdict(
                error is None, "lives" if error is None else f"raised {error_text(error)!r}"
            )
        if name == "results_eq":
            have, want = (
                self.rows_of(self.text_of(arguments[0])),
                self.rows_of(self.text_of(arguments[1])),
            )
            return Verdict(have == want, f"{len(have)} rows, want {len(want)}")
        if name == "collect_tap":
            verdicts = []
            for argument in arguments:
                call = as_call(argument)
                if call is None or call[0] not in ASSERTIONS:
                    raise Unsupported(f"collect_tap of {argument[:80]!r}")
                verdicts.append(self.judge(*call))
            return Verdict(all(v.holds for v in verdicts), "; ".join(v.detail for v in verdicts))
        raise Unsupported(name)

    def run(self, case: SqlCase) -> Verdict:
        """One assertion in a read-only transaction of its own, as the file would have it."""
        conn = self.principal if case.as_principal else self.superuser
        if not case.as_principal:
            # Only the file's closing checks run as the superuser: the owner's view.
            self.principal, saved = self.superuser, self.principal
        try:
            conn.execute("begin read only")
            # The file's statement_timeout, or a bound where it sets none (or 0).
            timeout = case.statement_timeout
            if timeout in (None, "0", "'0'"):
                timeout = "'20s'"
            conn.execute(f"set local statement_timeout = {timeout}")
            try:
                return self.judge(case.call, list(case.arguments))
            except psycopg.Error as error:
                return Verdict(False, f"the assertion itself failed: {error_text(error)}")
            finally:
                conn.execute("rollback")
        finally:
            if not case.as_principal:
                self.principal = saved


def run_sql_file(server_url: str, role: str) -> dict[str, Verdict]:
    runner = SqlRunner(server_url, role, SQL_FILE)
    try:
        verdicts = {}
        for case in SQL_FILE.cases:
            try:
                verdicts[case.case_id] = runner.run(case)
            except Unsupported as error:
                verdicts[case.case_id] = Verdict(False, f"unsupported: {error}")
        return verdicts
    finally:
        runner.close()


@dataclasses.dataclass
class SqlRun:
    standby: dict[str, Verdict]
    primary: dict[str, Verdict]
    standby_only: dict[str, str] = dataclasses.field(default_factory=dict)
    as_on_the_primary: dict[str, str] = dataclasses.field(default_factory=dict)


@pytest.fixture(scope="module")
def sql_run(standby_pair) -> SqlRun:  # noqa: F811
    pair: StandbyPair = standby_pair
    role = principal_roles(pair.primary_url)[SEATTLE]
    return SqlRun(run_sql_file(pair.standby_url, role), run_sql_file(pair.primary_url, role))


def test_the_sql_attack_file_was_read():
    """Every statement of 09_attacks.sql is setup or an assertion this module runs."""
    assert len(SQL_FILE.cases) >= 100, len(SQL_FILE.cases)
    assert SQL_FILE.owner_view, "no owner_view in the file"
    assert not SQL_FILE.unknown, (
        f"statements of {SQL_ATTACKS.name} not understood: {SQL_FILE.unknown}"
    )


@pytest.mark.parametrize("case", SQL_FILE.cases, ids=[case.case_id for case in SQL_FILE.cases])
def test_sql_attack_on_the_standby(case: SqlCase, sql_run: SqlRun):
    standby = sql_run.standby[case.case_id]
    if standby.holds:
        return
    primary = sql_run.primary[case.case_id]
    described = f"{SQL_ATTACKS.name} {case.case_id} ({case.description}): {standby.detail}"
    if primary.holds and standby.refused_by_recovery:
        sql_run.standby_only[case.case_id] = f"{case.description}: {standby.detail}"
        return
    if not primary.holds and primary.detail == standby.detail:
        sql_run.as_on_the_primary[case.case_id] = described
        pytest.xfail(f"the primary fails it the same way, so the file is at odds: {described}")
    pytest.fail(f"{described} (on the primary: {primary.detail})")


def test_sql_attack_summary(sql_run: SqlRun):
    holds = sum(verdict.holds for verdict in sql_run.standby.values())
    print(
        f"\n{SQL_ATTACKS.name} on the standby: {len(SQL_FILE.cases)} assertions, {holds} hold; "
        f"refused by the standby only: {sql_run.standby_only}; "
        f"at odds with the primary too: {sql_run.as_on_the_primary}"
    )
    assert len(sql_run.standby) == len(SQL_FILE.cases)


# --- 1. Calls go to the standby, and answer as the primary would. -----------------------------


@pytest.mark.anyio
async def test_calls_are_served_by_the_standby(on_standby, standby_pair):  # noqa: F811
    pair: StandbyPair = standby_pair
    roles = principal_roles(pair.primary_url)
    for who in ("Seattle", "Redmond", "head office"):
        for tool, arguments in (
            (QUERY, sql(f"{WHERE}, session_user::text as login")),
            (QUERY, sql(f"{WHERE}, count(*) as orders from retail.orders")),
        ):
            answer = await ask(on_standby, who, tool, arguments)
            assert not answer.is_error, answer.text
            names = [column["name"] for column in answer.structured["columns"]]
            row = dict(zip(names, answer.structured["rows"][0], strict=True))
            assert row["standby"] is True, f"{who}'s call was not served by a standby: {row}"
            assert row["port"] == pair.standby.port, row
            if "login" in row:
                assert row["login"] == roles[KEYED[who]], row
    on_the_standby = backends(pair.standby_url)
    on_the_primary = backends(pair.primary_url)
    print(f"\nthe pair's setup, in seconds: {pair.timings}")
    print(
        f"\nbackends on the standby: {dict(on_the_standby)}; on the primary: {dict(on_the_primary)}"
    )
    for who in ("Seattle", "Redmond", "head office"):
        assert on_the_standby[roles[KEYED[who]]] >= 1, (who, on_the_standby)
    principals_on_primary = {role for role in on_the_primary if role in roles.values()}
    assert not principals_on_primary, f"principals' calls reached the primary: {on_the_primary}"
    assert on_the_primary[on_standby.settings.login_role] >= 1  # keys, audit: the primary


STORES = "select array_agg(distinct store_id order by store_id) as stores from retail.orders"


@pytest.mark.anyio
async def test_each_principal_sees_its_own_rows_on_the_standby(on_standby, standby_pair):  # noqa: F811
    with psycopg.connect(standby_pair.primary_url) as conn:
        every_store = conn.execute(
            "select array_agg(distinct store_id order by store_id) from retail.orders"
        ).fetchone()[0]
        redmond = conn.execute(
            "select store_id from retail.stores where rls_user_id = %s", (REDMOND,)
        ).fetchone()[0]
    assert len(every_store) >= 8
    for who, expected in (
        ("Seattle", [1]),
        ("Redmond", [redmond]),
        ("head office", every_store),
    ):
        answer = await ask(on_standby, who, QUERY, sql(f"{WHERE}, ({STORES}) as stores"))
        assert not answer.is_error, answer.text
        standby, _port, stores = answer.structured["rows"][0]
        assert standby is True
        assert stores == expected, (who, stores)
    unknown = await ask(on_standby, "unknown", QUERY, sql(STORES))
    assert unknown.is_error or unknown.structured["rows"] in ([[None]], []), unknown.text


# The same questions, asked of the server on the standby and of the one on the primary.
QUESTIONS: list[tuple[str, str, dict[str, Any]]] = [
    (
        QUERY,
        "monthly revenue (the reference's SQL)",
        sql(
            "SELECT DATE_TRUNC('month', o.order_date) AS month, SUM(oi.total_amount) AS revenue "
            "FROM retail.orders o JOIN retail.order_items oi ON o.order_id = oi.order_id "
            "GROUP BY DATE_TRUNC('month', o.order_date) ORDER BY month"
        ),
    ),
    (
        QUERY,
        "top customers",
        sql(
            "select c.customer_id, c.email, count(*) as orders, sum(i.total_amount) as spent "
            "from retail.customers c join retail.orders o on o.customer_id = c.customer_id "
            "join retail.order_items i on i.order_id = o.order_id "
            "group by c.customer_id, c.email order by spent desc, c.customer_id limit 20"
        ),
    ),
    (
        QUERY,
        "stock by category",
        sql(
            "select cat.category_name, sum(inv.stock_level) as stock from retail.inventory inv "
            "join retail.products p using (product_id) join retail.categories cat "
            "using (category_id) group by cat.category_name order by cat.category_name"
        ),
    ),
    (
        QUERY,
        "counts",
        sql(
            "select (select count(*) from retail.customers) as customers, "
            "(select count(*) from retail.orders) as orders, "
            "(select count(*) from retail.order_items) as items"
        ),
    ),
    (
        QUERY,
        "a capped result",
        sql("select order_id from retail.orders order by order_id", max_rows=7),
    ),
    ("list_tables", "list_tables", {}),
    (SCHEMAS, "describe tables", {"table_names": ["orders", "customers", "inventory"]}),
    (SEARCH, "semantic search", {"query_description": "cordless drill with battery"}),
    (SEARCH, "search in stock", {"query_description": "exterior paint", "in_stock_only": True}),
    (QUERY, "a refused write", sql("delete from retail.orders")),
    (QUERY, "a refused function", sql("select pg_read_file('/etc/passwd')")),
]


BOUNDARY = re.compile(r"untrusted-data-[0-9a-f]{32}")


TIMINGS = {"elapsed_ms"}


def without_timings(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_timings(v) for k, v in value.items() if k not in TIMINGS}
    if isinstance(value, list):
        return [without_timings(item) for item in value]
    return value


def normalized(answer: Observed) -> tuple[bool, str]:
    """An answer without what differs from call to call: the random boundary the server
    puts around data, and timings."""
    structured = json.dumps(without_timings(answer.structured), sort_keys=True, default=str)
    return answer.is_error, BOUNDARY.sub("untrusted-data", answer.text + "\n" + structured)


@pytest.mark.anyio
async def test_the_same_questions_get_the_same_answers(on_standby, on_primary):
    compared = 0
    for who in ("Seattle", "Redmond", "head office"):
        async with (
            mcp_client(on_standby.url, bearer(on_standby.keys[who])) as to_standby,
            mcp_client(on_primary.url, bearer(on_primary.keys[who])) as to_primary,
        ):
            for tool, label, arguments in QUESTIONS:
                standby = await send(to_standby, tool, arguments)
                primary = await send(to_primary, tool, arguments)
                if normalized(standby) != normalized(primary):
                    diff = difflib.unified_diff(
                        normalized(primary)[1].splitlines(),
                        normalized(standby)[1].splitlines(),
                        "primary",
                        "standby",
                        lineterm="",
                    )
                    pytest.fail(f"{who} / {label}: the answers differ:\n" + "\n".join(diff)[:3000])
                if tool == QUERY and not standby.is_error:
                    assert standby.structured["rows"] or label == "a capped result", (who, label)
                compared += 1
    assert compared == 3 * len(QUESTIONS)


# --- 2. The attack suite over HTTP, with calls on the standby. -------------------------------


@dataclasses.dataclass
class AttackRun:
    truth: Truth
    checksum: str
    observed: dict[str, Observed]
    seconds: float
    primary_backends_after: collections.Counter[str]
    # Filled in as the cases are judged, for the summary.
    standby_only: dict[str, str] = dataclasses.field(default_factory=dict)
    as_on_the_primary: dict[str, str] = dataclasses.field(default_factory=dict)


@pytest.fixture(scope="module")
def attack_run(on_standby, standby_pair) -> AttackRun:  # noqa: F811
    """Every case of attack_cases.py, sent once as Seattle to the server on the standby."""
    checksum, _ = retail_checksum(standby_pair.primary_url)
    truth = load_truth(standby_pair.primary_url)
    started = time.monotonic()
    observed = asyncio.run(run_cases(on_standby))
    seconds = time.monotonic() - started
    return AttackRun(truth, checksum, observed, seconds, backends(standby_pair.primary_url))


@pytest.fixture(scope="module")
def primary_observed(on_primary, attack_run) -> dict[str, Observed]:
    """The cases that did not hold on the standby, sent to the server on the primary (once),
    to tell the standby's failures from the case table's."""
    budget = on_primary.settings.server.time_budget_seconds
    failing = [
        case
        for case in CASES
        if problems_of(case, attack_run.observed[case.case_id], attack_run.truth, budget)
    ]

    async def again() -> dict[str, Observed]:
        answers: dict[str, Observed] = {}
        async with mcp_client(on_primary.url, bearer(on_primary.keys["Seattle"])) as client:
            for case in failing:
                answers[case.case_id] = await send(client, case.tool, case.arguments)
        return answers

    return asyncio.run(again())


def refused_as_a_standby(case: Case, observed: Observed, problems: list[str]) -> bool:
    """Whether the only thing wrong is that a standby refused what a primary allows (an xid,
    a write): then the call must be a refusal that says so, and show nothing else wrong."""
    outcome_only = all(
        problem.startswith(("expected ", "the error does not say")) for problem in problems
    )
    return (
        outcome_only
        and observed.outcome == REFUSED
        and case.expect in (REFUSED, ANSWERED)
        and bool(RECOVERY_REFUSAL.search(observed.text))
    )


@pytest.mark.parametrize("case", CASES, ids=[case.case_id for case in CASES])
def test_attack_on_the_standby(case: Case, attack_run, primary_observed, on_standby):
    budget = on_standby.settings.server.time_budget_seconds
    observed = attack_run.observed[case.case_id]
    problems = problems_of(case, observed, attack_run.truth, budget)
    if not problems:
        return
    described = (
        f"{case.family} / {case.prop} / {case.tool} {json.dumps(case.arguments)[:300]}: "
        + "; ".join(problems)
    )
    assert not leaks(observed, attack_run.truth, public_stores=case.public_stores), described
    if refused_as_a_standby(case, observed, problems):
        attack_run.standby_only[case.case_id] = (
            f"expected {case.expect}, the standby refused: {observed.text[:200]!r}"
        )
        return
    primary = primary_observed[case.case_id]
    if normalized(primary) == normalized(observed):
        attack_run.as_on_the_primary[case.case_id] = "; ".join(problems)[:300]
        pytest.xfail(f"the primary answers the same, so the case table is at odds: {described}")
    pytest.fail(
        f"{described} (the primary answered {'an error' if primary.is_error else 'a result'}: "
        f"{primary.text[:300]!r})"
    )


@pytest.mark.anyio
async def test_attacks_left_no_state_on_the_standbys_connections(
    on_standby,
    standby_pair,  # noqa: F811
    attack_run,
):
    """After the suite: pooled connections on the standby carry no state of earlier calls
    (every call sees what a fresh connection of its role sees), no advisory lock stays,
    and the primary's retail data is unchanged."""
    pair: StandbyPair = standby_pair
    role = principal_roles(pair.primary_url)[SEATTLE]
    fresh_url = make_conninfo(pair.standby_url, user=role)
    with psycopg.connect(fresh_url, autocommit=True) as conn:
        conn.execute("begin read only")
        expected = conn.execute("select mcp.run_query(%s, 10)", (STATE_QUERY,)).fetchone()[0]
        conn.execute("rollback")
    expected_row = expected["rows"][0][1:]
    rows: list[list[Any]] = []
    async with mcp_client(on_standby.url, bearer(on_standby.keys["Seattle"])) as client:
        for _wave in range(3):
            answers: list[Observed] = []

            async def one(answers: list[Observed] = answers) -> None:
                answers.append(await send(client, QUERY, sql(STATE_QUERY)))

            async with anyio.create_task_group() as group:
                for _ in range(8):
                    group.start_soon(one)
            for answer in answers:
                assert not answer.is_error, answer.text
                rows.append(answer.structured["rows"][0])
    stale = [row for row in rows if row[1:] != expected_row]
    assert not stale, f"pooled connections carry state: {stale} (fresh: {expected_row})"
    assert len({row[0] for row in rows}) >= 2, "the calls did not spread over the pool"
    with psycopg.connect(pair.standby_url) as conn:
        held = conn.execute(
            "select count(*) from pg_locks l join pg_stat_activity a using (pid) "
            "where l.locktype = 'advisory' and a.datname = current_database() "
            "and a.state like 'idle%%'"
        ).fetchone()[0]
    assert held == 0
    assert retail_checksum(pair.primary_url)[0] == attack_run.checksum


def test_attack_summary(attack_run, on_standby, standby_pair):  # noqa: F811
    """The suite's figures (pytest -s shows them): every call reached the standby (no
    principal's backend on the primary), and which cases differed."""
    roles = set(principal_roles(standby_pair.primary_url).values())
    on_primary = {role: n for role, n in attack_run.primary_backends_after.items() if role in roles}
    counts = collections.Counter(seen.outcome for seen in attack_run.observed.values())
    print(
        f"\nattack suite on the standby: {len(CASES)} cases in {attack_run.seconds:.1f} s, "
        f"{dict(counts)}; principals' backends on the primary: {on_primary}"
    )
    print(f"refused by the standby only (it refuses writes): {attack_run.standby_only}")
    print(f"at odds with the case table on the primary too: {sorted(attack_run.as_on_the_primary)}")
    assert not on_primary
    assert len(attack_run.observed) == len(CASES) >= 160


# --- 3. Concurrent callers, with calls on the standby. ----------------------------------------

try:
    import isolation_cases
except ImportError:  # not written yet
    isolation_cases = None  # type: ignore[assignment]


def isolation_sample() -> list[Any]:
    """The cases to run here: every one with ZAVA_STANDBY_ISOLATION=all; by default the
    first of each family (the whole suite takes about 3 s a case, and test_isolation.py
    runs it all on the primary: here it is the standby that is proven)."""
    if isolation_cases is None:
        return []
    if os.environ.get("ZAVA_STANDBY_ISOLATION") == "all":
        return list(isolation_cases.CASES)
    families: dict[str, Any] = {}
    for case in isolation_cases.CASES:
        families.setdefault(case.family, case)
    return list(families.values())


ISOLATION_CASES = isolation_sample()


@pytest.fixture(scope="module")
def isolation_findings(on_standby, standby_pair) -> dict[str, Any]:  # noqa: F811
    """isolation_cases.py's cases against the server on the standby; the observer (who
    sees every session and holds the outside lock) is the standby's superuser."""
    assert isolation_cases is not None
    started = time.monotonic()
    findings = asyncio.run(
        isolation_cases.run_isolation_cases(
            on_standby.url, on_standby.keys, standby_pair.standby_url, ISOLATION_CASES
        )
    )
    print(
        f"\nisolation cases on the standby: {len(findings)} in {time.monotonic() - started:.0f} s"
    )
    return {finding.case.case_id: finding for finding in findings}


@pytest.mark.skipif(isolation_cases is None, reason="tests/py/isolation_cases.py is not there")
@pytest.mark.parametrize("case", ISOLATION_CASES, ids=[case.case_id for case in ISOLATION_CASES])
def test_isolation_on_the_standby(case, isolation_findings):
    finding = isolation_findings[case.case_id]
    assert finding.attacks, f"{case.case_id}: no attack was sent: {finding.problems}"
    assert not finding.problems, (
        finding.summary() + "\n" + "\n".join(isolation_cases.problems([finding]))
    )


def test_no_call_reached_the_primary_before_the_failover(on_standby, standby_pair):  # noqa: F811
    """No principal's role of the server on the standby ran a statement on the primary, in
    any test so far (the primary logs every statement with its user and application); its
    connections went to the standby (log_connections there)."""
    pair: StandbyPair = standby_pair
    roles = set(principal_roles(pair.primary_url).values())
    statement = re.compile(r" user=(\S+) db=\S* app=(\S*) LOG:\s+(?:statement|execute [^:]*):")
    ran_on_primary = collections.Counter(
        match.group(1)
        for match in map(statement.search, pair.primary.log_text().splitlines())
        if match and match.group(1) in roles and match.group(2) == ON_STANDBY
    )

    def logins(node) -> int:
        return sum(
            1
            for login in node.logins()
            if login.get("application_name") == ON_STANDBY and login.get("user") in roles
        )

    print(
        f"\nprincipals' connections of the server on the standby: {logins(pair.standby)} to the "
        f"standby; {logins(pair.primary)} logged in to the primary (libpq asking whether it is a "
        f"standby), which ran {sum(ran_on_primary.values())} of their statements"
    )
    assert logins(pair.standby) >= 3
    assert not ran_on_primary, f"principals' statements ran on the primary: {ran_on_primary}"
    # The check would see them: the primary logs the statements of the server on it.
    assert any(
        match and match.group(2) == ON_PRIMARY and match.group(1) in roles
        for match in map(statement.search, pair.primary.log_text().splitlines())
    )


# --- 4. Failover: the standby stops while calls are in flight. --------------------------------


@dataclasses.dataclass(frozen=True)
class Call:
    who: str
    sent: float
    done: float
    answer: Observed

    @property
    def on_standby(self) -> bool | None:
        structured = self.answer.structured
        if self.answer.is_error or not isinstance(structured, dict):
            return None
        return structured["rows"][0][0]


FAILOVER_CALLERS = {"Seattle": 3, "Redmond": 3, "head office": 3}
FAILOVER_QUERY = sql(f"{WHERE}, pg_sleep(0.25) is null as slept")
CLEAR_FAILURES = (CONNECTION_LOST, BUDGET, NO_CONNECTION)


@pytest.mark.anyio
async def test_zz_failover_when_the_standby_stops(on_standby, standby_pair):  # noqa: F811
    """Stop the standby (pg_ctl stop -m fast) while nine calls are in flight: no call
    takes longer than the budget + 1 s, every failure is a clear tool error, and the calls
    succeed again on the primary. Then start it again: a principal's first call (a new
    pool) goes to the standby; whether the pools opened meanwhile come back is printed."""
    pair: StandbyPair = standby_pair
    budget = BUDGET_SECONDS
    calls: list[Call] = []
    in_flight = 0
    done = anyio.Event()

    async def caller(who: str) -> None:
        nonlocal in_flight
        async with mcp_client(on_standby.url, bearer(on_standby.keys[who])) as client:
            for _ in range(1000):  # bounded; `done` ends it much earlier
                if done.is_set():
                    return
                in_flight += 1
                sent = time.monotonic()
                answer = await send(client, QUERY, FAILOVER_QUERY)
                in_flight -= 1
                calls.append(Call(who, sent, time.monotonic(), answer))

    def served_by_primary_since(moment: float) -> list[Call]:
        return [c for c in calls if c.on_standby is False and c.sent >= moment]

    with anyio.fail_after(90):
        async with anyio.create_task_group() as group:
            for who, copies in FAILOVER_CALLERS.items():
                for _ in range(copies):
                    group.start_soon(caller, who)
            # Steady load on the standby first.
            while not (in_flight >= 8 and sum(c.on_standby is True for c in calls) >= 9):
                await anyio.sleep(0.01)
            before_stop = [c.answer.text for c in calls if c.answer.is_error]
            in_flight_at_stop = in_flight
            stop_started = time.monotonic()
            await anyio.to_thread.run_sync(pair.stop_standby)
            stop_done = time.monotonic()
            # Until every principal's calls have been served by the primary, and a budget
            # more to see any failure after that.
            deadline = stop_done + 4 * budget + 10
            while time.monotonic() < deadline and {
                c.who for c in served_by_primary_since(stop_started)
            } != set(FAILOVER_CALLERS):
                await anyio.sleep(0.02)
            await anyio.sleep(budget)
            done.set()

    failed = [c for c in calls if c.answer.is_error and c.sent >= stop_started - budget]
    after_stop = served_by_primary_since(stop_started)
    first_success = min((c.done for c in after_stop), default=None)
    messages = collections.Counter(
        next((text for text in CLEAR_FAILURES if text in c.answer.text), c.answer.text[:200])
        for c in failed
    )
    slowest = max(calls, key=lambda c: c.done - c.sent)
    print(
        f"\nfailover: {in_flight_at_stop} calls in flight at the stop; pg_ctl stop took "
        f"{stop_done - stop_started:.2f} s; {len(calls)} calls, {len(failed)} failed "
        f"{dict(messages)}; first success on the primary "
        + (
            f"{first_success - stop_started:.2f} s after the stop began"
            if first_success
            else "never"
        )
        + f"; the slowest call took {slowest.done - slowest.sent:.2f} s; failures ended "
        f"{max((c.done for c in failed), default=stop_started) - stop_started:.2f} s after the "
        "stop began"
    )
    assert not before_stop, f"calls failed before the standby stopped: {before_stop}"
    assert slowest.done - slowest.sent <= budget + 1, slowest
    unclear = [c.answer.text for c in failed if not any(t in c.answer.text for t in CLEAR_FAILURES)]
    assert not unclear, f"failures that are no clear tool error: {unclear}"
    assert first_success is not None, "no call succeeded on the primary after the standby stopped"
    assert first_success - stop_done <= budget + 2, "the calls did not fail over within the budget"
    assert {c.who for c in after_stop} == set(FAILOVER_CALLERS)
    late = [c for c in failed if c.sent > stop_done + budget]
    assert not late, f"calls still failed a budget after the stop: {[c.answer.text for c in late]}"

    # The standby comes back: new connections pick it.
    pair.start_standby()
    restarted = time.monotonic()
    first = await ask(on_standby, "Bellevue", QUERY, FAILOVER_QUERY)
    assert not first.is_error, first.text
    assert first.structured["rows"][0][0] is True, (
        "a new pool's connection did not pick the standby"
    )
    back: dict[str, float | None] = {}
    async with mcp_client(on_standby.url, bearer(on_standby.keys["Seattle"])) as client:
        for _ in range(100):  # bounded: at most about 8 s
            answer = await send(client, QUERY, FAILOVER_QUERY)
            assert not answer.is_error, answer.text
            if answer.structured["rows"][0][0] is True:
                back["Seattle"] = time.monotonic() - restarted
                break
            if time.monotonic() - restarted > 8:
                break
    print(
        "after the restart: Bellevue's first call served by the standby; Seattle's calls "
        + (
            f"back on the standby after {back['Seattle']:.1f} s"
            if back.get("Seattle") is not None
            else "still on the primary after 8 s (its pooled connections stay until idle)"
        )
    )
