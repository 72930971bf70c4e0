"""Answers the official clients can read: at the row cap, at the byte cap and with a row
over it, with values full of characters JSON escapes, the whole answer (structured
content and the text for the model) stays within the 1 MiB a server-sent event may carry
for the MCP Python SDK, on both protocol generations, and for the TypeScript SDK; the
text says truly why rows are missing."""

from __future__ import annotations

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from conftest import bearer
from test_typescript_client import client_output, node  # noqa: F401 (a fixture)
from zava_mcp.tools import ANSWER_LIMIT_BYTES, ROWS_BYTES

pytestmark = pytest.mark.anyio

PROTOCOLS = ("legacy", "2026-07-28")  # legacy: the 2025-11-25 initialize handshake
# Each value JSON-escapes to six times its length (\u0001), or holds quotes, backslashes,
# tabs, newlines, non-ASCII text and arrays.
ESCAPED = r"repeat(E'\x01', {n}) || repeat(E'\"\\\t\n', {n}) || repeat('é€😀', {n})"
AT_ROW_CAP = (
    f"select g, {ESCAPED.format(n=3)} as s, array[g, g, g] as a from generate_series(1, 3000) as g"
)
AT_BYTE_CAP = f"select g, {ESCAPED.format(n=700)} as s from generate_series(1, 1000) as g"
ONE_ROW_OVER = "select repeat('x', 600000) as big"


async def call(url: str, key: str, mode: str, query: str, max_rows: int) -> tuple[dict, str, int]:
    http = httpx2.AsyncClient(headers=bearer(key), timeout=60)
    async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:
        result = await client.call_tool(
            "execute_sales_query", {"postgresql_query": query, "max_rows": max_rows}
        )
    assert not result.is_error, result.content[0].text
    return result.structured_content, result.content[0].text, len(result.model_dump_json())


@pytest.mark.parametrize("mode", PROTOCOLS)
async def test_an_answer_at_the_row_cap_is_whole(served, mode):
    answer, text, size = await call(served.url, served.keys["Seattle"], mode, AT_ROW_CAP, 1000)
    print(f"\n{mode}: 1000 rows at the row cap, answer {size} bytes")
    assert answer["row_count"] == 1000 and answer["truncated"]
    assert answer["rows"][0][2] == [1, 1, 1]
    assert "\t[1,1,1]" in text and "(1000 rows, truncated: more rows exist)" in text
    assert size < ANSWER_LIMIT_BYTES


@pytest.mark.parametrize("mode", PROTOCOLS)
async def test_an_answer_at_the_byte_cap_fits_the_transport(served, mode):
    answer, text, size = await call(served.url, served.keys["Seattle"], mode, AT_BYTE_CAP, 1000)
    count = answer["row_count"]
    print(f"\n{mode}: {count} rows at the byte cap, answer {size} bytes")
    assert 1 < count < 1000 and answer["truncated"]
    assert answer["rows"][0][1].startswith("\x01" * 700 + '"\\\t\n')
    assert f"({count} rows, truncated at the answer's limit of {ROWS_BYTES} bytes" in text
    assert ROWS_BYTES < size < ANSWER_LIMIT_BYTES


@pytest.mark.parametrize("mode", PROTOCOLS)
async def test_a_row_over_the_byte_cap_is_explained(served, mode):
    answer, text, _ = await call(served.url, served.keys["Seattle"], mode, ONE_ROW_OVER, 10)
    assert answer["row_count"] == 0 and answer["truncated"]
    assert "the first row alone is over the answer's limit" in text


def test_the_typescript_client_reads_an_answer_at_the_byte_cap(served, node):  # noqa: F811
    output = client_output(node, served.url, served.keys["Seattle"], AT_BYTE_CAP)
    result = output["result"]
    assert result["isError"] is False, result["text"]
    count = result["structuredContent"]["row_count"]
    assert 1 < count < 100 and result["structuredContent"]["truncated"]
    assert "truncated at the answer's limit" in result["text"]
