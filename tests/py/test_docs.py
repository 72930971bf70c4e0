"""The docs are executed: every shell command and every client config in README.md,
docs/quickstart.md, docs/dba-guide.md and docs/configuration.md runs here as written,
extracted from the Markdown, with its output checked.

The README's demo command starts a demo of its own (its own embedded database under a
temporary directory, its own port); the other commands run against it, and the client
configs connect to it. Placeholders are substituted (the demo's port for 8000, a key the
demo printed for `zava_…`, this checkout for `/path/to/zava-mcp`). A command is run
unless a rule below lists it with the reason it is not; a command or config that no rule
knows fails the test, so a doc cannot drift from the code unseen.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client

from conftest import INITIALIZE, PROJECT_ROOT, SEATTLE, free_port
from zava_mcp.database import principal_password

pytestmark = pytest.mark.anyio

DOCS = ("README.md", "docs/quickstart.md", "docs/dba-guide.md", "docs/configuration.md")
DEMO_SECONDS = 600
COMMAND_SECONDS = 300

# What happens to each shell command, by the first pattern that matches it: "demo" (the
# README's demo, started once for the whole module), "run", or the reason it is skipped.
RULES: tuple[tuple[str, str], ...] = (
    (r"^\./scripts/test\.sh\b", "skipped: the test command itself (it runs this test)"),
    (r"^\./scripts/demo\.sh\b", "demo"),
    (r"db\.example\.com", "skipped: aimed at another host (db.example.com)"),
    (r".", "run"),
)
# What a block's output must contain, by its first command; and what it reads on stdin.
OUTPUT: dict[str, tuple[str, ...]] = {
    ".venv/bin/zava-mcp db psql --as": ("zava_p_", SEATTLE),
    ".venv/bin/zava-mcp db psql": ("postgres",),
    "KEY=zava_": ("execute_sales_query", '"rows"'),
    ".venv/bin/zava-mcp db init": ("database built", "zava_"),
    ".venv/bin/zava-mcp keys create": ("zava_", "docs check: Seattle", "revoked"),
}
STDIN: dict[str, str] = {
    ".venv/bin/zava-mcp db psql --as": "select session_user, mcp.current_principal();\n",
    ".venv/bin/zava-mcp db psql": "select current_user;\n",
}
# For the blocks whose placeholders stand for what an earlier step made.
SERVER_PASSWORD = "docs-check-password"


@dataclasses.dataclass
class Block:
    doc: str
    line: int
    lang: str
    text: str

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"


def blocks(*langs: str) -> list[Block]:
    found = []
    for doc in DOCS:
        text = (PROJECT_ROOT / doc).read_text()
        for match in re.finditer(r"^```(\w*)\n(.*?)^```", text, re.S | re.M):
            if match.group(1) in langs:
                line = text[: match.start()].count("\n") + 1
                found.append(Block(doc, line, match.group(1), match.group(2)))
    return found


def commands(block: Block) -> list[str]:
    """The block's commands: continued lines joined, blank lines and comments left out."""
    joined = re.sub(r"\\\n\s*", " ", block.text)
    lines = (re.sub(r"\s+# .*$", "", line) for line in joined.splitlines())
    return [line for line in lines if line.strip() and not line.startswith("#")]


def rule(command: str) -> str:
    return next(action for pattern, action in RULES if re.search(pattern, command))


def first_key(table: dict[str, object], command: str) -> str | None:
    return next((key for key in table if command.startswith(key)), None)


