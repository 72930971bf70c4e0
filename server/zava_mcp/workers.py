"""Several server processes on one port, for hosts with more cores than one process uses.

The parent binds a listening socket per worker on the one port, then forks the workers
before anything starts a thread, an event loop or a database connection; each worker
builds its own runtime (pools, audit queue, model) and accepts connections on its socket,
the kernel spreading new connections between them. Each worker gets its share of the configured
limits (ServerSettings.worker_share), so that all of them together keep to them. The
parent only supervises: SIGTERM or SIGINT is passed on to every worker, which finishes
its requests and writes its audit queue; a worker that dies is started again, unless it
dies within RESTART_GUARD_SECONDS of starting, which is a fault no restart mends (the
database refusing the login role, a broken configuration), and then every worker stops.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

RESTART_GUARD_SECONDS = 10.0
STOP_SECONDS = 30.0  # a worker's graceful stop: requests in flight, then the audit queue


def listening_sockets(host: str, port: int, count: int) -> list[socket.socket]:
    """One listening socket per worker, all on the same port (SO_REUSEPORT): the kernel
    spreads new connections between them by their addresses, where one shared socket lets
    whichever worker wakes first take a whole burst. The parent keeps them, so a worker
    started again finds its socket and its waiting connections. The port is first bound
    alone, so that another program on it is an error rather than a silent sharer."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, port))
    sockets = []
    for _ in range(count):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(2048)
        sockets.append(sock)
    return sockets


def supervise(count: int, serve: Callable[[int], None]) -> int:
    """Run serve(number) in `count` forked workers until a signal stops them; the exit
    status: 0 after a requested stop, 1 when a worker failed at its start."""
    started: dict[int, tuple[int, float]] = {}  # pid -> (worker number, when it started)
    stopping = False

    def start(number: int) -> None:
        pid = os.fork()
        if pid == 0:  # the worker
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            status = 0
            try:
                serve(number)
            except BaseException:
                log.exception("worker %d failed", number)
                status = 1
            finally:
                logging.shutdown()
                os._exit(status)
        started[pid] = (number, time.monotonic())

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True
        for pid in started:
            _signal(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for number in range(count):
        start(number)
    failed = False
    deadline: float | None = None
    while started:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:  # none has exited: look again shortly (signals are handled meanwhile)
            if stopping:
                deadline = deadline or time.monotonic() + STOP_SECONDS
                if time.monotonic() > deadline:
                    for straggler in started:
                        log.warning(
                            "worker pid %d did not stop in %g s: killed", straggler, STOP_SECONDS
                        )
                        _signal(straggler, signal.SIGKILL)
            time.sleep(0.1)
            continue
        number, since = started.pop(pid)
        if stopping:
            continue
        code = os.waitstatus_to_exitcode(status)
        if time.monotonic() - since < RESTART_GUARD_SECONDS:
            log.error(
                "worker %d (pid %d) exited with %d within %g s of starting: stopping every worker",
                number,
                pid,
                code,
                RESTART_GUARD_SECONDS,
            )
            failed = True
            stop(signal.SIGTERM, None)
            continue
        log.error("worker %d (pid %d) exited with %d: starting it again", number, pid, code)
        start(number)
    return 1 if failed else 0


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # it has exited already
        os.kill(pid, signum)
