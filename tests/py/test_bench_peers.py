"""Smoke test of the peers benchmark (tests/bench/peers.py) in quick mode, in the tests'
embedded PostgreSQL. It checks what makes the comparison fair and honest, never a time:
our server answered every call at every level as both principals, every peer is either
measured the same way or skipped with its reason (where the reference sample's checkout,
npm or a Python >= 3.12 is absent, as in CI), the peers' roles are what the report says,
and the table shows all of it."""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from zava_mcp import database
from zava_mcp.config import PROJECT_ROOT

TESTS_DATA_DIR = os.environ.get("ZAVA_DATA_DIR") or str(PROJECT_ROOT / ".zava" / "test-pgdata")


@pytest.fixture(scope="module")
def results() -> dict[str, Any]:
    import peers

    with pytest.MonkeyPatch.context() as patch:
        # The quick database and its peers' copy go in the tests' PostgreSQL.
        patch.setenv("ZAVA_BENCH_DATA_DIR", TESTS_DATA_DIR)
        found = peers.run(quick=True)
    # As saved: JSON turns the level keys into strings.
    return dict(json.loads(json.dumps(found)))


def test_ours_answered_every_call_at_every_level(results: dict[str, Any]) -> None:
    import peers

    assert list(results["figures"]) == list(peers.QUESTIONS)
    for question, principals in results["figures"].items():
        assert list(principals) == list(peers.PRINCIPALS), question
        for by_server in principals.values():
            levels = by_server[peers.OURS]
            assert [level["concurrency"] for level in levels] == list(peers.QUICK_LEVELS)
            for level in levels:
                assert level["errors"] == 0
                assert level["calls"] == peers.QUICK_CALLS * peers.QUICK_ROUNDS
                assert 0 < level["median_ms"] <= level["p95_ms"]
                # Each figure is the median of the rounds'.
                rounds = level["rounds_throughput_per_s"]
                assert len(rounds) == peers.QUICK_ROUNDS
                assert level["throughput_per_s"] == pytest.approx(statistics.median(rounds))
                assert {"server", "postgres", "client"} <= set(level["cpu_ms_per_call"])
    assert results["servers"][peers.OURS]["memory_after"]["pss_kib"] > 0


def test_every_peer_is_measured_or_skipped_with_a_reason(results: dict[str, Any]) -> None:
    import peers

    assert list(results["servers"]) == list(peers.SERVERS)
    for name, about in results["servers"].items():
        measured = [
            by_server.get(name)
            for principals in results["figures"].values()
            for by_server in principals.values()
        ]
        if "skipped" in about:
            assert about["skipped"].strip(), name
            assert measured == [None] * len(measured), f"{name} is skipped yet has figures"
            continue
        assert about["memory_after"]["pss_kib"] > 0, name
        if name == peers.FLOOR:
            continue  # asked `select 1` only: the next test
        for levels in measured:
            assert levels is not None, name
            assert all(level["errors"] == 0 for level in levels), name


def test_the_sdk_floor_answers_select_1_only_and_is_compared_with_no_one(
    results: dict[str, Any],
) -> None:
    import measure
    import peers

    for question, principals in results["figures"].items():
        for principal, by_server in principals.items():
            if question != "select 1":
                assert peers.FLOOR not in by_server, (question, principal)
                continue
            levels = by_server[peers.FLOOR]
            assert [level["concurrency"] for level in levels] == list(peers.QUICK_LEVELS)
            assert all(
                level["errors"] == 0 and level["calls"] == peers.QUICK_CALLS * peers.QUICK_ROUNDS
                for level in levels
            )
    # It is no peer: in no comparison, so in no target.
    for principals in results["comparison"].values():
        for by_peer in principals.values():
            assert peers.FLOOR not in by_peer and peers.OURS not in by_peer
    lines = peers.against_the_floor(results)
    assert len(lines) == len(peers.PRINCIPALS) * len(peers.QUICK_LEVELS)
    floor = results["figures"]["select 1"]["head office"][peers.FLOOR][0]
    ours = results["figures"]["select 1"]["head office"][peers.OURS][0]
    share = measure.ratio(ours["throughput_per_s"], floor["throughput_per_s"])
    assert f"the no-op tool {floor['throughput_per_s']} calls/s" in lines[0]
    assert f"{peers.OURS} {share:.2f}x" in lines[0]
    assert "The SDK's floor" in peers.markdown(results)


