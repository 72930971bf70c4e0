"""What every benchmark shares: the scratch database, timing statistics, results, and
the machinery that starts MCP servers and drives them with the official MCP client at N
concurrent clients, reading CPU and memory per process from /proc.

Benchmarks never assert a time. Each prints its figures as a table and saves them as
docs/benchmarks/<family>.json; report.py turns those files into docs/benchmarks.md.
Every figure that claims something is a ratio against a baseline measured in the same
run, so it holds on a noisy machine; absolute times are printed beside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import platform
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx2
import psycopg
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from psycopg import sql

from zava_mcp import database, schema
from zava_mcp.config import PROJECT_ROOT, Settings
from zava_mcp.seed import seed

RESULTS_DIR = PROJECT_ROOT / "docs" / "benchmarks"
# The benchmarks' own embedded PostgreSQL, never the demo's or the tests'.
BENCH_DATA_DIR = PROJECT_ROOT / ".zava" / "bench-pgdata"

HEAD_OFFICE = "00000000-0000-0000-0000-000000000000"
SEATTLE = "f47ac10b-58cc-4372-a567-0e02b2c3d479"
STORE_OF = {SEATTLE: 1}


def bench_settings(database_name: str, **env_overrides: str) -> Settings:
    """Settings for a database of the benchmarks' embedded PostgreSQL (DATABASE_URL is
    ignored: benchmarks drop and rebuild their databases)."""
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env["ZAVA_DATA_DIR"] = os.environ.get("ZAVA_BENCH_DATA_DIR", str(BENCH_DATA_DIR))
    env["ZAVA_DATABASE"] = database_name
    env.update(env_overrides)
    return Settings.from_env(env)


def fresh_database(settings: Settings) -> str:
    """Drop the settings' database, build the schema again and return its admin DSN."""
    database.drop_embedded_database(settings)
    url = database.admin_url(settings)
    schema.build(url, settings)
    return url


def sample_database(scale: float = 1.0, name: str = "zava_bench") -> tuple[Settings, str]:
    """The sample data at `scale` in a database of its own, built once and then reused
    (a marker comment on the database records the scale and the schema it was built
    with). The schema is applied again each time, so changed functions and policies are
    measured."""
    settings = bench_settings(name)
    marker = f"zava-mcp bench sample scale={scale!r}"
    if database_exists(settings):
        url = database.admin_url(settings)
        with psycopg.connect(url) as conn:
            found = conn.execute(
                "select shobj_description(oid, 'pg_database') from pg_database "
                "where datname = current_database()"
            ).fetchone()
        if found and found[0] == marker:
            schema.build(url, settings)
            return settings, url
    url = fresh_database(settings)
    seed(url, scale=scale, random_seed=42, settings=settings)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("vacuum analyze")
        conn.execute(
            sql.SQL("comment on database {} is {}").format(
                sql.Identifier(name), sql.Literal(marker)
            )
        )
    return settings, url


def database_exists(settings: Settings) -> bool:
    postgres = database.admin_url(bench_settings("postgres"))
    with psycopg.connect(postgres) as conn:
        found = conn.execute(
            "select 1 from pg_database where datname = %s", (settings.database_name,)
        ).fetchone()
    return found is not None


def save_figure(figure: Any, path: Path, dpi: int = 120) -> list[Path]:
    """Lay out, write and close a matplotlib figure; returns the files written."""
    import matplotlib.pyplot as plt

    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=dpi)
    plt.close(figure)
    return [path]


def database_marker(url: str, prefix: str) -> dict[str, Any] | None:
    """The record a benchmark left in its database's comment (after `prefix`): what the
    cached database was built from. None when there is none."""
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "select shobj_description(oid, 'pg_database') from pg_database "
            "where datname = current_database()"
        ).fetchone()
    if not row or not row[0] or not row[0].startswith(prefix):
        return None
    found: dict[str, Any] = json.loads(row[0][len(prefix) :])
    return found


