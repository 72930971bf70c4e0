"""Concurrent-caller isolation attacks (DESIGN.md properties 2, 6, 10 and 11; issue 10):
the cases as data, and a runner that any test module can point at a zava-mcp server.

Every case has two or more callers in flight at once. A victim (Redmond's key unless the
case says otherwise) runs, in a loop on two MCP sessions of its own, a slow call that
carries a unique marker and literal values:

    select /* <marker> */ pg_sleep(0.6)::text as slept, count(*) as matches
    from retail.customers as c
    where c.email = 'vip.<literal>@example.com' or c.last_name = '<surname>'

(through execute_sales_query, or explain_query with analyze for some cases). Once an
administrator's connection sees one of the victim's backends freshly asleep in that call,
an attacker (Seattle's key, head office's in some cases, sometimes both at once) sends
the case's attack: reading pg_stat_activity and pg_stat_get_activity with and without a
role reset (`set_config('role', 'none', true)` evaluated first, in a materialized CTE),
the pg_stat_get_backend_* functions, pg_locks, cancelling, terminating or signalling the
victim's backends, advisory locks (taking, waiting on, and leaving session locks behind),
NOTIFY, prepared statements, cursors, settings, memory contexts, pg_stat_statements, and
the role catalogs. Each case proves:

- the attacker's answers (text, structured content and error messages) hold no marker,
  no literal value of the victim's, no trace of the victim's principal (its uuid in any
  spelling, a hex digest or hashtext of it) and not the victim's store name; cases about
  names (roles, settings, application names) hold no trace of any principal or store;
- the victim was in flight when the attack was sent (seen by the administrator, and on
  the client's clock a victim call spans the moment the attack was sent), and every
  victim call of the case succeeded within its sleep + `stall_seconds` (nothing
  cancelled, terminated or stalled), also the calls made after the attack ended;
- no advisory lock survives on an idle backend of the database after the case;
- and what the case adds (e.g. the attacker's login role has no privileges of the
  victim's, no advisory lock key is derived from a principal).

Attacks on "keys another backend holds" find nothing to lock when the binding takes no
advisory lock (principal roles); the derived-key and outside-lock cases lock regardless.

Runner contract, for other modules (hot standby, PgBouncer):

    findings = await run_isolation_cases(server_url, keys, admin_url)
    assert not problems(findings)

- `server_url`: the MCP endpoint (http://127.0.0.1:PORT/mcp) of a server using API keys.
- `keys`: API keys by conftest's names, "head office", "Seattle" and "Redmond" (other
  entries are ignored).
- `admin_url`: a connection string to the PostgreSQL that serves the tool calls (the
  standby when calls go to a standby; PostgreSQL itself, never the pooler, behind
  PgBouncer), as a role that sees every session's state in pg_stat_activity (a superuser
  or a member of pg_read_all_stats). It only reads pg_stat_activity and pg_locks, and for
  the waiting cases holds an advisory lock; it is never given to a caller.
- Cases run one after another, about 3 s each (3 to 4 minutes in all; the waiting cases
  last as long as the server's time budget, which should be a few seconds). The result
  is one Finding per case, in order. `problems(findings)` gives readable lines,
  empty when every case holds; `Finding.problems` has them per case.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import secrets
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any

import anyio
import anyio.abc
import httpx2
import psycopg
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

HEAD_OFFICE = "00000000-0000-0000-0000-000000000000"
SEATTLE = "f47ac10b-58cc-4372-a567-0e02b2c3d479"
REDMOND = "e7f8a9b0-c1d2-3e4f-5678-90abcdef1234"
# Every principal of the sample (DESIGN.md), with its store's name.
PRINCIPALS: dict[str, tuple[str, str | None]] = {
    "head office": (HEAD_OFFICE, None),
    "Seattle": (SEATTLE, "Zava Retail Seattle"),
    "Bellevue": ("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "Zava Retail Bellevue"),
    "Tacoma": ("a1b2c3d4-e5f6-7890-abcd-ef1234567890", "Zava Retail Tacoma"),
    "Spokane": ("d8e9f0a1-b2c3-4567-8901-234567890abc", "Zava Retail Spokane"),
    "Everett": ("3b9ac9fa-cd5e-4b92-a7f2-b8c1d0e9f2a3", "Zava Retail Everett"),
    "Redmond": (REDMOND, "Zava Retail Redmond"),
    "Kirkland": ("9c8b7a65-4321-fed0-9876-543210fedcba", "Zava Retail Kirkland"),
    "Online": ("2f4e6d8c-1a3b-5c7e-9f0a-b2d4f6e8c0a2", "Zava Retail Online"),
}

QUERY = "execute_sales_query"
EXPLAIN = "explain_query"  # always with analyze: the query really runs
SCHEMAS = "get_multiple_table_schemas"

ACTIVITY = "pg_stat_activity"
BACKEND = "pg_stat_get_backend_*"
LOCKS = "pg_locks"
SIGNALS = "cancel, terminate, signal"
ADVISORY = "advisory locks"
WAITING = "waiting on another caller's lock"
NOTIFY = "LISTEN/NOTIFY"
SESSION = "prepared statements, cursors, settings"
ROLES = "roles"
CATALOG = "other tools"

# The advisory lock an outside session holds in the WAITING cases.
OUTSIDE_LOCK_KEY = 73_100_042

# The role reset every caller's SQL can do, evaluated before anything that reads r.
AS_LOGIN = "with r as materialized (select set_config('role', 'none', true) as reset_to) "
# Only other sessions of this database, and no superuser's (signalling a superuser's
# backend is an error that would stop an attack before it reached anyone else).
OTHERS = (
    "a.pid <> pg_backend_pid() and a.datname = current_database() "
    "and a.backend_type = 'client backend' "
    "and not exists (select from pg_roles s where s.oid = a.usesysid and s.rolsuper)"
)
# Where an attack names the victim's pids: the backends the administrator saw running
# the victim's call (every role sees pids in pg_stat_activity and pg_locks).
VICTIM_PIDS = "{victim_pids}"
# Every principal as text, for attacks that derive keys or names from principals (their
# uuids are no secret: retail.stores lists the stores').
PRINCIPAL_VALUES = ", ".join(f"('{principal}')" for principal, _ in PRINCIPALS.values())
# Keys an attacker could derive from a principal: hashes and the uuid's halves, each a
# bigint; their 32-bit halves are what pg_locks shows in classid/objid.
DERIVED_KEYS = (
    f"principals (u) as (values {PRINCIPAL_VALUES}), "
    "derived (v) as ("
    "select d.v from principals p cross join lateral (values "
    "(hashtext(p.u)::bigint), (hashtext(replace(p.u, '-', ''))::bigint), "
    "(hashtextextended(p.u, 0)), (hashtextextended(replace(p.u, '-', ''), 0)), "
    "(('x' || substr(replace(p.u, '-', ''), 1, 16))::bit(64)::bigint), "
    "(('x' || substr(replace(p.u, '-', ''), 17, 16))::bit(64)::bigint)) as d (v)), "
    "halves (h) as ("
    "select v & 4294967295 from derived union select (v >> 32) & 4294967295 from derived) "
)
# The advisory locks other backends hold, as (objsubid, k1, k2) with k1, k2 unsigned.
HELD_ADVISORY = (
    "held as (select distinct l.objsubid, l.classid::bigint as k1, l.objid::bigint as k2 "
    "from r cross join pg_locks l where r.reset_to is not null "
    "and l.locktype = 'advisory' and l.pid <> pg_backend_pid()) "
)


def int4(column: str) -> str:
    """An unsigned 32-bit value as the int4 the two-key advisory functions take."""
    return f"({column} - case when {column} > 2147483647 then 4294967296 else 0 end)::int"


def lock_held(function: str) -> str:
    """The advisory lock function applied to a lock of `held` (bigint or two-key form)."""
    return (
        f"case when objsubid = 1 then {function}((k1 << 32) | k2) "
        f"else {function}({int4('k1')}, {int4('k2')}) end"
    )


@dataclasses.dataclass(frozen=True)
class Context:
    """What a case's own checks may use."""

    victim_login: str | None  # the victim's login role (session_user), as it answered
    attacker_logins: dict[str, str | None]  # every attacker's login role


