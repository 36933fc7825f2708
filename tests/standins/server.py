"""Serve an ASGI app with a real uvicorn server on a free loopback port, in a thread.

Contract tests need real HTTP (chunked bodies, timeouts, closed connections) rather than an
in-process transport, so that the client's httpx code path is the one production runs.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn


class running_server:  # lower case: it reads like a function, `with running_server(app) as url:`
    """A context manager: starts `app` on 127.0.0.1 and yields its base URL; stops it on exit."""

    def __init__(self, app: Any, start_timeout: float = 60.0) -> None:
        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", timeout_graceful_shutdown=5)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.start_timeout = start_timeout

    def __enter__(self) -> str:
        self.thread.start()
        deadline = time.monotonic() + self.start_timeout
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    def __exit__(self, *_: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
