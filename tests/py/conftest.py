"""Fixtures: databases in the tests' embedded PostgreSQL (or under DATABASE_URL's server
when a test says so). scripts/test.sh sets ZAVA_DATA_DIR; run alone, pytest uses the same
default, .zava/test-pgdata."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterator

import psycopg
import pytest

from zava_mcp import database, schema
from zava_mcp.config import PROJECT_ROOT, Settings
from zava_mcp.seed import seed

HEAD_OFFICE = "00000000-0000-0000-0000-000000000000"
SEATTLE = "f47ac10b-58cc-4372-a567-0e02b2c3d479"
REDMOND = "e7f8a9b0-c1d2-3e4f-5678-90abcdef1234"
UNKNOWN = "11111111-1111-1111-1111-111111111111"
STORE_IDS = {SEATTLE: 1, REDMOND: 6}


def test_settings(database_name: str) -> Settings:
    """Settings for a database of the tests' own embedded PostgreSQL."""
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env.setdefault("ZAVA_DATA_DIR", str(PROJECT_ROOT / ".zava" / "test-pgdata"))
    env["ZAVA_DATABASE"] = database_name
    return Settings.from_env(env)


@pytest.fixture(scope="session")
def seeded() -> Iterator[tuple[Settings, str]]:
    """A database built and seeded at a small scale, shared by the read-only tests."""
    settings = test_settings("zava_pytest")
    database.drop_embedded_database(settings)
    url = database.admin_url(settings)
    schema.build(url, settings)
    seed(url, scale=0.02, random_seed=7)
    yield settings, url


@pytest.fixture
def admin(seeded: tuple[Settings, str]) -> Iterator[psycopg.Connection]:
    with psycopg.connect(seeded[1]) as conn:
        yield conn


def login_url(settings: Settings, admin_url: str) -> str:
    """The admin DSN with the server's login role instead of the superuser."""
    params = psycopg.conninfo.conninfo_to_dict(admin_url)
    params["user"] = settings.login_role
    params.pop("password", None)
    return psycopg.conninfo.make_conninfo(**params)


def replace_database(settings: Settings, name: str) -> Settings:
    return dataclasses.replace(settings, database_name=name)
