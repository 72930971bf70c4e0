"""Serving an ASGI app on a free loopback port in a background thread, for tests."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn


@contextmanager
def serving(
    app: Any, *, port: int = 0, lifespan: str = "off", config: uvicorn.Config | None = None
) -> Iterator[str]:
    """Serve app on 127.0.0.1 (on port, or a free one) while in the block; yields its base
    URL (http://host:port). config: the server's own uvicorn configuration, if given.

    The socket listens before the block starts, so clients can connect at once: uvicorn
    accepts them as soon as it (and the app's lifespan, when on) has started.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", port))
    listener.listen()
    host, port = listener.getsockname()
    server = uvicorn.Server(config or uvicorn.Config(app, log_level="warning", lifespan=lifespan))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        listener.close()
