"""Callers are invisible to one another (DESIGN.md properties 2, 6 and 10): the
concurrent-caller attacks of isolation_cases.py, each with a victim's calls in flight
while an attacker's run, against a real server over HTTP on two databases:

- the superuser-built test database (conftest's `served`), where `db init` could revoke
  what only a superuser may revoke;
- a managed-like database, built, seeded and keyed by an administrator that is no
  superuser (CREATEROLE and CREATEDB only, as on Azure Database for PostgreSQL), where
  pg_cancel_backend and pg_terminate_backend stay executable by PUBLIC.

Each case is one test per database: no marker, literal value, principal or store name of
the victim shows in the attacker's answers, and every victim call succeeded in time."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from conftest import (
    HEAD_OFFICE,
    REDMOND,
    SEATTLE,
    managed_like_database,
    run_server,
    server_settings,
)
from isolation_cases import CASES, Case, Finding, problems, run_isolation_cases
from zava_mcp import database, schema
from zava_mcp.identity import create_key
from zava_mcp.seed import seed

CASE_IDS = [case.case_id for case in CASES]
KEYED = {"head office": HEAD_OFFICE, "Seattle": SEATTLE, "Redmond": REDMOND}


@dataclasses.dataclass(frozen=True)
class Target:
    """A running server and what the runner needs to attack it."""

    url: str
    keys: dict[str, str]
    admin_url: str  # sees every session (a superuser here)


def report(findings: list[Finding]) -> dict[str, Finding]:
    by_id = {finding.case.case_id: finding for finding in findings}
    assert list(by_id) == CASE_IDS
    return by_id


def assert_case_holds(case: Case, findings: dict[str, Finding]) -> None:
    finding = findings[case.case_id]
    if not finding.attacks:
        pytest.fail(f"no attack was sent: {finding.problems}", pytrace=False)
    if finding.problems:
        pytest.fail(finding.summary() + "\n" + "\n".join(problems([finding])), pytrace=False)


# --- The superuser-built test database. ------------------------------------------------------


@pytest.fixture(scope="module")
def superuser_built(served) -> dict[str, Finding]:
    target = Target(served.url, served.keys, served.admin_url)
    return report(asyncio.run(run_isolation_cases(target.url, target.keys, target.admin_url)))


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_on_the_superuser_built_database(case: Case, superuser_built) -> None:
    assert_case_holds(case, superuser_built)


# --- A managed-like database: its administrator is no superuser. -----------------------------


@pytest.fixture(scope="module")
def managed_like(seeded, local_provider) -> Iterator[Target]:
    """A database owned by a CREATEROLE, CREATEDB administrator that is no superuser, with
    pgvector created for it (as a managed service's allow-list does), built, seeded and
    keyed by that administrator, and a server on it with a 3 s budget."""
    with managed_like_database(seeded[0], "zava_pytest_isolation_managed", "isolation") as (
        settings,
        admin_url,
    ):
        with psycopg.connect(admin_url) as conn:
            superuser = conn.execute(
                "select rolsuper from pg_roles where rolname = current_user"
            ).fetchone()
        assert superuser == (False,)
        schema.build(admin_url, settings)
        seed(admin_url, scale=0.01, random_seed=13, settings=settings)
        keys = {
            who: create_key(admin_url, uuid.UUID(principal), f"isolation: {who}")[1]
            for who, principal in KEYED.items()
        }
        # The observer of the victims' backends: the embedded superuser, in this database.
        observer = database.admin_url(dataclasses.replace(settings, database_url=None))
        with run_server(server_settings(settings, time_budget_seconds=3.0), local_provider) as base:
            yield Target(f"{base}/mcp", keys, observer)


@pytest.fixture(scope="module")
def managed_findings(managed_like: Target) -> dict[str, Finding]:
    return report(
        asyncio.run(
            run_isolation_cases(managed_like.url, managed_like.keys, managed_like.admin_url)
        )
    )


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_on_a_managed_like_database(case: Case, managed_findings) -> None:
    assert_case_holds(case, managed_findings)


def test_the_managed_like_administrator_could_not_revoke_signalling(managed_like) -> None:
    """The premise of the managed-like run: PUBLIC may still execute pg_cancel_backend and
    pg_terminate_backend there, so only who the callers are keeps them apart."""
    with psycopg.connect(managed_like.admin_url) as conn:
        executable = conn.execute(
            "select bool_and(has_function_privilege('public', f, 'execute')) from unnest("
            "array['pg_cancel_backend(integer)', 'pg_terminate_backend(integer, bigint)']"
            "::regprocedure[]) f"
        ).fetchone()
    assert executable == (True,)


def test_the_suite_has_thirty_cases_of_two_callers_or_more() -> None:
    assert len(CASES) >= 30
    assert len(set(CASE_IDS)) == len(CASE_IDS)
    assert all(case.victim not in case.attackers for case in CASES)