@dataclasses.dataclass(frozen=True)
class Answer:
    """One tool call as a client saw it, on the monotonic clock."""

    who: str
    tool: str
    sent: float
    done: float
    is_error: bool
    text: str
    structured: Any

    @property
    def elapsed(self) -> float:
        return self.done - self.sent

    @property
    def blob(self) -> str:
        return self.text + "\n" + json.dumps(self.structured, default=str)

    def column(self, name: str) -> list[Any]:
        """The values of a column of an execute_sales_query answer (empty when none)."""
        structured = self.structured if isinstance(self.structured, dict) else {}
        names = [column.get("name") for column in structured.get("columns") or []]
        if self.is_error or name not in names:
            return []
        return [row[names.index(name)] for row in structured.get("rows") or []]


Check = Callable[[Context, Answer], list[str]]


@dataclasses.dataclass(frozen=True)
class Case:
    case_id: str
    family: str
    attack: str  # SQL for execute_sales_query / explain_query; may name {victim_pids}
    tool: str = QUERY
    table_names: tuple[str, ...] = ()  # the attack's argument for get_multiple_table_schemas
    attackers: tuple[str, ...] = ("Seattle",)  # who send the attack, all at once
    victim: str = "Redmond"
    victim_tool: str = QUERY
    repeat: int = 1  # attacks sent one after another, each while the victim is in flight
    parallel: int = 1  # copies of the attack each attacker sends at once
    outside_lock: bool = False  # an outside session holds OUTSIDE_LOCK_KEY meanwhile
    names: bool = False  # about names: no trace of any principal or store may show
    checks: tuple[Check, ...] = ()
    note: str = ""

    def arguments(self, victim_pids: Sequence[int]) -> dict[str, Any]:
        if self.tool == SCHEMAS:
            return {"table_names": list(self.table_names)}
        pids = ", ".join(str(pid) for pid in victim_pids) or "0"
        arguments: dict[str, Any] = {"postgresql_query": self.attack.replace(VICTIM_PIDS, pids)}
        if self.tool == EXPLAIN:
            arguments["analyze"] = True
        return arguments


# --- Checks particular to some cases. ------------------------------------------------------


def no_privileges_of_the_victim(context: Context, answer: Answer) -> list[str]:
    """The attacker's login role is not the victim's and has no privileges of it (no
    membership with INHERIT or SET)."""
    found: list[str] = []
    for attacker, login in context.attacker_logins.items():
        if login is not None and login == context.victim_login:
            found.append(f"{attacker}'s calls run as the victim's login role {login!r}")
    roles = {role for value in answer.column("privileges_of") for role in value or []}
    if (
        context.victim_login in roles
        and context.victim_login not in context.attacker_logins.values()
    ):
        found.append(
            f"{answer.who}'s login has privileges of the victim's {context.victim_login!r}"
        )
    return found


