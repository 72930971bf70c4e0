"""Smoke tests of the memory family's parts that decide its figure: the PSS of a process
tree, and the target read from the results."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import memory


def test_tree_pss_counts_the_process_and_its_children() -> None:
    # A parent that holds 64 MiB of its own and runs a child that holds 32 MiB.
    code = (
        "import subprocess, sys, time\n"
        "held = b'x' * (64 * 2**20)\n"
        "child = subprocess.Popen([sys.executable, '-c', "
        "'import time; held = b\"x\" * (32 * 2**20); time.sleep(60)'])\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    child = None
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        time.sleep(2)  # the child's allocation
        found = memory.tree_pss_kib(parent.pid)
    finally:
        if child is not None:
            os.kill(child, signal.SIGKILL)
        parent.kill()
        parent.wait()
    assert len(found) == 2
    sizes = sorted(found.values())
    assert 32 * 1024 < sizes[0] < 64 * 1024 < sizes[1]


def test_the_target_is_read_from_the_shipped_servers_pss() -> None:
    results = {"servers": {"numpy": {"pss_mib": 301.0}, "reference": {"pss_mib": 100.0}}}
    ((target, measured, met),) = memory.targets(results)
    assert "300 MiB" in target and measured == "301.0 MiB" and not met
    results["servers"]["numpy"]["pss_mib"] = 299.0
    assert memory.targets(results)[0][2]
