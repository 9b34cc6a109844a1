"""The traffic's HTTP client: one keep-alive connection per worker, JSON in and out.

Guarantees:
- Every POST carries an `Idempotency-Key` derived from the world's ids (`derived_id` for steps
  without one), so a request retried on a new connection is the same request.
- A setup request the server refuses stops the setup (`SetupRequestRefused`): nothing after it
  makes sense without it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from typing import Any
from urllib.parse import urlsplit

from clearline.demo.errors import SetupRequestRefused


def derived_id(text: str) -> str:
    """A stable 128-bit id (32 hex digits) for a setup step, so a retried step is the same one."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class Connection:
    """One keep-alive HTTP/1.1 connection with one request in flight, JSON in and out.

    Written by hand because the load generator shares two cores with the server it measures:
    httpx's async pool costs several milliseconds of CPU per request here (measured: about 240
    requests/s against about 1,350 for this client on the same server), which would make the
    demo measure its client. It understands exactly what the server sends: Content-Length
    bodies on keep-alive connections (as `bench.api_load` does). A request that fails on the
    wire is sent once more on a new connection; every POST carries an Idempotency-Key, so the
    retry is the same request."""

    def __init__(self, url: str, key: str) -> None:
        parts = urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.head = f"Host: {self.host}:{self.port}\r\nAuthorization: Bearer {key}\r\n"
        self.streams: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None

    async def request(
        self, method: str, path: str, body: Any = None, idempotency_key: str | None = None
    ) -> tuple[int, Any]:
        """(status, decoded JSON body or None)."""
        payload = b"" if body is None else json.dumps(body).encode()
        head = f"{method} {path} HTTP/1.1\r\n{self.head}"
        if idempotency_key is not None:
            head += f"Idempotency-Key: {idempotency_key}\r\n"
        if body is not None:
            head += f"Content-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        message = head.encode() + b"\r\n" + payload
        for attempt in range(2):
            try:
                status, data = await self._exchange(message)
                return status, json.loads(data) if data else None
            except (OSError, asyncio.IncompleteReadError, ConnectionError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    async def _exchange(self, message: bytes) -> tuple[int, bytes]:
        if self.streams is None:
            self.streams = await asyncio.open_connection(self.host, self.port)
        reader, writer = self.streams
        writer.write(message)
        status_line = await reader.readline()
        if not status_line:
            raise ConnectionError("the server closed the connection")
        status, length, closing = int(status_line.split(b" ", 2)[1]), 0, False
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"content-length":
                length = int(value.strip())
            elif name == b"connection" and value.strip().lower() == b"close":
                closing = True
        data = await reader.readexactly(length) if length else b""
        if closing:
            self.close()
        return status, data

    def close(self) -> None:
        if self.streams is not None:
            self.streams[1].close()
            self.streams = None


async def post(connection: Connection, path: str, body: dict[str, Any], key: str) -> Any:
    """POST `body` with idempotency key `key`; the decoded answer, or `SetupRequestRefused`."""
    status, data = await connection.request("POST", path, body, key)
    if status >= 300:
        raise SetupRequestRefused(f"POST {path} answered {status}: {str(data)[:300]}")
    return data
