"""The `zava-mcp` command."""

from __future__ import annotations

import argparse
import sys
import time

import psycopg
from rich.console import Console

from zava_mcp import __version__, database, schema
from zava_mcp.config import ConfigError, Settings
from zava_mcp.seed import seed

console = Console(stderr=True, highlight=False, soft_wrap=True)

PRINCIPALS = {
    "head office": "00000000-0000-0000-0000-000000000000",
    "Seattle": "f47ac10b-58cc-4372-a567-0e02b2c3d479",
    "Redmond": "e7f8a9b0-c1d2-3e4f-5678-90abcdef1234",
}


def main(argv: list[str] | None = None) -> None:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        sys.exit(2)
    try:
        settings = Settings.from_env()
        args.run(settings, args)
    except (ConfigError, schema.BuildError, ValueError) as error:
        console.print(f"[red]error:[/red] {error}")
        sys.exit(1)
    except psycopg.OperationalError as error:
        console.print(f"[red]cannot reach the database:[/red] {error}")
        sys.exit(1)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zava-mcp",
        description="A SQL-first MCP server over PostgreSQL (the Zava retail sample).",
    )
    parser.add_argument("--version", action="version", version=f"zava-mcp {__version__}")
    commands = parser.add_subparsers(title="commands")

    demo = commands.add_parser(
        "demo", help="build and seed the embedded database, then say how to use it"
    )
    demo.set_defaults(run=_demo)

    db = commands.add_parser("db", help="build, seed and reach the database").add_subparsers(
        title="db commands"
    )
    url = db.add_parser("url", help='print the administrator DSN (psql "$(zava-mcp db url)")')
    url.set_defaults(run=_db_url)
    init = db.add_parser("init", help="create or update roles, schema, functions and policies")
    init.set_defaults(run=_db_init)
    for name, helptext, run in (
        ("seed", "replace the retail data with generated sample data", _db_seed),
        ("reset", "drop everything, build again and seed", _db_reset),
    ):
        command = db.add_parser(name, help=helptext)
        command.add_argument(
            "--scale",
            type=float,
            default=1.0,
            help="size factor: 1 is ~50,000 customers and ~200,000 orders (default 1)",
        )
        command.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
        command.set_defaults(run=run)
    stop = db.add_parser("stop", help="stop the embedded PostgreSQL")
    stop.set_defaults(run=_db_stop)
    return parser


def _db_url(settings: Settings, args: argparse.Namespace) -> None:
    print(database.admin_url(settings))


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
    url = database.admin_url(settings)
    _init(settings)
    with psycopg.connect(url) as conn:
        seeded = conn.execute("select exists (select from retail.orders)").fetchone()[0]
    if seeded:
        console.print("sample data already loaded (zava-mcp db reset to generate it again)")
    else:
        _seed(settings, 1.0, 42)
    console.print()
    console.print("[bold]The database is ready.[/bold] Connect as the administrator with:")
    console.print(f'  psql "{url}"')
    console.print("and see what a store manager sees (Seattle here):")
    console.print("  begin;")
    console.print(f"  select mcp.bind_principal('{PRINCIPALS['Seattle']}');")
    console.print(
        "  select mcp.run_query('select store_id, count(*) from retail.orders group by 1');"
    )
    console.print("  rollback;")


def _init(settings: Settings) -> None:
    url = database.admin_url(settings)
    started = time.perf_counter()
    with console.status("building the database"):
        schema.build(url, settings)
    console.print(
        f"database built ({len(schema.build_files())} files, {time.perf_counter() - started:.1f} s)"
    )


def _seed(settings: Settings, scale: float, random_seed: int) -> None:
    url = database.admin_url(settings)
    console.print(f"generating sample data (scale {scale:g}, seed {random_seed})")

    def on_step(step: str, seconds: float) -> None:
        console.print(f"  {step:<16} {seconds:6.1f} s")

    report = seed(url, scale=scale, random_seed=random_seed, on_step=on_step)
    counts = ", ".join(f"{count:,} {table}" for table, count in report.counts.items())
    console.print(f"sample data loaded in {report.seconds:.1f} s: {counts}")


def _drop_schemas(url: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("drop schema if exists retail, mcp, mcp_internal cascade")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
