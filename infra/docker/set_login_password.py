"""Gives the server's login role (ZAVA_LOGIN_ROLE, zava_server) its password, and every
principal's login role (zava_p_..., db/principal_roles.sql) the password the server
derives from it (zava_mcp.database.principal_password), so the server can log in as each
principal with one secret.

    DATABASE_URL=<administrator DSN> ZAVA_SERVER_PASSWORD=<password> \
        python infra/docker/set_login_password.py

The password never reaches the database server in clear: like psql's \\password, this
sends a SCRAM-SHA-256 verifier computed here, so it cannot show up in the server's
statement log. The compose `init` service and the Azure init job run it after
`zava-mcp db init` and seeding (which create the roles without a password); run it again
after `db init` gives a new store's manager a role.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import sys

ITERATIONS = 4096  # PostgreSQL's default scram_iterations


def scram_verifier(password: str, salt: bytes, iterations: int = ITERATIONS) -> str:
    """The SCRAM-SHA-256 verifier PostgreSQL stores for this password (RFC 5802/7677)."""
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", "sha256").digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()

    def b64(data: bytes) -> str:
        return base64.b64encode(data).decode()

    return f"SCRAM-SHA-256${iterations}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def check_password(password: str) -> None:
    # Printable ASCII only: SASLprep leaves it unchanged, so the verifier computed here is
    # the one a client's SCRAM exchange expects.
    if len(password) < 16 or not all(33 <= ord(char) <= 126 for char in password):
        raise ValueError(
            "ZAVA_SERVER_PASSWORD must be at least 16 printable ASCII characters without "
            "spaces (e.g. `openssl rand -hex 24`)"
        )


def main() -> int:
    import psycopg
    from psycopg import sql

    url = os.environ.get("DATABASE_URL")
    password = os.environ.get("ZAVA_SERVER_PASSWORD")
    role = os.environ.get("ZAVA_LOGIN_ROLE") or "zava_server"
    if not url or not password:
        print(
            "set-login-password: DATABASE_URL and ZAVA_SERVER_PASSWORD are required",
            file=sys.stderr,
        )
        return 2
    try:
        check_password(password)
    except ValueError as error:
        print(f"set-login-password: {error}", file=sys.stderr)
        return 2
    from zava_mcp.database import principal_password, principal_roles

    passwords = {role: password}
    passwords.update((name, principal_password(password, name)) for name in principal_roles(url))
    with psycopg.connect(url, autocommit=True) as conn:
        for name, secret in passwords.items():
            verifier = scram_verifier(secret, secrets.token_bytes(16))
            conn.execute(
                sql.SQL("alter role {} password {}").format(
                    sql.Identifier(name), sql.Literal(verifier)
                )
            )
    print(f"set-login-password: {role} and {len(passwords) - 1} principal roles have passwords")
    return 0


if __name__ == "__main__":
    sys.exit(main())