def no_key_derived_from_a_principal(context: Context, answer: Answer) -> list[str]:
    derived = [value for value in answer.column("derived_from_a_principal") if value]
    return (
        [f"{sum(derived)} advisory lock keys of others derive from a principal"] if derived else []
    )


# --- The cases. ----------------------------------------------------------------------------

CASES: list[Case] = []


def case(case_id: str, family: str, attack: str, **options: Any) -> None:
    CASES.append(Case(case_id, family, attack, **options))


SEEN_ACTIVITY = (
    "(select string_agg(format('%s %s %s %s: %s', a.pid, a.usename, a.application_name, "
    "a.state, a.query), ' || ') from pg_stat_activity a where r.reset_to is not null "
    "and a.pid <> pg_backend_pid(){condition}) as seen"
)


def activity_after_reset(condition: str = "") -> str:
    return AS_LOGIN + "select r.reset_to, " + SEEN_ACTIVITY.format(condition=condition) + " from r"


# pg_stat_activity and pg_stat_get_activity -------------------------------------------------

case(
    "activity: other sessions' queries, read as the reader role, show no marker",
    ACTIVITY,
    "select string_agg(format('%s %s %s: %s', pid, usename, state, query), ' || ') as seen "
    "from pg_stat_activity where pid <> pg_backend_pid()",
)
case(
    "activity: other sessions' queries, read after a role reset, show no marker",
    ACTIVITY,
    activity_after_reset(),
)
case(
    "activity: the issue's reproduction (role reset, query like '%vip.%') shows nothing",
    ACTIVITY,
    "select set_config('role', 'none', true) as r, "
    "(select string_agg(a.usename || ': ' || a.query, ' || ') from pg_stat_activity a "
    "where a.pid <> pg_backend_pid() and a.query like '%vip.%') as seen",
)
case(
    "activity: every query like '%' after a role reset shows no marker",
    ACTIVITY,
    activity_after_reset(" and a.query like '%'"),
)
case(
    "activity: the victim's own backends, read whole by pid after a role reset, show nothing",
    ACTIVITY,
    AS_LOGIN + "select r.reset_to, (select string_agg(a::text, ' || ') from pg_stat_activity a "
    f"where r.reset_to is not null and a.pid in ({VICTIM_PIDS})) as seen from r",
)
case(
    "activity: head office, after a role reset, sees no store manager's query",
    ACTIVITY,
    activity_after_reset(" and a.query like '%'"),
    attackers=("head office",),
)
case(
    "activity: Seattle and head office at once, after a role reset, see no marker",
    ACTIVITY,
    activity_after_reset(),
    attackers=("Seattle", "head office"),
)
case(
    "activity: a victim's explain_query with analyze shows no marker",
    ACTIVITY,
    activity_after_reset(),
    victim_tool=EXPLAIN,
)
case(
    "activity: head office's own calls show a store manager nothing",
    ACTIVITY,
    activity_after_reset(),
    victim="head office",
)
case(
    "activity: Redmond, after a role reset, sees nothing of Seattle's calls",
    ACTIVITY,
    activity_after_reset(),
    attackers=("Redmond",),
    victim="Seattle",
)
case(
    "activity: user names, application names and client details name no principal",
    ACTIVITY,
    AS_LOGIN + "select r.reset_to, (select string_agg(format('%s|%s|%s|%s|%s|%s', a.usename, "
    "a.application_name, a.client_addr, a.client_hostname, a.client_port, a.backend_type), "
    "E'\\n') from pg_stat_activity a where r.reset_to is not null) as seen from r",
    names=True,
)
case(
    "activity: pg_stat_get_activity(null), read as the reader role, shows no marker",
    ACTIVITY,
    "select string_agg(format('%s %s: %s', s.pid, s.usesysid::regrole, s.query), ' || ') as seen "
    "from pg_stat_get_activity(null) s where s.pid <> pg_backend_pid()",
)
case(
    "activity: pg_stat_get_activity(null) after a role reset shows no marker",
    ACTIVITY,
    AS_LOGIN + "select r.reset_to, (select string_agg(format('%s %s: %s', s.pid, "
    "s.usesysid::regrole, s.query), ' || ') from pg_stat_get_activity(null) s "
    "where r.reset_to is not null and s.pid <> pg_backend_pid()) as seen from r",
)
case(
    "activity: pg_stat_get_activity of the victim's pids after a role reset shows nothing",
    ACTIVITY,
    AS_LOGIN
    + "select r.reset_to, (select string_agg(s::text, ' || ') from unnest(array["
    + VICTIM_PIDS
    + "]) as p (pid) cross join lateral pg_stat_get_activity(p.pid) s "
    "where r.reset_to is not null) as seen from r",
)

# pg_stat_get_backend_* --------------------------------------------------------------------

