"""Builds the database from db/: roles, schema, functions, policies, privileges.

The order is fixed and readable: db/roles.sql, then db/schema/, db/functions/ and
db/policies/ (each in file-name order), db/privileges.sql, and last db/principal_roles.sql
(a login role for every principal; seeding applies it again for the stores it adds).
Every file is idempotent, so building an already built database is safe and only
replaces functions and policies.
Jinja2 renders the few values that vary (role names, the vector dimension) and nothing
else.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import jinja2
import psycopg

from zava_mcp.config import DB_DIR, Settings


class BuildError(RuntimeError):
    """The database cannot be built as configured; the message says why."""


def build_files(db_dir: Path = DB_DIR) -> list[Path]:
    """The files `db init` applies, in the order it applies them."""
    return [
        db_dir / "roles.sql",
        *sorted((db_dir / "schema").glob("*.sql")),
        *sorted((db_dir / "functions").glob("*.sql")),
        *sorted((db_dir / "policies").glob("*.sql")),
        db_dir / "privileges.sql",
        db_dir / PRINCIPAL_ROLES,
    ]


PRINCIPAL_ROLES = "principal_roles.sql"


def render(path: Path, settings: Settings) -> str:
    environment = jinja2.Environment(
        undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=True
    )
    return environment.from_string(path.read_text()).render(settings.template_values)


def build(
    url: str, settings: Settings, on_file: Callable[[Path], None] = lambda path: None
) -> None:
    """Apply every build file in one transaction (all or nothing)."""
    files = build_files()
    rendered = [(path, render(path, settings)) for path in files]
    with psycopg.connect(url) as conn:
        server_version = conn.info.server_version
        if server_version < 160000:
            raise BuildError(
                f"PostgreSQL {server_version // 10000} is too old: zava-mcp needs 16 or newer"
            )
        # One build at a time: a second `db init` waits for the first.
        conn.execute("select pg_advisory_xact_lock(hashtext('zava-mcp db init'))")
        _check_embedding_dimension(conn, settings)
        for path, text in rendered:
            on_file(path)
            try:
                conn.execute(text)
            except psycopg.Error as error:
                raise BuildError(f"{path.relative_to(DB_DIR.parent)}: {error}") from error


def _check_embedding_dimension(conn: psycopg.Connection, settings: Settings) -> None:
    row = conn.execute(
        """
        select attribute.atttypmod
        from pg_attribute as attribute
        where attribute.attrelid = to_regclass('retail.product_description_embeddings')
          and attribute.attname = 'description_embedding'
        """
    ).fetchone()
    if row and row[0] != settings.embedding_dim:
        raise BuildError(
            f"the database stores {row[0]}-dimensional embeddings but ZAVA_EMBEDDING_DIM is "
            f"{settings.embedding_dim}; rebuild with `zava-mcp db reset` or set the old dimension"
        )