def set_database_marker(url: str, settings: Settings, prefix: str, record: dict[str, Any]) -> None:
    """Leave `record` in the database's comment, after `prefix`."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            sql.SQL("comment on database {} is {}").format(
                sql.Identifier(settings.database_name),
                sql.Literal(prefix + json.dumps(record, sort_keys=True)),
            )
        )


def reference_policy(
    table: sql.Identifier, column: str, stores: sql.Identifier, role: sql.Identifier
) -> sql.Composed:
    """The Microsoft reference sample's store policy on one table, for `role`: a row is
    visible when the session setting app.current_rls_user_id is head office, or per row,
    an EXISTS finds its store with that rls_user_id."""
    return sql.SQL(
        "create policy {name} on {table} for select to {role} using ("
        "current_setting('app.current_rls_user_id', true) = {head_office} "
        "or exists (select 1 from {stores} as s where s.store_id = {table}.{column} "
        "and s.rls_user_id::text = current_setting('app.current_rls_user_id', true)))"
    ).format(
        name=sql.Identifier("reference design: a store's rows per row, EXISTS"),
        table=table,
        role=role,
        head_office=sql.Literal(HEAD_OFFICE),
        stores=stores,
        column=sql.Identifier(column),
    )


@dataclass(frozen=True)
class Timings:
    """Latencies of repeated calls (seconds) and the wall time they took together."""

    samples: list[float]
    wall_seconds: float

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples) * 1000

    def percentile_ms(self, percent: float) -> float:
        ordered = sorted(self.samples)
        index = min(len(ordered) - 1, max(0, round(percent / 100 * len(ordered)) - 1))
        return ordered[index] * 1000

    @property
    def throughput(self) -> float:
        """Calls per second over the whole run."""
        return len(self.samples) / self.wall_seconds if self.wall_seconds else 0.0

    def summary(self) -> dict[str, float]:
        return {
            "calls": len(self.samples),
            "median_ms": round(self.median_ms, 3),
            "p95_ms": round(self.percentile_ms(95), 3),
            "p99_ms": round(self.percentile_ms(99), 3),
            "throughput_per_s": round(self.throughput, 1),
        }


def time_calls(call: Callable[[], Any], count: int, warm_up: int = 5) -> Timings:
    """Call `call` warm_up times unmeasured, then count times, one after another."""
    for _ in range(warm_up):
        call()
    samples = []
    started = time.perf_counter()
    for _ in range(count):
        begun = time.perf_counter()
        call()
        samples.append(time.perf_counter() - begun)
    return Timings(samples, time.perf_counter() - started)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """The process and its descendants now (from /proc): a server's helpers count too."""
    children: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(parent, []).append(int(proc.name))
    found, pending = [], [pid]
    while pending:
        current = pending.pop()
        found.append(current)
        pending += children.get(current, [])
    return found


def tree_cpu_by_process(pid: int) -> dict[int, float]:
    """CPU time used so far by a process and each of its living descendants, by pid."""
    found = {}
    for each in process_tree(pid):
        with contextlib.suppress(OSError, ValueError, IndexError):
            found[each] = cpu_seconds(each)
    return found


def tree_pss_kib(pid: int) -> int:
    """Proportional set size of a process and its descendants (kB, smaps_rollup): shared
    pages are split between the processes that map them, so the sum is what they cost."""
    total = 0
    for each in process_tree(pid):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{each}/smaps_rollup").read_text().splitlines():
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
    return total


def backend_cpu_by_process(database_name: str) -> dict[int, float]:
    """CPU time used so far by each PostgreSQL backend connected to one database (their
    process titles name it), by pid."""
    found = {}
    needle = f" {database_name} ".encode()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            title = (proc / "cmdline").read_bytes().replace(b"\0", b" ")
            if title.startswith(b"postgres: ") and needle in title + b" ":
                found[int(proc.name)] = cpu_seconds(int(proc.name))
        except (OSError, ValueError, IndexError):
            continue
    return found


