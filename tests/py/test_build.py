"""Building the database from db/: order, templating, idempotence, the DBA's view."""

from __future__ import annotations

import dataclasses

import psycopg
import pytest

from conftest import HEAD_OFFICE, SEATTLE, replace_database
from zava_mcp import database, schema
from zava_mcp.config import DB_DIR, ConfigError, Settings
from zava_mcp.seed import seed


def test_build_order_is_roles_schema_functions_policies_privileges_principal_roles():
    files = schema.build_files()
    kinds = [path.parent.name if path.parent != DB_DIR else path.stem for path in files]
    order = ["roles", "schema", "functions", "policies", "privileges", "principal_roles"]
    assert [kind for i, kind in enumerate(kinds) if i == 0 or kinds[i - 1] != kind] == order
    assert all(path.exists() for path in files)


def test_templates_use_only_the_declared_values(seeded):
    settings = seeded[0]
    for path in schema.build_files():
        text = schema.render(path, settings)
        assert "{{" not in text and "{%" not in text, path


def test_rebuilding_is_safe_and_keeps_data(seeded, admin):
    settings, url = seeded
    before = admin.execute("select count(*) from retail.order_items").fetchone()[0]
    functions_before = admin.execute(
        "select count(*) from pg_proc where pronamespace in ('mcp'::regnamespace, "
        "'mcp_internal'::regnamespace)"
    ).fetchone()[0]
    admin.commit()
    schema.build(url, settings)
    schema.build(url, settings)
    assert admin.execute("select count(*) from retail.order_items").fetchone()[0] == before
    functions_after = admin.execute(
        "select count(*) from pg_proc where pronamespace in ('mcp'::regnamespace, "
        "'mcp_internal'::regnamespace)"
    ).fetchone()[0]
    assert functions_after == functions_before


def test_a_changed_embedding_dimension_is_a_clear_error(seeded):
    settings, url = seeded
    other = dataclasses.replace(
        settings, embeddings=dataclasses.replace(settings.embeddings, dimensions=1536)
    )
    with pytest.raises(schema.BuildError, match=r"384-dimensional.*1536"):
        schema.build(url, other)


def test_embedding_dimension_is_templated(seeded):
    settings = replace_database(seeded[0], "zava_pytest_dim")
    settings = dataclasses.replace(
        settings, embeddings=dataclasses.replace(settings.embeddings, dimensions=8)
    )
    database.drop_embedded_database(settings)
    url = database.admin_url(settings)
    schema.build(url, settings)
    with psycopg.connect(url) as conn:
        dims = conn.execute(
            "select atttypmod from pg_attribute where attrelid = "
            "'retail.product_description_embeddings'::regclass and attname = 'description_embedding'"
        ).fetchone()[0]
    assert dims == 8
    database.drop_embedded_database(settings)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("ZAVA_READER_ROLE", "reader; drop table x", "not a plain role name"),
        ("ZAVA_LOGIN_ROLE", "zava_owner", "three different roles"),
        ("ZAVA_EMBEDDING_DIM", "0", "between 1 and 16000"),
        ("ZAVA_EMBEDDING_DIM", "many", "not a whole number"),
        ("ZAVA_DATABASE", "zava-test", "not a plain database name"),
        ("ZAVA_POOL_MIN", "20", "need 0 <= min <= max"),
        ("ZAVA_STATELESS", "maybe", "not true or false"),
        ("ZAVA_PRINCIPAL_CALLS_MAX", "3", "must be at least ZAVA_PRINCIPAL_POOL_MAX=5"),
        ("ZAVA_AUDIT_QUEUE_MB", "0", "between 0.1 and 4096"),
        ("ZAVA_KEY_CACHE_SECONDS", "-1", "a revoked key is accepted for up to that long"),
        ("ZAVA_KEY_CACHE_SECONDS", "soon", "is not a number"),
        ("ZAVA_HTTP_READ_TIMEOUT", "0", "must be above 0"),
        ("ZAVA_HTTP_MAX_CONNECTIONS", "lots", "not a whole number"),
    ],
)
def test_bad_settings_are_refused_clearly(variable, value, message):
    with pytest.raises(ConfigError, match=message):
        Settings.from_env({variable: value})