def test_the_servers_agreed_and_a_store_manager_sees_one_store(results: dict[str, Any]) -> None:
    # run() refuses to time servers whose top 10 rows differ; the manager's differ from
    # head office's, or no filter was applied.
    answers = results["top_10_answers"]
    assert len(answers["head office"]) == len(answers["store manager"]) == 10
    assert answers["head office"] != answers["store manager"]


def test_the_peers_roles_are_what_the_report_says(results: dict[str, Any]) -> None:
    import measure
    import peers

    settings = measure.bench_settings(results["peers_database"], ZAVA_DATA_DIR=TESTS_DATA_DIR)
    url = make_conninfo(
        **{**conninfo_to_dict(database.admin_url(settings)), "user": peers.REFERENCE_ROLE}
    )
    with psycopg.connect(url) as conn:
        roles = dict(
            conn.execute(
                "select rolname, rolbypassrls from pg_roles where rolname = any(%s) "
                "and not rolsuper",
                ([peers.TOOLBOX_ROLE, peers.REFERENCE_ROLE, peers.POSTGRES_MCP_ROLE],),
            ).fetchall()
        )
        assert roles == {
            peers.TOOLBOX_ROLE: True,
            peers.REFERENCE_ROLE: False,
            peers.POSTGRES_MCP_ROLE: False,
        }
        # The reference sample's own policies: its header's principal sees its store only.
        conn.execute("select set_config('app.current_rls_user_id', %s, false)", (measure.SEATTLE,))
        stores = conn.execute("select distinct store_id from retail.orders").fetchall()
        assert stores == [(peers.SEATTLE_STORE_ID,)]
        conn.execute(
            "select set_config('app.current_rls_user_id', %s, false)", (measure.HEAD_OFFICE,)
        )
        assert len(conn.execute("select distinct store_id from retail.orders").fetchall()) > 1
    # postgres-mcp does not bypass row level security; its policy lets it read every row.
    url = make_conninfo(url, user=peers.POSTGRES_MCP_ROLE)
    with psycopg.connect(url) as conn:
        assert len(conn.execute("select distinct store_id from retail.orders").fetchall()) > 1


def test_the_report_shows_ours_beside_each_peer(results: dict[str, Any], tmp_path: Path) -> None:
    import peers

    text = peers.markdown(results)
    assert text.startswith("## 5. Peers")
    first = results["figures"]["select 1"]["head office"][peers.OURS][0]
    assert f"| head office | 1 | {peers.OURS} | {first['throughput_per_s']} |" in text
    for about in results["servers"].values():
        if "skipped" in about:
            assert f"skipped: {about['skipped']}" in text
    targets = peers.targets(results)
    assert len(targets) == len(peers.QUESTIONS) * len(peers.PRINCIPALS) + 1
    # A skipped peer is never counted as beaten.
    if any("skipped" in about for about in results["servers"].values()):
        assert not any(met for target, _, met in targets if target.startswith("Ahead"))
    (path,) = peers.plots(results, tmp_path)
    assert path.read_bytes().startswith(b"\x89PNG")


def test_a_missing_reference_sample_is_skipped_with_its_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import peers

    monkeypatch.setenv("ZAVA_BENCH_REFERENCE_SAMPLE", str(tmp_path / "absent"))
    python, reason = peers.reference_sample()
    assert python is None
    assert str(tmp_path / "absent") in reason


def test_without_python_312_postgres_mcp_is_skipped_with_its_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import peers

    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "absent"))
    monkeypatch.setenv("ZAVA_BENCH_PEERS_DIR", str(tmp_path / "peers"))
    assert peers.python_312() is None
    binary, reason = peers.postgres_mcp_binary()
    assert binary is None
    assert "needs Python >= 3.12" in reason
    assert not (tmp_path / "peers").exists()