def test_every_command_and_config_is_run_or_listed_with_a_reason():
    shell, configs = blocks("sh", "bash", "shell", "console"), blocks("json", "jsonc")
    assert len(shell) >= 8 and len(configs) >= 4, (len(shell), len(configs))
    skipped = []
    for block in shell:
        for command in commands(block):
            action = rule(command)
            if action.startswith("skipped"):
                skipped.append(f"{block.where}: {command[:60]} — {action}")
            elif action == "run" and not command.startswith("python3 -c"):
                first = commands(block)[0]
                assert first_key(OUTPUT, first), f"{block.where}: no output check for {first!r}"
    for block in configs:
        config = json.loads(block.text)
        assert "servers" in config or "mcpServers" in config, f"{block.where}: unknown config"
    print("\nnot run:\n" + "\n".join(skipped))
    assert len(skipped) == 2, skipped


@dataclasses.dataclass
class Demo:
    base_url: str
    port: int
    keys: dict[str, str]
    env: dict[str, str]


@pytest.fixture(scope="module")
def demo() -> Iterator[Demo]:
    """The README's demo command, run as written, on a database and port of its own."""
    [command] = {c for b in blocks("sh") for c in commands(b) if rule(c) == "demo"}
    workdir = Path(tempfile.mkdtemp(prefix="zava-docs-"))
    port = free_port()
    env = {
        **os.environ,
        "ZAVA_DATA_DIR": str(workdir / "pgdata"),
        "ZAVA_DATABASE": "zava",
        "ZAVA_PORT": str(port),
        "ZAVA_SERVER_PASSWORD": SERVER_PASSWORD,
    }
    env.pop("DATABASE_URL", None)
    process = subprocess.Popen(
        ["bash", "-c", command],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    lines: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in process.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if "serving MCP at" in line:
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    try:
        assert ready.wait(DEMO_SECONDS), "the demo did not serve:\n" + "".join(lines[-40:])
        keys = {
            match.group(1): match.group(2)
            for match in re.finditer(
                r"^\s+(head office|Seattle|Redmond)\s+(zava_\S+)", "".join(lines), re.M
            )
        }
        assert set(keys) == {"head office", "Seattle", "Redmond"}, "".join(lines)
        print("\n" + "".join(line for line in lines if "zava_" not in line)[-1500:])
        yield Demo(f"http://127.0.0.1:{port}", port, keys, env)
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        subprocess.run(
            [sys.executable, "-m", "zava_mcp", "db", "stop"], env=env, capture_output=True
        )
        shutil.rmtree(workdir, ignore_errors=True)


def substitute(text: str, demo: Demo) -> str:
    for placeholder, value in (
        ("127.0.0.1:8000", f"127.0.0.1:{demo.port}"),
        ("/path/to/zava-mcp", str(PROJECT_ROOT)),
        ("zava_…", demo.keys["Seattle"]),
        ("zava_...", demo.keys["Seattle"]),
        ("${input:zava-api-key}", demo.keys["Seattle"]),
    ):
        text = text.replace(placeholder, value)
    return text


def run(script: str, demo: Demo, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=PROJECT_ROOT,
        env={**demo.env, "PATH": os.environ["PATH"]},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=COMMAND_SECONDS,
    )


def olympia(demo: Demo) -> str:
    """The DBA guide's store insert, run as written; returns the new manager's uuid, for
    the placeholder uuid of the next block."""
    [insert] = [b for b in blocks("sql") if "insert into retail.stores" in b.text]
    done = run(".venv/bin/zava-mcp db psql -X -q -At -v ON_ERROR_STOP=1", demo, insert.text)
    assert done.returncode == 0, done.stderr
    [manager] = re.findall(r"^\d+\|([0-9a-f-]{36})$", done.stdout, re.M)
    return manager


def test_the_shell_commands_run_as_documented(demo):
    ran = []
    for block in blocks("sh", "bash", "shell", "console"):
        actions = {rule(command) for command in commands(block)}
        if actions != {"run"}:
            # A block is run whole or not at all: one that is not holds nothing to run.
            assert "run" not in actions, f"{block.where} mixes commands run and not run"
            continue
        first = commands(block)[0]
        script = substitute(block.text, demo)
        if "505b032e-5cbf-45d4-8700-e886f6aa830c" in script:
            script = script.replace("505b032e-5cbf-45d4-8700-e886f6aa830c", olympia(demo))
        script = script.replace(
            "<key_id>",
            "$(.venv/bin/zava-mcp keys list | awk '/docs check: Seattle/ && / valid / "
            "{print $1; exit}')",
        )
        stdin_key = first_key(STDIN, first)
        done = run(script, demo, STDIN[stdin_key] if stdin_key else "")
        output = done.stdout + done.stderr
        assert done.returncode == 0, f"{block.where}: exit {done.returncode}\n{output[-3000:]}"
        assert "Traceback" not in output, output[-3000:]
        assert "server major version" not in output, output  # psql older than the server
        if first.startswith("python3 -c"):  # the principal's password, by hand
            assert done.stdout.strip() == principal_password(
                SERVER_PASSWORD, "zava_p_ea1ce42b730b4859"
            ), output
        else:
            output_key = first_key(OUTPUT, first)
            assert output_key, f"{block.where}: no output check for {first!r}"
            missing = [text for text in OUTPUT[output_key] if text not in output]
            assert not missing, f"{block.where}: {missing} not in\n{output[-3000:]}"
        ran.append(block.where)
    print("\nran: " + ", ".join(ran))
    assert len(ran) >= 7, ran


async def test_the_vs_code_configs_reach_the_demo(demo):
    configs = [b for b in blocks("json") if "servers" in json.loads(b.text)]
    repository = (PROJECT_ROOT / ".vscode" / "mcp.json").read_text()
    assert configs
    for block in configs:
        assert json.loads(block.text) == json.loads(repository), (
            f"{block.where} != .vscode/mcp.json"
        )
        server = json.loads(substitute(block.text, demo))["servers"]["zava"]
        async with httpx2.AsyncClient() as http:
            opened = await http.post(
                server["url"],
                json=INITIALIZE,
                headers={"Accept": "application/json, text/event-stream", **server["headers"]},
            )
        assert opened.status_code == 200, f"{block.where}: {opened.status_code} {opened.text}"
        http = httpx2.AsyncClient(headers=server["headers"])
        async with Client(streamable_http_client(server["url"], http_client=http)) as client:
            tools = {tool.name for tool in (await client.list_tools()).tools}
        assert "execute_sales_query" in tools


async def test_the_claude_desktop_configs_start_the_stdio_server(demo):
    configs = [b for b in blocks("json") if "mcpServers" in json.loads(b.text)]
    assert configs
    for block in configs:
        server = json.loads(substitute(block.text, demo))["mcpServers"]["zava"]
        params = StdioServerParameters(
            command=server["command"],
            args=server["args"],
            # The demo's database is not the default one: its place comes from the test.
            env={**demo.env, **server["env"]},
            cwd=str(PROJECT_ROOT),
        )
        async with Client(stdio_client(params)) as client:
            result = await client.call_tool(
                "execute_sales_query",
                {"postgresql_query": "select distinct store_id from retail.orders"},
            )
        assert not result.is_error, f"{block.where}: {result.content[0].text}"
        assert result.structured_content["rows"] == [[1]], block.where  # Seattle's only


def test_the_inspector_says_when_a_key_is_wrong(demo):
    """The quickstart's Inspector, given a wrong key, shows the server's reason (not an
    OAuth sign-in that cannot work)."""
    [block] = [b for b in blocks("sh") if "mcp-inspector" in b.text]
    setup = next(c for c in commands(block) if c.startswith("INSPECTOR="))
    [listing] = [c for c in commands(block) if "tools/list" in c]
    script = substitute(f"{setup}\n{listing}", demo).replace("$KEY", "zava_not-a-key")
    done = run(script, demo)
    output = done.stdout + done.stderr
    print(f"\nthe Inspector says: {output.strip()[-400:]}")
    assert done.returncode != 0
    assert "the API key is unknown, expired or revoked" in output, output[-2000:]