def test_a_dba_binds_a_principal_from_psql_and_sees_that_view(admin):
    """The README's DBA flow: bind, run_query, roll back — as psql would send it."""
    total, seattle = admin.execute(
        "select count(*), count(*) filter (where store_id = 1) from retail.orders"
    ).fetchone()
    admin.execute("select mcp.bind_principal(%s)", (SEATTLE,))
    rows = admin.execute(
        "select mcp.run_query('select store_id, count(*) from retail.orders group by 1')"
    ).fetchone()[0]["rows"]
    assert rows == [[1, seattle]]
    admin.rollback()
    admin.execute("select mcp.bind_principal(%s)", (HEAD_OFFICE,))
    rows = admin.execute("select mcp.run_query('select count(*) from retail.orders')").fetchone()[
        0
    ]["rows"]
    assert rows == [[total]]
    assert total > seattle > 0


def test_the_local_provider_has_one_model():
    with pytest.raises(ConfigError, match="the local provider has one model"):
        Settings.from_env({"ZAVA_EMBEDDING_MODEL": "text-embedding-3-small"})
    settings = Settings.from_env({"OPENAI_BASE_URL": "http://127.0.0.1:11434/v1"})
    assert settings.embeddings.provider == "openai"
    assert settings.embedding_dim == 1536


def test_the_calls_in_flight_default_to_twice_the_pool():
    assert Settings.from_env({}).server.principal_calls_max == 10
    assert Settings.from_env({"ZAVA_PRINCIPAL_POOL_MAX": "8"}).server.principal_calls_max == 16


def test_stateless_accepts_the_usual_spellings():
    assert Settings.from_env({"ZAVA_STATELESS": "on"}).server.stateless
    assert not Settings.from_env({"ZAVA_STATELESS": "off"}).server.stateless


@pytest.fixture
def migrated(seeded):
    """A database built as an earlier version left it: the per-transaction binding table
    with a function and a policy built on it, and the login role a member of the reader."""
    settings = replace_database(seeded[0], "zava_pytest_migrate")
    database.drop_embedded_database(settings)
    url = database.admin_url(settings)
    schema.build(url, settings)
    seed(url, scale=0.01, random_seed=3, settings=settings)
    with psycopg.connect(url) as conn:
        conn.execute(
            """
            create unlogged table mcp_internal.principal_bindings (
                backend_pid integer primary key, transaction_id xid8 not null,
                rls_user_id uuid not null);
            create or replace function mcp_internal.record_binding(principal uuid) returns void
                language sql begin atomic
                insert into mcp_internal.principal_bindings values
                    (pg_backend_pid(), pg_current_xact_id(), principal); end;
            create policy "an old policy on the binding" on retail.stores for select
                using (exists (select from mcp_internal.principal_bindings));
            grant zava_reader to zava_server with inherit false, set true;
            """
        )
    yield settings, url
    database.drop_embedded_database(settings)


def test_db_init_migrates_an_earlier_binding_and_gives_new_stores_a_role(migrated):
    settings, url = migrated
    schema.build(url, settings)
    with psycopg.connect(url) as conn:
        leftovers = conn.execute(
            """
            select to_regclass('mcp_internal.principal_bindings'),
                   to_regprocedure('mcp_internal.record_binding(uuid)'),
                   (select count(*) from pg_policies where policyname = 'an old policy on the binding'),
                   pg_has_role('zava_server', 'zava_reader', 'member')
            """
        ).fetchone()
        assert leftovers == (None, None, 0, False)
        conn.execute(
            "insert into retail.stores (store_id, store_name, rls_user_id, is_online) "
            "values (9, 'Zava Retail Olympia', '5a5a5a5a-0000-4000-8000-000000000009', false)"
        )
    schema.build(url, settings)  # db init again: the new store's manager gets a role
    with psycopg.connect(url) as conn:
        roles = dict(
            conn.execute("select rls_user_id::text, role_name from mcp_internal.principal_roles")
        )
    assert len(roles) == 10 and roles[HEAD_OFFICE].startswith("zava_p_")
    olympia = "5a5a5a5a-0000-4000-8000-000000000009"
    with psycopg.connect(database.principal_url(settings, olympia)) as conn:
        stores = conn.execute("select array_agg(store_id) from retail.stores").fetchone()[0]
        visible = conn.execute("select mcp_internal.visible_store_ids()").fetchone()[0]
    assert stores == [1, 2, 3, 4, 5, 6, 7, 8, 9]  # the catalog, the same for every store
    assert visible == [9]
    # A store removed again: its manager's role stays, but gets no connection.
    with psycopg.connect(url) as conn:
        conn.execute("delete from retail.stores where store_id = 9")
    with pytest.raises(ValueError, match="has no login role"):
        database.principal_url(settings, olympia)