def cpu_used_between(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds the processes used between two readings by pid: a process that started
    in between counts from zero; one that exited in between is left out (its last
    seconds are lost, never its whole lifetime taken away: a pool closing an idle
    connection during a level once made a level's PostgreSQL CPU negative)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


class LoadSampler:
    """The machine's 1-minute load average, sampled every `every` seconds on a thread of
    its own while the block runs (it counts the benchmark's own processes too)."""

    def __init__(self, every: float = 5.0) -> None:
        self.every = every
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> LoadSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while True:
            self.samples.append(round(os.getloadavg()[0], 2))
            if self._stop.wait(self.every):
                return

    def summary(self) -> dict[str, Any]:
        found = self.samples or [round(os.getloadavg()[0], 2)]
        return {
            "every_seconds": self.every,
            "samples": len(found),
            "min": min(found),
            "median": round(statistics.median(found), 2),
            "max": max(found),
        }


def load_text(results: dict[str, Any]) -> str:
    """How loaded the machine was during a saved run, in words for the report."""
    during = results.get("load_during")
    if not during:
        averages = " / ".join(str(value) for value in results["machine"]["load_average"])
        return f"load average {averages} when saved"
    return (
        f"1-minute load {during['median']} median ({during['min']} to {during['max']}) during "
        f"the run on {results['machine'].get('cores')} cores"
    )


def ratio(value: float, baseline: float) -> float:
    return round(value / baseline, 3) if baseline else float("inf")


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = None
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                memory_gib = round(int(line.split()[1]) / 1024 / 1024, 1)
    except OSError:
        pass
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": memory_gib,
        "python": platform.python_version(),
        "load_average": [round(value, 2) for value in os.getloadavg()],
    }


def save_results(
    family: str, results: dict[str, Any], quick: bool = False, label: str | None = None
) -> Path:
    """Write docs/benchmarks/<family>.json, or <family>.<label>.json (quick runs go to
    <family>.quick.json, which the report ignores)."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    label = "quick" if quick else label
    path = RESULTS_DIR / (f"{family}.{label}.json" if label else f"{family}.json")
    document = {
        "family": family,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "commit": _commit(),
        "machine": machine(),
        "quick": quick,
        **results,
    }
    path.write_text(json.dumps(document, indent=2, default=str) + "\n")
    return path


def _commit() -> str | None:
    """The commit of the code measured (zava_mcp's checkout), when it is a git checkout."""
    try:
        found = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return None
    return found.stdout.strip() or None


def print_table(title: str, headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """A plain aligned table on stdout (figures, not decoration)."""
    cells = [[_cell(value) for value in row] for row in rows]
    widths = [max(len(h), *(len(row[i]) for row in cells)) for i, h in enumerate(headers)]
    print(f"\n{title}")
    print("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)))
    print("  ".join("-" * w for w in widths))
    for row in cells:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.1f}"
    return str(value)


# --- driving servers over MCP: shared by the overhead and peers families ---

Caller = Callable[[], Awaitable[None]]
# CPU seconds used so far by each process (by pid) of "server", "postgres" and "client":
# CPU per call is the figure that noise on a shared machine disturbs least.
CpuCounters = Callable[[], dict[str, dict[int, float]]]


def client_cpu() -> dict[str, dict[int, float]]:
    return {"client": {os.getpid(): time.process_time()}}


async def measure_level(
    caller: Caller,
    concurrency: int,
    total_calls: int,
    warm_up: int,
    counters: CpuCounters = client_cpu,
) -> dict[str, Any]:
    """total_calls calls shared by `concurrency` workers calling back to back."""
    samples: list[float] = []
    errors = 0
    remaining = total_calls

    async def worker() -> None:
        nonlocal remaining, errors
        while remaining > 0:
            remaining -= 1
            begun = time.perf_counter()
            try:
                await caller()
            except Exception:
                errors += 1
                continue
            samples.append(time.perf_counter() - begun)

    for _ in range(warm_up):
        await caller()
    cpu_before = counters()
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    timings = Timings(samples, time.perf_counter() - started)
    cpu_after = counters()
    cpu_ms = {
        who: round(cpu_used_between(cpu_before[who], cpu_after[who]) / total_calls * 1000, 3)
        for who in cpu_after
    }
    return {
        "concurrency": concurrency,
        "errors": errors,
        **timings.summary(),
        "cpu_ms_per_call": cpu_ms,
    }


def combine_levels(
    same: Sequence[dict[str, Any]], statistic: Callable[[list[float]], float]
) -> dict[str, Any]:
    """Several measurements of one level (runs, or rounds of one run) as one: `statistic`
    (the mean, the median) of their median, percentiles, throughput and CPU per call;
    their errors and calls added up."""
    if len({level["concurrency"] for level in same}) != 1:
        raise ValueError("the measurements are of different concurrency levels: not combined")
    level: dict[str, Any] = {"concurrency": same[0]["concurrency"]}
    for key in ("errors", "calls"):
        level[key] = sum(each[key] for each in same)
    for key in ("median_ms", "p95_ms", "p99_ms", "throughput_per_s"):
        level[key] = round(statistic([each[key] for each in same]), 3)
    level["cpu_ms_per_call"] = {
        who: round(statistic([each["cpu_ms_per_call"][who] for each in same]), 3)
        for who in same[0]["cpu_ms_per_call"]
    }
    return level


def median_of_rounds(same: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Rounds of one level as one measurement: their median (combine_levels), each round's
    calls/s listed under rounds_throughput_per_s."""
    level = combine_levels(same, statistics.median)
    level["rounds_throughput_per_s"] = [each["throughput_per_s"] for each in same]
    return level


def counters_for(database_name: str, server_pid: int | None = None) -> CpuCounters:
    def read() -> dict[str, dict[int, float]]:
        found = client_cpu() | {"postgres": backend_cpu_by_process(database_name)}
        if server_pid is not None:
            found["server"] = tree_cpu_by_process(server_pid)
        return found

    return read


async def mcp_levels(
    url: str,
    headers: dict[str, str],
    tool: str,
    arguments: dict[str, Any],
    levels: tuple[int, ...],
    calls: int,
    counters: CpuCounters = client_cpu,
    check: Callable[[Any], None] | None = None,
    warm_up: int = 20,
) -> list[dict[str, Any]]:
    """Each of the concurrent clients is an MCP session of its own (opened before the
    clock starts) calling the tool back to back. A result flagged as an error, or one
    `check` raises on, counts as an error."""
    results = []
    for concurrency in levels:
        async with contextlib.AsyncExitStack() as stack:
            clients = [
                await stack.enter_async_context(
                    Client(
                        streamable_http_client(
                            url, http_client=httpx2.AsyncClient(headers=headers, timeout=60)
                        )
                    )
                )
                for _ in range(concurrency)
            ]
            free = asyncio.Queue[Client]()
            for client in clients:
                free.put_nowait(client)

            async def call(free: asyncio.Queue[Client] = free) -> None:
                client = await free.get()
                try:
                    result = await client.call_tool(tool, arguments)
                finally:
                    free.put_nowait(client)
                if result.is_error:
                    raise RuntimeError(str(result.content))
                if check is not None:
                    check(result)

            results.append(await measure_level(call, concurrency, calls, warm_up, counters))
    return results


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_http(url: str, process: subprocess.Popen[bytes], seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the server exited with {process.returncode} before answering")
        try:
            httpx2.get(url, timeout=1)
            return
        except httpx2.TransportError:
            time.sleep(0.1)
    raise RuntimeError(f"no answer from {url} within {seconds:g} s")


@contextlib.contextmanager
def server_process(
    command: list[str],
    env: dict[str, str],
    probe: str,
    log_name: str = "bench-server.log",
    cwd: Path | None = None,
) -> Iterator[int]:
    """Run a server process until the block ends; yields its pid once `probe` answers
    (any HTTP answer). Its output goes to .zava/<log_name>."""
    log_path = PROJECT_ROOT / ".zava" / log_name
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = log_path.open("ab")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=log, cwd=cwd)
    try:
        wait_for_http(probe, process)
        yield process.pid
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def serve_env(settings: Settings, port: int, **extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "DATABASE_URL"}
    env.update(
        ZAVA_DATA_DIR=str(settings.data_dir),
        ZAVA_DATABASE=settings.database_name,
        ZAVA_PORT=str(port),
        ZAVA_STATELESS="true",
        **extra,
    )
    return env


def zava_serve_command() -> list[str]:
    return [sys.executable, "-m", "zava_mcp", "serve"]