BACKENDS = (
    "(select string_agg(format('%s %s %s: %s', pg_stat_get_backend_pid(b.id), "
    "pg_stat_get_backend_userid(b.id)::regrole, pg_stat_get_backend_dbid(b.id), "
    "pg_stat_get_backend_activity(b.id)), ' || ') from pg_stat_get_backend_idset() b (id) "
    "where pg_stat_get_backend_pid(b.id) <> pg_backend_pid(){condition}) as seen"
)
case(
    "backend functions: pg_stat_get_backend_activity of every backend id, as the reader role",
    BACKEND,
    "select " + BACKENDS.format(condition=""),
)
case(
    "backend functions: pg_stat_get_backend_activity of every backend id after a role reset",
    BACKEND,
    AS_LOGIN
    + "select r.reset_to, "
    + BACKENDS.format(condition=" and r.reset_to is not null")
    + " from r",
)
case(
    "backend functions: waits, start times and clients of every backend name no principal",
    BACKEND,
    AS_LOGIN + "select r.reset_to, (select string_agg(format('%s %s %s %s %s %s %s %s', "
    "pg_stat_get_backend_pid(b.id), pg_stat_get_backend_wait_event_type(b.id), "
    "pg_stat_get_backend_wait_event(b.id), pg_stat_get_backend_activity_start(b.id), "
    "pg_stat_get_backend_xact_start(b.id), pg_stat_get_backend_start(b.id), "
    "pg_stat_get_backend_client_addr(b.id), pg_stat_get_backend_client_port(b.id)), E'\\n') "
    "from pg_stat_get_backend_idset() b (id) where r.reset_to is not null) as seen from r",
    names=True,
)

# pg_locks ---------------------------------------------------------------------------------

case(
    "locks: the queries of other lock holders (pg_locks join pg_stat_activity) show no marker",
    LOCKS,
    AS_LOGIN + "select r.reset_to, (select string_agg(distinct format('%s %s %s: %s', l.pid, "
    "l.locktype, l.relation::regclass, a.query), ' || ') from pg_locks l "
    "join pg_stat_activity a on a.pid = l.pid where r.reset_to is not null "
    "and l.pid <> pg_backend_pid()) as seen from r",
)
case(
    "locks: every lock of another backend (keys, pids, modes) names no principal",
    LOCKS,
    AS_LOGIN + "select r.reset_to, (select string_agg(format('%s %s %s %s %s %s %s %s %s', "
    "l.pid, l.locktype, l.database, l.relation::regclass, l.classid, l.objid, l.objsubid, "
    "l.mode, l.virtualtransaction), E'\\n') from pg_locks l where r.reset_to is not null "
    "and l.pid <> pg_backend_pid()) as seen from r",
    names=True,
)
case(
    "locks: no advisory lock key another backend holds is derived from a principal",
    LOCKS,
    AS_LOGIN
    + ", "
    + DERIVED_KEYS
    + ", "
    + HELD_ADVISORY
    + "select (select count(*) from held) as advisory_locks_of_others, "
    "(select count(*) from held k where exists (select from halves "
    "where h not in (0, 4294967295) and h in (k.k1, k.k2))) as derived_from_a_principal",
    checks=(no_key_derived_from_a_principal,),
)

# Cancel, terminate, signal ------------------------------------------------------------------


def signal_victims(function: str) -> str:
    return (
        AS_LOGIN + f"select r.reset_to, (select array_agg({function}(p.pid)) "
        f"from unnest(array[{VICTIM_PIDS}]) as p (pid) where r.reset_to is not null) as signalled "
        "from r"
    )


def signal_others(function: str) -> str:
    return (
        AS_LOGIN + f"select r.reset_to, (select array_agg({function}(a.pid)) "
        f"from pg_stat_activity a where r.reset_to is not null and {OTHERS}) as signalled from r"
    )


case(
    "signals: cancelling the victim's backends after a role reset is refused",
    SIGNALS,
    signal_victims("pg_cancel_backend"),
)
case(
    "signals: cancelling the victim's backends as the reader role is refused",
    SIGNALS,
    f"select array_agg(pg_cancel_backend(p.pid)) as signalled from unnest(array[{VICTIM_PIDS}]) "
    "as p (pid)",
)
case(
    "signals: terminating the victim's backends after a role reset is refused",
    SIGNALS,
    signal_victims("pg_terminate_backend"),
)
case(
    "signals: cancelling every other client backend after a role reset touches no victim",
    SIGNALS,
    signal_others("pg_cancel_backend"),
)
case(
    "signals: terminating every other client backend after a role reset touches no victim",
    SIGNALS,
    signal_others("pg_terminate_backend"),
)
case(
    "signals: cancelling the pids pg_locks shows on retail.customers is refused",
    SIGNALS,
    AS_LOGIN + "select r.reset_to, (select array_agg(pg_cancel_backend(l.pid)) from pg_locks l "
    "where r.reset_to is not null and l.relation = 'retail.customers'::regclass "
    "and l.pid <> pg_backend_pid()) as signalled from r",
)
case(
    "signals: cancelling the victim's backends through explain_query with analyze is refused",
    SIGNALS,
    signal_victims("pg_cancel_backend"),
    tool=EXPLAIN,
)
case(
    "signals: head office cannot terminate a store manager's backends",
    SIGNALS,
    signal_victims("pg_terminate_backend"),
    attackers=("head office",),
)
case(
    "signals: cancels repeated across the victim's loop are all refused",
    SIGNALS,
    signal_victims("pg_cancel_backend"),
    repeat=3,
)
case(
    "signals: asking the victim's backends to log their memory contexts is refused",
    SIGNALS,
    signal_victims("pg_log_backend_memory_contexts"),
)

# Advisory locks ------------------------------------------------------------------------------

