"""Building the database from db/: order, templating, idempotence, the DBA's view."""

from __future__ import annotations

import dataclasses

import psycopg
import pytest

from conftest import HEAD_OFFICE, SEATTLE, replace_database
from zava_mcp import database, schema
from zava_mcp.config import DB_DIR, ConfigError, Settings


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


def test_stateless_accepts_the_usual_spellings():
    assert Settings.from_env({"ZAVA_STATELESS": "on"}).server.stateless
    assert not Settings.from_env({"ZAVA_STATELESS": "off"}).server.stateless
