"""Running the API: `clearline serve` on a data directory, one process, the embedded default.

Guarantees:
- The platform (ledger, log, platform records, risk state) is opened before the first request
  and closed after the last.
- SIGTERM (a process manager's stop, a rolling restart) and Ctrl-C (SIGINT) stop it gracefully:
  the listening socket stops taking new connections at once (a socket filter drops their SYNs,
  so the client's retry is refused once the socket is closed), the connections the kernel had
  already queued are accepted and their requests read (`DRAIN_S`), then the socket closes;
  every request that reached the server finishes and gets its answer within
  `SHUTDOWN_GRACE_S` (after that it is cancelled), background
  work stops, the audit trail's last events are sealed, the risk state is saved, the ledger and
  the log close cleanly, and the process exits 0. A second signal during the stop skips the
  wait for requests in flight. (uvicorn alone re-raises the signal after its graceful stop,
  which kills the process before the platform closes: `GracefulServer` does not.)
- On first run an admin key is created and printed once (the last line of the output), unless
  the data directory already has keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import gc
import logging
import os
import signal
import socket
import struct
import threading
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Any

import uvicorn

from clearline.api.app import create_app
from clearline.platform import Platform, load_settings

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_S = 10
"""How long requests in flight may take to finish once a stop was asked for."""
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
DRAIN_S = 0.05
"""How long the queued connections have to be accepted and send their request once a stop was
asked for (on loopback a client sends it within microseconds of connecting)."""
SO_ATTACH_FILTER = 26
_DROP_ALL = ctypes.create_string_buffer(struct.pack("HBBI", 0x06, 0, 0, 0))
"""A classic BPF program of one instruction, `ret #0`: every packet is dropped."""


class GracefulServer(uvicorn.Server):
    """uvicorn's server, stopping on SIGINT or SIGTERM without re-raising the signal."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in STOP_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit:
            self.force_exit = True  # a second signal: stop waiting for requests in flight
        self.should_exit = True

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Stop taking connections without resetting those the kernel already accepted: drop
        new SYNs, let the loop accept the queued ones and read their requests, then close."""
        for server in self.servers:
            for listening in server.sockets:
                _refuse_new_connections(listening)
        await asyncio.sleep(DRAIN_S)
        await super().shutdown(sockets)


def _refuse_new_connections(listening: Any) -> None:
    """Attach a drop-everything socket filter to a listening socket (Linux): SYNs no longer
    reach its queue; what is queued stays acceptable. Elsewhere nothing happens (the socket
    closes as uvicorn does it)."""
    if not hasattr(socket, "SO_ATTACH_FILTER") and os.uname().sysname != "Linux":
        return
    program = struct.pack("HL", 1, ctypes.addressof(_DROP_ALL))
    with contextlib.suppress(OSError):
        listening.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, program)


def serve(
    data_directory: Path,
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    model_directory: Path | None = None,
    review_timeout_s: int | None = None,
    announce: bool = True,
    access_log: bool = False,
) -> None:
    """Serve the platform in `data_directory` until SIGTERM or Ctrl-C."""
    settings = load_settings(data_directory)
    if review_timeout_s is not None:
        settings = dataclasses.replace(settings, review_timeout_s=review_timeout_s)
    platform = Platform.open(data_directory, model_directory=model_directory, settings=settings)
    try:
        key = platform.first_admin_key()
        app = create_app(platform)
        if os.environ.get("CLEARLINE_GC_FREEZE", "1") == "1":
            # What was loaded at start (code, the model, the risk state's history) stays alive
            # for the server's lifetime: keep it out of the cyclic collector's full passes, as
            # long-running servers do (gc.freeze), so they walk only what requests create.
            gc.collect()
            gc.freeze()
        if announce:
            print(f"Clearline API on http://{host}:{port}  (docs: http://{host}:{port}/docs)")
            print(f"data directory: {data_directory}")
            if key is not None:
                print("first run: an admin key was created; store it now, it is shown once:")
                print(key, flush=True)
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            access_log=access_log,
            loop="uvloop",
            http="httptools",
            lifespan="on",
            timeout_graceful_shutdown=SHUTDOWN_GRACE_S,
        )
        GracefulServer(config).run()
    finally:
        platform.close()
    if announce:
        print("stopped: requests answered, ledger and log closed", flush=True)