case(
    "advisory: session try-locks on every key another backend holds stall no victim",
    ADVISORY,
    AS_LOGIN + ", " + HELD_ADVISORY + "select count(*) as held, "
    f"count(*) filter (where {lock_held('pg_try_advisory_lock')}) as taken from held",
)
case(
    "advisory: waiting for exclusive locks on keys another backend holds stalls no victim",
    ADVISORY,
    AS_LOGIN + ", " + HELD_ADVISORY + "select count(*) as held, "
    f"count(*) filter (where {lock_held('pg_advisory_lock')} is null) as waited from held",
)
case(
    "advisory: waiting for shared locks on keys another backend holds stalls no victim",
    ADVISORY,
    AS_LOGIN + ", " + HELD_ADVISORY + "select count(*) as held, "
    f"count(*) filter (where {lock_held('pg_advisory_xact_lock_shared')} is null) as waited "
    "from held",
)
case(
    "advisory: exclusive locks on every key derived from a principal stall no victim",
    ADVISORY,
    AS_LOGIN
    + ", "
    + DERIVED_KEYS
    + "select (select count(*) from derived where r.reset_to is not null "
    "and pg_advisory_xact_lock(v) is null) as bigint_keys, "
    "(select count(*) from derived where r.reset_to is not null and pg_advisory_xact_lock("
    + int4("((v >> 32) & 4294967295)")
    + ", "
    + int4("(v & 4294967295)")
    + ") is null) as pair_keys from r",
)
case(
    "advisory: session locks on keys derived from principals do not survive the call",
    ADVISORY,
    AS_LOGIN
    + ", "
    + DERIVED_KEYS
    + "select (select count(*) filter (where pg_try_advisory_lock(v)) from derived "
    "where r.reset_to is not null) as taken, "
    "(select count(*) filter (where pg_try_advisory_lock_shared(v # 1)) from derived "
    "where r.reset_to is not null) as shared_taken from r",
)
case(
    "waiting: calls waiting on a lock held elsewhere exhaust no connection of the victim",
    WAITING,
    f"select pg_advisory_lock({OUTSIDE_LOCK_KEY}) is null as got_it",
    parallel=12,
    outside_lock=True,
    note="more waiting calls than a pool of ten has connections",
)
case(
    "waiting: head office and Seattle waiting on a held lock at once stall no victim",
    WAITING,
    f"select pg_advisory_xact_lock_shared({OUTSIDE_LOCK_KEY} + 1) is null as shared, "
    f"pg_advisory_xact_lock({OUTSIDE_LOCK_KEY}) is null as exclusive",
    attackers=("Seattle", "head office"),
    parallel=4,
    outside_lock=True,
)

# LISTEN/NOTIFY (a query cannot LISTEN: pg_notify and the listening channels remain) ---------

case(
    "notify: pg_notify to every session's user name and common channels disturbs no victim",
    NOTIFY,
    AS_LOGIN + "select r.reset_to, (select count(*) from (select pg_notify(c.channel, "
    "'isolation probe ' || repeat('x', 7000)) from (select distinct a.usename::text "
    "from pg_stat_activity a where a.usename is not null union values ('zava'), ('mcp'), "
    "('zava_mcp'), ('pgrst'), ('postgres')) as c (channel) where r.reset_to is not null) n) "
    "as notified from r",
)
case(
    "notify: the listening channels after a role reset show nothing of another caller",
    NOTIFY,
    AS_LOGIN + "select r.reset_to, (select array_agg(c) from pg_listening_channels() c "
    "where r.reset_to is not null) as channels from r",
)

# Prepared statements, cursors, settings, memory, statistics -------------------------------

case(
    "session: prepared statements after a role reset show no marker",
    SESSION,
    AS_LOGIN + "select r.reset_to, (select string_agg(p.name || ': ' || p.statement, ' || ') "
    "from pg_prepared_statements p where r.reset_to is not null) as seen from r",
)
case(
    "session: open cursors after a role reset show no marker",
    SESSION,
    AS_LOGIN + "select r.reset_to, (select string_agg(c.name || ': ' || c.statement, ' || ') "
    "from pg_cursors c where r.reset_to is not null) as seen from r",
)
case(
    "session: settings and custom placeholders after a role reset name no principal",
    SESSION,
    AS_LOGIN + "select r.reset_to, current_setting('application_name') as application_name, "
    "current_setting('mcp.principal', true) as mcp_principal, "
    "current_setting('zava.principal', true) as zava_principal, "
    "(select string_agg(s.name || '=' || s.setting, E'\\n') from pg_settings s "
    "where r.reset_to is not null and (s.name like '%.%' or s.source not in "
    "('default', 'override'))) as settings from r",
    names=True,
)
case(
    "session: backend memory contexts after a role reset show no marker",
    SESSION,
    AS_LOGIN + "select r.reset_to, (select string_agg(m.name || ': ' || coalesce(m.ident, ''), "
    "E'\\n') from pg_backend_memory_contexts m where r.reset_to is not null) as seen from r",
)
case(
    "session: pg_stat_statements, if present, shows no marker",
    SESSION,
    AS_LOGIN + "select r.reset_to, (select string_agg(s.query, ' || ') from pg_stat_statements s "
    "where r.reset_to is not null) as seen from r",
)

# Roles -------------------------------------------------------------------------------------

