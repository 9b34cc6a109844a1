"""The demo's API server: uvicorn in a background thread of the demo's own process.

Guarantees:
- The socket is bound before anything is printed, so the URL shown is the one that answers
  (port 0 picks a free port).
- `start` returns only once uvicorn serves (or raises `ServerDidNotStart` within
  `SERVER_START_WAIT_S`); `stop` lets requests in flight finish (at most
  `GRACEFUL_SHUTDOWN_S`) and returns within `STOP_WAIT_S`.
- `wait` blocks until the server ends, and Ctrl-C (or the demo's SIGTERM handler) interrupts it.
"""

from __future__ import annotations

import socket
import threading
import time

from starlette.types import ASGIApp

from clearline.demo.errors import ServerDidNotStart

SERVER_START_WAIT_S = 30.0
STOP_WAIT_S = 20.0
GRACEFUL_SHUTDOWN_S = 10
START_POLL_S = 0.02
WAIT_SLICE_S = 0.5


class ServerThread:
    """uvicorn serving `app` on a bound socket in a background thread."""

    def __init__(self, app: ASGIApp, host: str, port: int) -> None:
        import uvicorn

        self.socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.socket.bind((host, port))
        self.port = int(self.socket.getsockname()[1])
        config = uvicorn.Config(
            app,
            log_level="warning",
            access_log=False,
            lifespan="on",
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.socket]}, name="api", daemon=True
        )

    def start(self) -> None:
        self.thread.start()
        deadline = time.monotonic() + SERVER_START_WAIT_S
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise ServerDidNotStart("the API server did not start")
            time.sleep(START_POLL_S)

    def wait(self) -> None:
        """Until the server thread ends; a signal's KeyboardInterrupt ends the wait."""
        while self.thread.is_alive():
            self.thread.join(timeout=WAIT_SLICE_S)

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout=STOP_WAIT_S)
        self.socket.close()
