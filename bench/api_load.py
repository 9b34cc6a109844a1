"""The load generator of `bench.api`: a separate process that drives the server over HTTP/1.1.

Run by `bench.api` as `python -m bench.api_load SPEC.json OUT.json`. It opens `connections`
keep-alive connections (one request in flight on each, like wrk), sends requests built from the
spec for `duration` seconds after `warmup` seconds, and writes every measured latency and status.
The client is a minimal HTTP/1.1 writer/reader over asyncio streams (uvloop) so that its own cost
stays small next to the server's; it understands exactly what the server sends (Content-Length
bodies, keep-alive).
"""

from __future__ import annotations

import asyncio
import json
import random
import sys
import time
from pathlib import Path
from typing import Any

import uvloop


def _payment_body(spec: dict[str, Any], rng: random.Random) -> bytes:
    wallets = spec["wallets"]
    source, destination = rng.sample(wallets, 2)
    cents = rng.randint(100, 20_000)
    body = {
        "source_account_id": source,
        "destination_account_id": destination,
        "amount": f"{cents // 100}.{cents % 100:02d}",
        "asset": "USD",
        "payment_type": rng.choice(("p2p", "merchant_payment", "bill")),
        "channel": rng.choice(("mobile_app", "qr", "card", "web")),
        "device_id": f"phone-{source}",  # each payer pays from its own phone
    }
    return json.dumps(body).encode()


def _transfers_body(spec: dict[str, Any], rng: random.Random) -> bytes:
    wallets, omnibus = spec["wallets"], spec["omnibus"]
    transfers = [
        {
            "debit_account_id": omnibus,
            "credit_account_id": rng.choice(wallets),
            "amount": f"{rng.randint(1, 99)}.00",
            "asset": "USD",
        }
        for _ in range(spec["batch"])
    ]
    return json.dumps({"transfers": transfers}).encode()


def _request(spec: dict[str, Any], body: bytes | None, sequence: int) -> bytes:
    method, path = spec["method"], spec["path"]
    lines = [
        f"{method} {path} HTTP/1.1",
        f"Host: {spec['host']}:{spec['port']}",
        f"Authorization: Bearer {spec['key']}",
    ]
    if body is not None:
        lines += [
            "Content-Type: application/json",
            f"Content-Length: {len(body)}",
            f"Idempotency-Key: {spec['run']}-{sequence}",
        ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b"")


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("the server closed the connection")
    status = int(status_line.split(b" ", 2)[1])
    length = 0
    while True:
        line = await reader.readline()
        if line in (b"\r\n", b"\n", b""):
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    body = await reader.readexactly(length) if length else b""
    return status, body


async def _worker(
    spec: dict[str, Any], index: int, start: float, stop: float, out: dict[str, Any]
) -> None:
    rng = random.Random(spec["seed"] * 1000 + index)
    reader, writer = await asyncio.open_connection(spec["host"], spec["port"])
    build = {"payment": _payment_body, "transfers": _transfers_body}.get(spec["body"])
    sequence = 0
    try:
        while True:
            now = time.perf_counter()
            if now >= stop:
                return
            sequence += 1
            body = build(spec, rng) if build else None
            request = _request(spec, body, index * 10_000_000 + sequence)
            sent = time.perf_counter()
            writer.write(request)
            status, payload = await _read_response(reader)
            done = time.perf_counter()
            if sent >= start:
                out["latencies"].append(done - sent)
                out["statuses"][str(status)] = out["statuses"].get(str(status), 0) + 1
                if spec["body"] == "payment" and status == 201:
                    decision = json.loads(payload)["decision"]["action"]
                    out["actions"][decision] = out["actions"].get(decision, 0) + 1
                if spec["body"] == "transfers" and status == 200:
                    out["events"] += json.loads(payload)["ok"]
                elif spec["body"] != "transfers":
                    out["events"] += 1 if status < 300 else 0
                if status >= 300 and len(out["errors"]) < 5:
                    out["errors"].append(payload.decode(errors="replace")[:300])
    finally:
        writer.close()


async def _run(spec: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "latencies": [],
        "statuses": {},
        "actions": {},
        "events": 0,
        "errors": [],
    }
    begin = time.perf_counter()
    start = begin + spec["warmup"]
    stop = start + spec["duration"]
    await asyncio.gather(
        *(_worker(spec, index, start, stop, out) for index in range(spec["connections"]))
    )
    out["seconds"] = time.perf_counter() - start
    return out


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    result = uvloop.run(_run(spec))
    Path(sys.argv[2]).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