case(
    "roles: no role name, setting or comment names a principal or a store",
    ROLES,
    AS_LOGIN + "select r.reset_to, (select string_agg(format('%s %s %s %s', g.oid, g.rolname, "
    "g.rolconfig, shobj_description(g.oid, 'pg_authid')), E'\\n') from pg_roles g "
    "where r.reset_to is not null) as roles, (select string_agg(format('%s %s %s', "
    "d.setdatabase, d.setrole, d.setconfig), E'\\n') from pg_db_role_setting d) as role_settings "
    "from r",
    names=True,
)
case(
    "roles: memberships (pg_auth_members) name no principal or store",
    ROLES,
    AS_LOGIN + "select r.reset_to, (select string_agg(format('%s in %s (admin %s, inherit %s, "
    "set %s)', m.member::regrole, m.roleid::regrole, m.admin_option, m.inherit_option, "
    "m.set_option), E'\\n') from pg_auth_members m where r.reset_to is not null) as members "
    "from r",
    names=True,
)
MEMBERSHIP = (
    AS_LOGIN + "select r.reset_to, session_user::text as login, (select array_agg(g.rolname::text "
    "order by g.rolname) from pg_roles g where r.reset_to is not null and "
    "(pg_has_role(session_user, g.oid, 'USAGE') or pg_has_role(session_user, g.oid, 'SET'))) "
    "as privileges_of from r"
)
case(
    "roles: a store manager's login role has no privileges of another principal's",
    ROLES,
    MEMBERSHIP,
    checks=(no_privileges_of_the_victim,),
)
case(
    "roles: head office's login role is no member of a store manager's",
    ROLES,
    MEMBERSHIP,
    attackers=("head office",),
    checks=(no_privileges_of_the_victim,),
)

# Other tools --------------------------------------------------------------------------------

case(
    "other tools: describing pg_stat_activity and pg_locks shows no marker",
    CATALOG,
    "",
    tool=SCHEMAS,
    table_names=("pg_stat_activity", "pg_catalog.pg_stat_activity", "pg_locks", "pg_cursors"),
)
case(
    "other tools: explain_query with analyze over pg_stat_activity shows no marker",
    CATALOG,
    activity_after_reset(),
    tool=EXPLAIN,
)


# --- Traces of a principal: what may not show in an attacker's answer. ----------------------


def uuid_traces(principal: str) -> set[str]:
    """The principal's uuid in its spellings, and the first 12 hex digits of common digests
    of it (a role or application name made of one would map to the principal)."""
    value = uuid.UUID(principal)
    spellings = [str(value), value.hex]
    traces = set(spellings)
    for text in [*spellings, str(value).upper(), value.hex.upper()]:
        for data in (text.encode(), value.bytes):
            for name in ("md5", "sha1", "sha224", "sha256", "sha384", "sha512"):
                traces.add(hashlib.new(name, data).hexdigest()[:12])
            traces.add(hashlib.blake2b(data).hexdigest()[:12])
            traces.add(hashlib.blake2s(data).hexdigest()[:12])
    return traces


def hashtext_traces(conn: psycopg.Connection, principal: str) -> set[str]:
    """PostgreSQL's own hashes of the principal as decimal text (what a name built from
    hashtext would carry)."""
    row = conn.execute(
        "select hashtext(%(u)s), hashtext(replace(%(u)s, '-', '')), hashtextextended(%(u)s, 0)",
        {"u": principal},
    ).fetchone()
    assert row is not None
    return {str(abs(number)) for number in row if abs(number) >= 10_000_000}


@dataclasses.dataclass(frozen=True)
class Traces:
    """Forbidden texts (lower-case), each with what it is."""

    texts: dict[str, str]

    def found_in(self, blob: str) -> list[str]:
        lowered = blob.lower()
        return sorted({label for text, label in self.texts.items() if text in lowered})

    def excerpt(self, blob: str, width: int = 160) -> str:
        """The blob around the first forbidden text in it."""
        lowered = blob.lower()
        first = min((lowered.find(text) for text in self.texts if text in lowered), default=0)
        start = max(0, first - width // 2)
        return blob[start : start + width]


def principal_traces(conn: psycopg.Connection, name: str) -> dict[str, str]:
    principal, store = PRINCIPALS[name]
    texts = {trace.lower(): f"{name}'s principal ({trace})" for trace in uuid_traces(principal)}
    texts.update(
        (trace, f"{name}'s principal (hashtext {trace})")
        for trace in hashtext_traces(conn, principal)
    )
    if store is not None:
        texts[store.lower()] = f"{name}'s store name"
        if name != "Online":  # "online" is a word; its full store name is still forbidden
            texts[name.lower()] = f"{name}'s store name"
    return texts


# --- Running the cases. ---------------------------------------------------------------------


@dataclasses.dataclass
class Finding:
    """What happened in one case."""

    case: Case
    attacks: list[Answer] = dataclasses.field(default_factory=list)
    victim_calls: list[Answer] = dataclasses.field(default_factory=list)
    in_flight: list[list[int]] = dataclasses.field(default_factory=list)  # per attack round
    problems: list[str] = dataclasses.field(default_factory=list)

    def summary(self) -> str:
        failed = sum(call.is_error for call in self.victim_calls)
        return (
            f"{self.case.case_id}: {len(self.attacks)} attack calls, "
            f"{len(self.victim_calls)} victim calls ({failed} failed)"
        )


def problems(findings: Iterable[Finding]) -> list[str]:
    """Every problem of every case, as '<case id>: <problem>' lines; empty when all hold."""
    return [
        f"{finding.case.case_id}: {problem}" for finding in findings for problem in finding.problems
    ]


def client(url: str, key: str) -> Client:
    return Client(
        streamable_http_client(
            url,
            http_client=httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30),
        )
    )


async def send(session: Client, who: str, tool: str, arguments: dict[str, Any]) -> Answer:
    sent = time.monotonic()
    try:
        result = await session.call_tool(tool, arguments)
    except Exception as error:  # a protocol-level error is an answer too
        return Answer(
            who, tool, sent, time.monotonic(), True, f"{type(error).__name__}: {error}", None
        )
    text = "\n".join(getattr(block, "text", "") for block in result.content)
    return Answer(
        who, tool, sent, time.monotonic(), bool(result.is_error), text, result.structured_content
    )


