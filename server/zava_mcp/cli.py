"""The `zava-mcp` command."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import shutil
import socket
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import psycopg
from dotenv import load_dotenv
from rich.console import Console

from zava_mcp import __version__, database, schema
from zava_mcp import workers as workers_module
from zava_mcp.calls import Database, OutdatedSchema, UnsafeLoginRole
from zava_mcp.config import ConfigError, Settings
from zava_mcp.embeddings import (
    EmbeddingError,
    QueryEmbedder,
    embed_products,
    provider_from_settings,
)
from zava_mcp.identity import create_key, hash_key, list_keys, revoke_key
from zava_mcp.seed import seed

if TYPE_CHECKING:
    from zava_mcp.tools import Runtime

console = Console(stderr=True, highlight=False, soft_wrap=True)

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
# Demo keys expire: the demo prints new ones on every run.
DEMO_KEY_DAYS = 30
DEMO_PRINCIPALS = {
    "head office": "00000000-0000-0000-0000-000000000000",
    "Seattle": "f47ac10b-58cc-4372-a567-0e02b2c3d479",
    "Redmond": "e7f8a9b0-c1d2-3e4f-5678-90abcdef1234",
}


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    # `db psql` hands psql whatever follows it, options included.
    args, psql_args = parser.parse_known_args(argv)
    if getattr(args, "run", None) is _db_psql:
        args.psql_args = psql_args
    elif psql_args:
        parser.error(f"unrecognized arguments: {' '.join(psql_args)}")
    if not hasattr(args, "run"):
        parser.print_help()
        sys.exit(2)
    load_dotenv(os.path.join(os.getcwd(), ".env"), override=False)
    try:
        settings = Settings.from_env()
        args.run(settings, args)
    except (
        ConfigError,
        schema.BuildError,
        EmbeddingError,
        OutdatedSchema,
        UnsafeLoginRole,
        ValueError,
    ) as error:
        console.print(f"[red]error:[/red] {error}")
        sys.exit(1)
    except psycopg.OperationalError as error:
        console.print(f"[red]cannot reach the database:[/red] {error}")
        sys.exit(1)
    except psycopg.Error as error:
        console.print(f"[red]database error:[/red] {error}")
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zava-mcp",
        description="A SQL-first MCP server over PostgreSQL (the Zava retail sample).",
    )
    parser.add_argument("--version", action="version", version=f"zava-mcp {__version__}")
    commands = parser.add_subparsers(title="commands")

    demo = commands.add_parser(
        "demo", help="build, seed and embed the database, print keys for three principals, serve"
    )
    _serve_options(demo)
    demo.set_defaults(run=_demo)

    serve = commands.add_parser("serve", help="serve the tools (Streamable HTTP at /mcp, or stdio)")
    _serve_options(serve)
    serve.add_argument(
        "--transport",
        choices=["http", "stdio"],
        default="http",
        help="http (default), or stdio for desktop clients, as the principal of ZAVA_API_KEY",
    )
    serve.set_defaults(run=_serve)

    embed = commands.add_parser("embed", help="(re)compute product embeddings")
    embed.add_argument(
        "--missing-only",
        action="store_true",
        help="only products without a vector from the configured model",
    )
    embed.set_defaults(run=_embed)

    keys = commands.add_parser("keys", help="create, list and revoke API keys")
    key_commands = keys.add_subparsers(title="keys commands")
    create = key_commands.add_parser("create", help="create a key and print it (shown once)")
    create.add_argument("--user", required=True, type=uuid.UUID, help="the principal's uuid")
    create.add_argument("--name", default="", help="a label, e.g. who holds the key")
    create.add_argument("--expires", type=int, metavar="DAYS", help="days until it expires")
    create.set_defaults(run=_keys_create)
    key_commands.add_parser("list", help="list keys (never the keys themselves)").set_defaults(
        run=_keys_list
    )
    revoke = key_commands.add_parser("revoke", help="revoke a key now")
    revoke.add_argument("key_id", type=uuid.UUID)
    revoke.set_defaults(run=_keys_revoke)

    db = commands.add_parser("db", help="build, seed and reach the database")
    db_commands = db.add_subparsers(title="db commands")
    db_commands.add_parser(
        "url", help='print the administrator DSN (psql "$(zava-mcp db url)")'
    ).set_defaults(run=_db_url)
    psql = db_commands.add_parser(
        "psql",
        help="psql as the administrator (the embedded PostgreSQL's own psql 18), or with "
        "--as, logged in as a principal's role as its tool calls are; what follows goes to "
        "psql, e.g. zava-mcp db psql -c 'select 1'",
    )
    psql.add_argument(
        "--as",
        dest="principal",
        type=uuid.UUID,
        metavar="UUID",
        help="log in as this principal's role (a store's rls_user_id, or head office)",
    )
    psql.set_defaults(run=_db_psql)
    db_commands.add_parser(
        "init", help="create or update roles, schema, functions and policies"
    ).set_defaults(run=_db_init)
    for name, helptext, run in (
        ("seed", "replace the retail data with generated sample data", _db_seed),
        ("reset", "drop everything, build again and seed", _db_reset),
    ):
        command = db_commands.add_parser(name, help=helptext)
        command.add_argument(
            "--scale",
            type=float,
            default=1.0,
            help="size factor: 1 is ~50,000 customers and ~200,000 orders (default 1)",
        )
        command.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
        command.set_defaults(run=run)
    db_commands.add_parser("stop", help="stop the embedded PostgreSQL").set_defaults(run=_db_stop)
    return parser


def _serve_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", help="address to listen on (default ZAVA_HOST or 127.0.0.1)")
    parser.add_argument("--port", type=int, help="port (default ZAVA_PORT or 8000)")
    parser.add_argument(
        "--identity",
        choices=["keys", "header"],
        help="keys (default): bearer API keys; header: the reference's x-rls-user-id",
    )
    parser.add_argument(
        "--read-url",
        action="append",
        dest="read_urls",
        metavar="URL",
        help="a hot standby to serve tool calls (repeatable; default ZAVA_READ_URLS); "
        "the primary serves them when no standby answers",
    )
    parser.add_argument(
        "--workers",
        type=int,
        help="server processes sharing the port, for hosts with more cores (default "
        "ZAVA_WORKERS or 1; needs --stateless); the limits are divided between them",
    )
    parser.add_argument(
        "--stateless",
        action="store_true",
        default=None,
        help="stateless Streamable HTTP (no sessions), for several servers behind a balancer",
    )


def _with_serve_options(settings: Settings, args: argparse.Namespace) -> Settings:
    given = {
        "host": args.host,
        "port": args.port,
        "identity": args.identity,
        "stateless": args.stateless,
        "read_urls": tuple(args.read_urls) if args.read_urls else None,
        "workers": args.workers,
    }
    changes = {name: value for name, value in given.items() if value is not None}
    return dataclasses.replace(settings, server=dataclasses.replace(settings.server, **changes))


def _serve(settings: Settings, args: argparse.Namespace) -> None:
    settings = _with_serve_options(settings, args)
    if args.transport == "stdio":
        if settings.server.workers > 1:
            raise ConfigError("stdio serves one client from one process: --workers is for HTTP")
        asyncio.run(_serve_stdio(settings))
    else:
        _serve_http(settings)


def _serve_http(settings: Settings) -> None:
    import uvicorn

    from zava_mcp.http_server import uvicorn_config
    from zava_mcp.observability import configure_json_logs
    from zava_mcp.tools import build_server, http_app

    configure_json_logs()
    if settings.server.identity == "header" and settings.server.host not in LOOPBACK:
        console.print(
            f"[yellow]warning:[/yellow] header identity on {settings.server.host}: anyone who "
            "can reach this address can claim any principal; use API keys beyond this machine"
        )
    workers = settings.server.workers
    if workers > 1 and not settings.server.stateless:
        raise ConfigError(
            f"{workers} workers need --stateless (ZAVA_STATELESS=true): an MCP session lives "
            "in one process, and its client's next request may reach another"
        )
    console.print(
        f"serving MCP at http://{settings.server.host}:{settings.server.port}/mcp "
        f"(identity: {settings.server.identity}, embeddings: {settings.embeddings.model}"
        + (f", {workers} workers" if workers > 1 else "")
        + ")"
    )
    if workers == 1:
        runtime = _runtime(settings)
        app = http_app(settings, build_server(settings, runtime), runtime)
        uvicorn.Server(uvicorn_config(app, settings.server)).run()
        return
    try:
        sockets = workers_module.listening_sockets(
            settings.server.host, settings.server.port, workers
        )
    except OSError as error:
        raise ConfigError(
            f"cannot serve on {settings.server.host}:{settings.server.port}: {error.strerror}"
        ) from None
    share = dataclasses.replace(settings, server=settings.server.worker_share())

    def serve(number: int) -> None:
        runtime = _runtime(share)
        app = http_app(share, build_server(share, runtime), runtime)
        uvicorn.Server(uvicorn_config(app, share.server)).run(sockets=[sockets[number]])

    sys.exit(workers_module.supervise(workers, serve))


async def _serve_stdio(settings: Settings) -> None:
    from zava_mcp.observability import configure_json_logs
    from zava_mcp.tools import build_server

    configure_json_logs()  # stderr: stdout carries the protocol
    key = os.environ.get("ZAVA_API_KEY")
    if not key:
        raise ValueError("stdio needs ZAVA_API_KEY: the API key whose principal it serves")
    runtime = _runtime(settings)
    # The key is checked before the embedding model starts loading, so that a wrong one
    # is reported at once.
    await runtime.start(load_model=False)
    try:
        principal = await runtime.database.authenticate_key(hash_key(key))
        if principal is None:
            raise ValueError("ZAVA_API_KEY is not a valid key (unknown, revoked or expired)")
        runtime.warm_up_in_background()
        server = build_server(settings, runtime, principal_source=lambda ctx: principal)
        await server.run_stdio_async()
    finally:
        await runtime.stop()


def _runtime(settings: Settings) -> Runtime:
    from zava_mcp.tools import Runtime

    provider = provider_from_settings(settings.embeddings)
    return Runtime.create(
        settings,
        Database.from_settings(settings),
        QueryEmbedder(provider, settings.embeddings.cache_size),
    )


def _embed(settings: Settings, args: argparse.Namespace) -> None:
    _embed_products(settings, only_missing=args.missing_only)


def _embed_products(settings: Settings, *, only_missing: bool) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    provider = provider_from_settings(settings.embeddings)
    url = database.admin_url(settings)
    started = time.perf_counter()

    async def load_then_embed() -> int:
        # Loading the local model takes a while: say so, rather than show a bar at 0.
        with console.status(f"loading {provider.model_name}"):
            await provider.warm_up()
        with Progress(
            "embedding products",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        ) as progress:
            task = progress.add_task("embed", total=None)
            return await embed_products(
                url,
                provider,
                only_missing=only_missing,
                owner_role=settings.owner_role,
                on_progress=lambda done, total: progress.update(task, completed=done, total=total),
            )

    count = asyncio.run(load_then_embed())
    if count:
        elapsed = time.perf_counter() - started
        console.print(f"embedded {count} products with {provider.model_name} in {elapsed:.1f} s")
    else:
        console.print(f"product embeddings are up to date ({provider.model_name})")


def _keys_create(settings: Settings, args: argparse.Namespace) -> None:
    if args.expires is not None and args.expires <= 0:
        raise ValueError("--expires takes a number of days above 0")
    expires = timedelta(days=args.expires) if args.expires is not None else None
    url = database.admin_url(settings)
    with psycopg.connect(url) as conn:
        label = conn.execute("select mcp_internal.principal_label(%s)", (args.user,)).fetchone()
    if label and label[0] == "unknown":
        console.print(
            f"[yellow]warning:[/yellow] {args.user} is neither head office nor a store's manager: "
            "the key will see no rows until a store names it (retail.stores.rls_user_id)"
        )
    key_id, key = create_key(url, args.user, args.name, expires)
    console.print(f"created key {key_id} for {args.user}; it is shown once, keep it now:")
    print(key)


def _keys_list(settings: Settings, args: argparse.Namespace) -> None:
    now = datetime.now(UTC)
    for record in list_keys(database.admin_url(settings)):
        if record.revoked_at:
            state = "revoked"
        elif record.expires_at and record.expires_at <= now:
            state = "expired"
        else:
            state = "valid"
        expires = record.expires_at.date().isoformat() if record.expires_at else "never"
        print(
            f"{record.key_id}  {record.rls_user_id}  {state:<7}  expires {expires:<10}  {record.name}"
        )


def _keys_revoke(settings: Settings, args: argparse.Namespace) -> None:
    if not revoke_key(database.admin_url(settings), args.key_id):
        raise ValueError(f"there is no valid key {args.key_id}")
    console.print(f"revoked key {args.key_id}")


def _db_url(settings: Settings, args: argparse.Namespace) -> None:
    print(database.admin_url(settings))


def _db_psql(settings: Settings, args: argparse.Namespace) -> None:
    """Replace this process with psql on the administrator DSN: the embedded PostgreSQL's
    psql (a client as new as the server), else the first psql on PATH."""
    url = database.admin_url(settings)  # starts the embedded PostgreSQL when needed
    if args.principal:
        url = database.principal_url(settings, args.principal)
    try:
        bundled: Path | None = database.embedded_bin_dir() / "psql"
    except ImportError:  # an installation without the embedded PostgreSQL
        bundled = None
    program = str(bundled) if bundled and bundled.exists() else shutil.which("psql")
    if program is None:
        raise ConfigError("no psql found: install PostgreSQL's client (Debian: postgresql-client)")
    sys.stdout.flush()
    os.execv(program, [program, url, *args.psql_args])


def _db_init(settings: Settings, args: argparse.Namespace) -> None:
    _init(settings)


def _db_seed(settings: Settings, args: argparse.Namespace) -> None:
    _seed(settings, args.scale, args.seed)


def _db_reset(settings: Settings, args: argparse.Namespace) -> None:
    if settings.database_url:
        _drop_schemas(settings.database_url)
    else:
        database.drop_embedded_database(settings)
    _init(settings)
    _seed(settings, args.scale, args.seed)


def _db_stop(settings: Settings, args: argparse.Namespace) -> None:
    if settings.database_url:
        raise ValueError("DATABASE_URL is set: there is no embedded PostgreSQL to stop")
    stopped = database.stop_embedded(settings)
    console.print(
        "embedded PostgreSQL stopped" if stopped else "embedded PostgreSQL was not running"
    )


def _demo(settings: Settings, args: argparse.Namespace) -> None:
    """Everything a first look needs, on the embedded database, then the server."""
    settings = _with_serve_options(settings, args)
    _refuse_a_busy_port(settings.server.host, settings.server.port)
    url = database.admin_url(settings)
    _init(settings)
    with psycopg.connect(url) as conn:
        seeded = conn.execute("select exists (select from retail.orders)").fetchone()[0]  # type: ignore[index]
    if seeded:
        console.print("sample data already loaded (zava-mcp db reset generates it again)")
    else:
        _seed(settings, 1.0, 42)
    _embed_products(settings, only_missing=True)
    endpoint = f"http://{settings.server.host}:{settings.server.port}/mcp"
    console.print()
    console.print(
        f"[bold]API keys[/bold] for {endpoint} (new ones on every demo run, valid for "
        f"{DEMO_KEY_DAYS} days):"
    )
    for who, principal in DEMO_PRINCIPALS.items():
        _, key = create_key(
            url, uuid.UUID(principal), f"demo: {who}", timedelta(days=DEMO_KEY_DAYS)
        )
        console.print(f"  {who:<12} {key}")
    console.print(
        "Give one to your MCP client as 'Authorization: Bearer <key>' (README: VS Code, Claude). "
        "A DBA can look too: .venv/bin/zava-mcp db psql"
    )
    console.print()
    _serve_http(settings)


def _refuse_a_busy_port(host: str, port: int) -> None:
    """Stop before anything is built or a key made when the demo could not serve."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
        try:
            probe.bind((host, port))
        except OSError as error:
            raise ConfigError(
                f"cannot serve on {host}:{port}: {error.strerror} (another demo or server "
                f"running?); stop it, or pick another port: --port {port + 1} or "
                f"ZAVA_PORT={port + 1}"
            ) from None


def _init(settings: Settings) -> None:
    url = database.admin_url(settings)
    started = time.perf_counter()
    with console.status("building the database"):
        schema.build(url, settings)
    elapsed = time.perf_counter() - started
    console.print(f"database built ({len(schema.build_files())} files, {elapsed:.1f} s)")


def _seed(settings: Settings, scale: float, random_seed: int) -> None:
    url = database.admin_url(settings)
    console.print(f"generating sample data (scale {scale:g}, seed {random_seed})")

    def on_step(step: str, seconds: float) -> None:
        console.print(f"  {step:<16} {seconds:6.1f} s")

    report = seed(url, scale=scale, random_seed=random_seed, settings=settings, on_step=on_step)
    counts = ", ".join(f"{count:,} {table}" for table, count in report.counts.items())
    console.print(f"sample data loaded in {report.seconds:.1f} s: {counts}")


def _drop_schemas(url: str) -> None:
    roles = database.principal_roles(url)
    with psycopg.connect(url) as conn:
        conn.execute("drop schema if exists retail, mcp, mcp_internal cascade")
        database.drop_roles(conn, roles)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
