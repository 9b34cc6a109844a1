"""Replaying a plan's payments through `POST /v1/payments`, bounded and measured.

Guarantees:
- At most `concurrency` requests are in flight (one per keep-alive connection); with `rate` > 0
  payments are sent on that schedule, else as fast as the server answers.
- Each payment carries the `Idempotency-Key` `sim-<world transaction id>`, so a request retried
  on a new connection is the same payment.
- The shared world clock (`SharedClock`) is moved to a payment's timestamp just before it is sent:
  with `concurrency` payments in flight a payment is stamped at most that many payments late.
- `should_stop()` is checked before every payment: a stop ends the replay after the requests in
  flight are answered; progress is reported every `REPORT_EVERY_S`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

from clearline.core.money import Money
from clearline.demo.traffic.client import Connection
from clearline.demo.traffic.clock import SharedClock
from clearline.demo.traffic.plan import Plan, Row
from clearline.demo.traffic.protocol import Report
from clearline.demo.traffic.tally import Tally

REPORT_EVERY_S = 0.5


def payment_body(row: Row, mapping: dict[int, str]) -> dict[str, Any] | None:
    """The `POST /v1/payments` body of a world payment (None if an account was not set up)."""
    source, destination = mapping.get(row.from_account_id), mapping.get(row.to_account_id)
    if source is None or destination is None:
        return None
    body: dict[str, Any] = {
        "source_account_id": source,
        "destination_account_id": destination,
        "amount": Money.of(row.amount, row.asset).format(),
        "asset": row.asset,
        "payment_type": row.payment_type,
        "channel": row.channel,
        "destination_country": row.to_country,
        "reference": f"sim:{row.transaction_id}",
    }
    if row.device_id is not None:
        body["device_id"] = str(row.device_id)
    if row.merchant_category is not None:
        body["merchant_category"] = row.merchant_category
    return body


async def _send(connection: Connection, row: Row, body: dict[str, Any], tally: Tally) -> None:
    started = time.perf_counter()
    try:
        status, data = await connection.request(
            "POST", "/v1/payments", body, f"sim-{row.transaction_id}"
        )
    except (OSError, asyncio.IncompleteReadError, ConnectionError, ValueError):
        tally.error()
        return
    tally.latency((time.perf_counter() - started) * 1000.0)
    if status == 201:
        tally.decided(row, data["status"], data["decision"]["action"])
    elif 400 <= status < 500 and isinstance(data, dict):
        tally.refusal(row, str(data.get("code", status)))
    else:
        tally.error()


async def replay(
    url: str,
    key: str,
    plan: Plan,
    mapping: dict[int, str],
    *,
    concurrency: int,
    rate: float,
    should_stop: Callable[[], bool],
    report: Report,
    world_clock: SharedClock | None = None,
) -> Tally:
    """Send the plan's payments with at most `concurrency` in flight, at `rate` per second
    (0: as fast as the server answers); report progress every `REPORT_EVERY_S`."""
    tally = Tally(len(plan.rows), plan.skipped_cross_currency)
    queue: Iterator[tuple[int, Row]] = enumerate(plan.rows)

    async def worker() -> None:
        connection = Connection(url, key)
        try:
            await _work(connection)
        finally:
            connection.close()

    async def _work(connection: Connection) -> None:
        for index, row in queue:
            if should_stop():
                return
            if rate > 0:
                delay = tally.started + index / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            body = payment_body(row, mapping)
            if body is None:
                tally.refusal(row, "account_not_set_up")
                continue
            if world_clock is not None:
                world_clock.advance(row.timestamp_ns)
            tally.sim_time_ns = max(tally.sim_time_ns, row.timestamp_ns)
            tally.sent += 1
            await _send(connection, row, body, tally)

    async def reporter() -> None:
        while True:
            await asyncio.sleep(REPORT_EVERY_S)
            report(tally.snapshot())

    progress = asyncio.ensure_future(reporter())
    try:
        await asyncio.gather(*(worker() for _ in range(max(1, concurrency))))
    finally:
        progress.cancel()
    return tally