@dataclasses.dataclass(frozen=True)
class VictimCall:
    tool: str
    arguments: dict[str, Any]
    secrets: dict[str, str]  # forbidden text -> what it is


def victim_call(tool: str, sleep: float) -> VictimCall:
    marker = f"zvm{secrets.token_hex(6)}"
    literal = f"lit{secrets.token_hex(6)}"
    surname = f"Sur{secrets.token_hex(5)}"
    sql = (
        f"select /* {marker} */ pg_sleep({sleep})::text as slept, count(*) as matches "
        "from retail.customers as c "
        f"where c.email = 'vip.{literal}@example.com' or c.last_name = '{surname}'"
    )
    arguments: dict[str, Any] = {"postgresql_query": sql}
    if tool == EXPLAIN:
        arguments["analyze"] = True
    return VictimCall(
        tool,
        arguments,
        {
            marker.lower(): "the victim's marker",
            literal.lower(): "the victim's literal email",
            surname.lower(): "the victim's literal surname",
        },
    )


class Runner:
    """Runs cases one after another against one server; see the module's docstring."""

    def __init__(
        self,
        server_url: str,
        keys: dict[str, str],
        admin: psycopg.AsyncConnection,
        traces: dict[str, dict[str, str]],
        *,
        victim_sleep: float,
        stall_seconds: float,
        in_flight_timeout: float,
    ) -> None:
        self.server_url = server_url
        self.keys = keys
        self.admin = admin
        self.traces = traces
        self.victim_sleep = victim_sleep
        self.stall_seconds = stall_seconds
        self.in_flight_timeout = in_flight_timeout
        self.logins: dict[str, str | None] = {}

    async def login_of(self, who: str) -> str | None:
        """The login role a principal's calls run as (session_user, which no query can
        change), asked once through the server."""
        if who not in self.logins:
            async with client(self.server_url, self.keys[who]) as session:
                answer = await send(
                    session, who, QUERY, {"postgresql_query": "select session_user::text as login"}
                )
            logins = answer.column("login")
            self.logins[who] = logins[0] if logins else None
        return self.logins[who]

    async def victims_in_flight(self, login: str | None) -> list[int]:
        """Waits until a victim backend is freshly asleep in its call (so that it stays
        in flight while the attack arrives); its pids, or [] after the timeout."""
        fresh = self.victim_sleep / 2
        deadline = time.monotonic() + self.in_flight_timeout
        while time.monotonic() < deadline:
            cursor = await self.admin.execute(
                "select coalesce(array_agg(pid order by pid), '{}') from pg_stat_activity "
                "where datname = current_database() and pid <> pg_backend_pid() "
                "and state = 'active' and wait_event = 'PgSleep' "
                "and (%(login)s::text is null or usename = %(login)s::text) "
                "and clock_timestamp() - query_start < %(fresh)s * interval '1 second'",
                {"login": login, "fresh": fresh},
            )
            row = await cursor.fetchone()
            if row and row[0]:
                return list(row[0])
            await anyio.sleep(0.01)
        return []

    async def surviving_advisory_locks(self, excluded: Sequence[int]) -> list[str]:
        """Advisory locks held by idle backends of the database (left by a call), waiting
        a little for the server to clean connections that went back to its pool."""
        deadline = time.monotonic() + 3
        while True:
            cursor = await self.admin.execute(
                "select l.pid, l.mode, l.classid, l.objid, l.objsubid "
                "from pg_locks l join pg_stat_activity a on a.pid = l.pid "
                "where l.locktype = 'advisory' and l.granted and a.datname = current_database() "
                "and a.state like 'idle%%' and l.pid <> pg_backend_pid() and l.pid <> all(%s)",
                (list(excluded),),
            )
            held = [
                f"pid {pid} holds {mode} on ({k1}, {k2}, {kind})"
                for pid, mode, k1, k2, kind in await cursor.fetchall()
            ]
            if not held or time.monotonic() > deadline:
                return held
            await anyio.sleep(0.05)

    async def settle(self, names: Iterable[str]) -> None:
        """A few quick calls per principal, so that a pooled connection a previous case
        broke (terminated) is found and replaced before this case counts failures."""
        async with anyio.create_task_group() as group:
            for who in set(names):
                group.start_soon(self._settle_one, who)

    async def _settle_one(self, who: str) -> None:
        async with client(self.server_url, self.keys[who]) as session:
            for _ in range(2):
                async with anyio.create_task_group() as group:
                    for _ in range(6):
                        group.start_soon(
                            send, session, who, QUERY, {"postgresql_query": "select 1"}
                        )

    @contextlib.asynccontextmanager
    async def outside_lock(self, wanted: bool, admin_url: str) -> AsyncIterator[list[int]]:
        """While the block runs, an outside session holds OUTSIDE_LOCK_KEY (when wanted);
        yields that session's pid."""
        if not wanted:
            yield []
            return
        async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as holder:
            await holder.execute("select pg_advisory_lock(%s)", (OUTSIDE_LOCK_KEY,))
            try:
                yield [holder.info.backend_pid]
            finally:
                await holder.execute("select pg_advisory_unlock_all()")

    async def run(self, case: Case, admin_url: str) -> Finding:
        finding = Finding(case)
        victim_login = await self.login_of(case.victim)
        attacker_logins = {who: await self.login_of(who) for who in case.attackers}
        await self.settle([case.victim, *case.attackers])
        call = victim_call(case.victim_tool, self.victim_sleep)
        stop = anyio.Event()
        logs: list[list[Answer]] = [[], []]

        async def victim_loop(log: list[Answer]) -> None:
            async with client(self.server_url, self.keys[case.victim]) as session:
                for _ in range(200):  # bounded; stop ends it much earlier
                    if stop.is_set():
                        return
                    log.append(await send(session, case.victim, call.tool, call.arguments))

        try:
            with anyio.fail_after(self.in_flight_timeout * (case.repeat + 2) + 60):
                async with (
                    contextlib.AsyncExitStack() as stack,
                    self.outside_lock(case.outside_lock, admin_url) as outside_pids,
                ):
                    sessions = [
                        (
                            who,
                            await stack.enter_async_context(
                                client(self.server_url, self.keys[who])
                            ),
                        )
                        for who in case.attackers
                    ]
                    async with anyio.create_task_group() as group:
                        group.start_soon(victim_loop, logs[0])
                        await self.attack_rounds(
                            case, finding, victim_login, sessions, group, victim_loop, logs
                        )
                        stop.set()
                leftovers = await self.surviving_advisory_locks(outside_pids)
        except TimeoutError:
            stop.set()
            finding.problems.append("the case did not finish in time")
            leftovers = []
        finding.victim_calls = [answer for log in logs for answer in log]
        finding.problems += [
            f"a session advisory lock survived a call: {lock}" for lock in leftovers
        ]
        finding.problems += self.judge(case, finding, call, Context(victim_login, attacker_logins))
        return finding

    async def attack_rounds(
        self,
        case: Case,
        finding: Finding,
        victim_login: str | None,
        sessions: list[tuple[str, Client]],
        group: anyio.abc.TaskGroup,
        victim_loop: Callable[[list[Answer]], Any],
        logs: list[list[Answer]],
    ) -> None:
        """The case's attack rounds, each sent at once by every attacker (and copy) as
        soon as a victim backend is freshly in flight; then each victim session makes a
        whole call after the last attack answered, where anything the attack left behind
        (a lock, a broken connection) would show."""
        if not await self.victims_in_flight(victim_login):
            finding.problems.append("the victim's call was never seen in flight")
            return
        # The second victim session starts once the first is in flight, so that the two
        # overlap rather than run in step.
        group.start_soon(victim_loop, logs[1])
        answered = 0.0
        for _ in range(case.repeat):
            pids = await self.victims_in_flight(victim_login)
            if not pids:
                finding.problems.append("the victim's call was not in flight for an attack")
                return
            finding.in_flight.append(pids)
            answers: list[Answer] = []

            async def attack(
                who: str, session: Client, pids: list[int] = pids, answers: list[Answer] = answers
            ) -> None:
                answers.append(await send(session, who, case.tool, case.arguments(pids)))

            async with anyio.create_task_group() as attackers:
                for who, session in sessions:
                    for _ in range(case.parallel):
                        attackers.start_soon(attack, who, session)
            finding.attacks += answers
            answered = max(answer.done for answer in answers)
        deadline = time.monotonic() + 3 * (self.victim_sleep + self.stall_seconds) + 5
        while time.monotonic() < deadline and not all(
            any(answer.sent > answered for answer in log) for log in logs
        ):
            await anyio.sleep(0.02)

    def judge(self, case: Case, finding: Finding, call: VictimCall, context: Context) -> list[str]:
        found: list[str] = []
        forbidden = dict(call.secrets)
        forbidden.update(self.traces[case.victim])
        if case.names:
            for texts in self.traces.values():
                forbidden.update(texts)
        traces = Traces(forbidden)
        for answer in finding.attacks:
            labels = traces.found_in(answer.blob)
            if labels:
                found.append(
                    f"{answer.who}'s answer shows {', '.join(labels)}: "
                    f"...{traces.excerpt(answer.blob)!r}..."
                )
            if "Traceback" in answer.text:
                found.append(f"{answer.who}'s answer carries a stack trace")
            for check in case.checks:
                found += check(context, answer)
        if not finding.victim_calls or not any(
            v.sent <= a.sent <= v.done for v in finding.victim_calls for a in finding.attacks
        ):
            found.append("no victim call was in flight when an attack was sent")
        limit = self.victim_sleep + self.stall_seconds
        for answer in finding.victim_calls:
            if answer.is_error:
                found.append(
                    f"a victim call failed after {answer.elapsed:.2f} s: {answer.text[:300]!r}"
                )
            elif answer.elapsed > limit:
                found.append(
                    f"a victim call stalled: {answer.elapsed:.2f} s, more than {limit:.2f} s"
                )
        return found


async def run_isolation_cases(
    server_url: str,
    keys: dict[str, str],
    admin_url: str,
    cases: Sequence[Case] = CASES,
    *,
    victim_sleep: float = 0.6,
    stall_seconds: float = 1.5,
    in_flight_timeout: float = 15.0,
) -> list[Finding]:
    """Run the cases one after another against the server at server_url; one Finding per
    case. See the module's docstring for the contract."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        traces = {name: principal_traces(conn, name) for name in PRINCIPALS}
    findings: list[Finding] = []
    async with await psycopg.AsyncConnection.connect(admin_url, autocommit=True) as admin:
        runner = Runner(
            server_url,
            keys,
            admin,
            traces,
            victim_sleep=victim_sleep,
            stall_seconds=stall_seconds,
            in_flight_timeout=in_flight_timeout,
        )
        for each in cases:
            findings.append(await runner.run(each, admin_url))
    return findings
