"""Turning a simulated world into platform state and live HTTP traffic.

`python -m clearline.traffic --url URL --key KEY --world DIR --from-day N` sets the world up on a
running Clearline server and replays its later payments through `POST /v1/payments`, printing one
JSON object per line (progress, then a final tally). `clearline demo` runs the same code in a child
process (`child_main`) and reads the same objects from a queue.

Guarantees:
- Everything goes through the public HTTP API with one API key: customers, wallets, opening
  balances (from each asset's omnibus account, `POST /v1/transfers` in batches of at most
  `TRANSFER_BATCH_MAX`) and payments. Every POST carries an `Idempotency-Key` derived from the
  world's ids, so a retried request is the same request.
- Opening balances are the world's balances when the replay starts: its opening balance plus what
  the account received less what it paid before that day. A credit line is funded as money lent in
  advance (balance plus unused credit), because a platform wallet cannot go below zero.
- Only same-asset payments are replayed; cross-currency ones need FX, which the payment endpoint
  does not do, and are skipped and counted (`skipped_cross_currency`).
- Counts are measured, never estimated: each payment's HTTP answer (status, decision) is joined with
  the world's label (`labels.parquet` `is_fraud`, `fraud_scenario`); latency is the client's time
  from sending the request to reading the whole answer.
- Bounded: at most `concurrency` requests are in flight; progress is reported every
  `REPORT_EVERY_S`; latencies keep at most `LATENCY_SAMPLES_MAX` samples (a reservoir).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from clearline.core.money import Money

DAY_NS = 86_400 * 1_000_000_000
TRANSFER_BATCH_MAX = 8_190
"""The ledger's batch limit: the most transfers one `POST /v1/transfers` may carry."""
SETUP_CONCURRENCY = 64
REPORT_EVERY_S = 0.5
LATENCY_SAMPLES_MAX = 200_000
REQUEST_TIMEOUT_S = 60.0
BUSINESS_LIMITS = {"per_payment_usd": "10000000", "per_day_usd": "100000000"}
"""Limits an operator sets for a business customer (merchant, enterprise, cash agent), in USD."""
CUSTOMER_KIND = {
    "person": "person",
    "merchant": "merchant",
    "enterprise": "enterprise",
    "participant": "agent",
}
"""World owner kind → platform customer kind (a bank's cash desk acts as a cash agent)."""

Report = Callable[[dict[str, Any]], None]


# -- the world, read once -----------------------------------------------------------------------


class Owner(NamedTuple):
    """One world account and its owner, as the platform will hold it.

    account_id: the world's account id. kind: platform customer kind. tier: KYC tier (3 for
    businesses). funding_units: minor units to credit before the replay (never negative).
    """

    account_id: int
    kind: str
    name: str
    country: str
    asset: str
    tier: int
    funding_units: int


class Row(NamedTuple):
    """One payment to replay, with its label."""

    transaction_id: int
    timestamp_ns: int
    from_account_id: int
    to_account_id: int
    amount: int
    asset: str
    payment_type: str
    channel: str
    merchant_category: str | None
    device_id: int | None
    to_country: str
    is_fraud: bool
    scenario: str


@dataclass(frozen=True, slots=True)
class Plan:
    """What to set up and what to replay. start_ns: the first replayed day (UTC midnight)."""

    owners: list[Owner]
    rows: list[Row]
    start_ns: int
    skipped_cross_currency: int


def world_start_ns(world_dir: Path) -> int:
    """UTC midnight of the world's first day."""
    stamps = pq.read_table(Path(world_dir) / "transactions.parquet", columns=["timestamp"])
    first = pc.min(stamps.column("timestamp").cast(pa.int64())).as_py()
    return int(first) // DAY_NS * DAY_NS


def _strings(table: pa.Table, name: str) -> list[Any]:
    values: list[Any] = table.column(name).cast(pa.string()).to_pylist()
    return values


def _sums(table: pa.Table, key: str, value: str) -> dict[int, int]:
    grouped = table.group_by(key).aggregate([(value, "sum")])
    return dict(
        zip(
            grouped.column(key).to_pylist(), grouped.column(f"{value}_sum").to_pylist(), strict=True
        )
    )


def load_owners(world_dir: Path, start_ns: int) -> list[Owner]:
    """Every world account with its owner and its balance (plus unused credit) at `start_ns`."""
    directory = Path(world_dir)
    accounts = pq.read_table(directory / "accounts.parquet")
    people = pq.read_table(directory / "people.parquet", columns=["account_id", "kyc_tier"])
    tiers = dict(
        zip(
            people.column("account_id").to_pylist(),
            people.column("kyc_tier").to_pylist(),
            strict=True,
        )
    )
    names = _participant_names(directory)
    history = pq.read_table(
        directory / "transactions.parquet",
        columns=["timestamp", "from_account_id", "to_account_id", "amount_paid", "amount_received"],
    )
    history = history.filter(pc.less(history.column("timestamp").cast(pa.int64()), start_ns))
    paid = _sums(history, "from_account_id", "amount_paid")
    received = _sums(history, "to_account_id", "amount_received")
    owners = []
    for account_id, kind, owner_id, country, asset, credit, opening in zip(
        accounts.column("account_id").to_pylist(),
        _strings(accounts, "owner_kind"),
        accounts.column("owner_id").to_pylist(),
        _strings(accounts, "country"),
        _strings(accounts, "asset"),
        accounts.column("credit_limit").to_pylist(),
        accounts.column("opening_balance").to_pylist(),
        strict=True,
    ):
        balance = opening + received.get(account_id, 0) - paid.get(account_id, 0)
        name = names.get(account_id) or f"{kind} {owner_id & 0xFFFFFFFF:08x}"
        owners.append(
            Owner(
                account_id,
                CUSTOMER_KIND[kind],
                name,
                country,
                asset,
                int(tiers.get(account_id, 3)),
                max(0, balance + credit),
            )
        )
    return owners


def _participant_names(directory: Path) -> dict[int, str]:
    path = directory / "participants.parquet"
    if not path.exists():
        return {}
    table = pq.read_table(path, columns=["cash_account_id", "name"])
    return {
        account: f"{name} cash desk"
        for account, name in zip(
            table.column("cash_account_id").to_pylist(),
            table.column("name").to_pylist(),
            strict=True,
        )
    }


def load_rows(world_dir: Path, start_ns: int, until_ns: int | None = None) -> tuple[list[Row], int]:
    """Same-asset payments in [start_ns, until_ns) in time order, and how many cross-currency
    payments of that window were left out."""
    directory = Path(world_dir)
    table = pq.read_table(directory / "transactions.parquet")
    labels = pq.read_table(directory / "labels.parquet", columns=["is_fraud", "fraud_scenario"])
    stamps = table.column("timestamp").cast(pa.int64())
    keep = pc.greater_equal(stamps, start_ns)
    if until_ns is not None:
        keep = pc.and_(keep, pc.less(stamps, until_ns))
    table, labels = table.filter(keep), labels.filter(keep)
    same = pc.equal(
        table.column("asset_paid").cast(pa.string()),
        table.column("asset_received").cast(pa.string()),
    )
    skipped = len(table) - pc.sum(same.cast(pa.int64())).as_py() if len(table) else 0
    table, labels = table.filter(same), labels.filter(same)
    rows = [
        Row._make([*values, scenario or ""])
        for *values, scenario in zip(
            table.column("transaction_id").to_pylist(),
            table.column("timestamp").cast(pa.int64()).to_pylist(),
            table.column("from_account_id").to_pylist(),
            table.column("to_account_id").to_pylist(),
            table.column("amount_paid").to_pylist(),
            _strings(table, "asset_paid"),
            _strings(table, "payment_type"),
            _strings(table, "channel"),
            _strings(table, "merchant_category"),
            table.column("device_id").to_pylist(),
            _strings(table, "to_country"),
            labels.column("is_fraud").to_pylist(),
            _strings(labels, "fraud_scenario"),
            strict=True,
        )
    ]
    rows.sort(key=lambda row: row.timestamp_ns)
    return rows, int(skipped)


def load_plan(
    world_dir: Path, from_day: int, replay_days: int | None = None, payments: int | None = None
) -> Plan:
    """The setup and replay of a world whose days before `from_day` are history."""
    start_ns = world_start_ns(world_dir) + from_day * DAY_NS
    until_ns = None if replay_days is None else start_ns + replay_days * DAY_NS
    rows, skipped = load_rows(world_dir, start_ns, until_ns)
    if payments is not None:
        rows = rows[:payments]
    return Plan(load_owners(world_dir, start_ns), rows, start_ns, skipped)


# -- setup over HTTP ----------------------------------------------------------------------------


def derived_id(text: str) -> str:
    """A stable 128-bit id (32 hex digits) for a setup step, so a retried step is the same one."""
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class ApiFailure(RuntimeError):
    """The server refused a setup request (setup cannot continue without it)."""


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


async def _post(connection: Connection, path: str, body: dict[str, Any], key: str) -> Any:
    status, data = await connection.request("POST", path, body, key)
    if status >= 300:
        raise ApiFailure(f"POST {path} answered {status}: {str(data)[:300]}")
    return data


async def _create_owner(connection: Connection, owner: Owner) -> str:
    customer: dict[str, Any] = {
        "name": owner.name,
        "kind": owner.kind,
        "tier": owner.tier,
        "country": owner.country,
    }
    if owner.kind != "person":
        customer["limits"] = BUSINESS_LIMITS
    created = await _post(connection, "/v1/customers", customer, f"sim-customer-{owner.account_id}")
    account = await _post(
        connection,
        "/v1/accounts",
        {"customer_id": created["id"], "asset": owner.asset, "kind": "wallet"},
        f"sim-account-{owner.account_id}",
    )
    return str(account["id"])


async def setup(
    url: str, key: str, owners: list[Owner], report: Report
) -> tuple[dict[int, str], int]:
    """Customers and wallets for `owners`, funded from each asset's omnibus account: the map of
    world account id → platform account id, and the number of funding transfers."""
    connections = [Connection(url, key) for _ in range(SETUP_CONCURRENCY)]
    first = connections[0]
    omnibus = {}
    for asset in sorted({owner.asset for owner in owners}):
        made = await _post(
            first, "/v1/accounts", {"asset": asset, "kind": "omnibus"}, f"sim-omnibus-{asset}"
        )
        omnibus[asset] = str(made["id"])
    mapping: dict[int, str] = {}
    pending = iter(owners)

    async def worker(connection: Connection) -> None:
        for owner in pending:
            mapping[owner.account_id] = await _create_owner(connection, owner)
            if len(mapping) % 250 == 0:
                report({"event": "setup_progress", "accounts": len(mapping), "total": len(owners)})

    try:
        await asyncio.gather(*(worker(connection) for connection in connections))
        funded = await _fund(first, owners, omnibus, mapping)
    finally:
        for connection in connections:
            connection.close()
    return mapping, funded


async def _fund(
    connection: Connection, owners: list[Owner], omnibus: dict[str, str], mapping: dict[int, str]
) -> int:
    transfers = [
        {
            "id": derived_id(f"sim-funding-{owner.account_id}"),
            "debit_account_id": omnibus[owner.asset],
            "credit_account_id": mapping[owner.account_id],
            "amount": Money.of(owner.funding_units, owner.asset).format(),
            "asset": owner.asset,
        }
        for owner in owners
        if owner.funding_units > 0
    ]
    for first in range(0, len(transfers), TRANSFER_BATCH_MAX):
        batch = transfers[first : first + TRANSFER_BATCH_MAX]
        result = await _post(
            connection,
            "/v1/transfers",
            {"transfers": batch},
            f"sim-funding-batch-{batch[0]['id']}",
        )
        refused = [r for r in result["results"] if r["result"] not in ("ok", "exists")]
        if refused:
            raise ApiFailure(f"funding refused {len(refused)} transfers, e.g. {refused[0]}")
    return len(transfers)


# -- replay over HTTP ---------------------------------------------------------------------------


@dataclass(slots=True)
class Tally:
    """Measured outcomes of the replayed payments, joined with the world's labels.

    Actions are the risk decisions of payments the server accepted (201). `failed`: approved or
    held by risk, then refused by the ledger (e.g. insufficient funds). `refused`: answered 4xx
    before any decision (limits, unknown rate), by problem code. `errors`: 5xx or no answer.
    Fraud: caught = declined or reviewed; missed = approved; `fraud_refused` = stopped before the
    decision (limits). False alarms: honest payments declined or reviewed.
    """

    total: int
    skipped_cross_currency: int
    started: float = field(default_factory=time.perf_counter)
    sent: int = 0
    done: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    fraud_seen: int = 0
    fraud_caught: int = 0
    fraud_missed: int = 0
    fraud_refused: int = 0
    false_alarms: int = 0
    honest_decided: int = 0
    scenarios: dict[str, list[int]] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    sim_time_ns: int = 0
    _rng: random.Random = field(default_factory=lambda: random.Random(0))

    def latency(self, value_ms: float) -> None:
        if len(self.latencies_ms) < LATENCY_SAMPLES_MAX:
            self.latencies_ms.append(value_ms)
            return
        slot = self._rng.randrange(self.done + 1)
        if slot < LATENCY_SAMPLES_MAX:
            self.latencies_ms[slot] = value_ms

    def decided(self, row: Row, status: str, action: str) -> None:
        self.done += 1
        self.actions[action] += 1
        self.statuses[status] += 1
        alarm = action in ("review", "decline")
        if row.is_fraud:
            self.fraud_seen += 1
            seen = self.scenarios.setdefault(row.scenario or "unknown", [0, 0])
            seen[0] += 1
            if alarm:
                self.fraud_caught += 1
                seen[1] += 1
            else:
                self.fraud_missed += 1
        else:
            self.honest_decided += 1
            self.false_alarms += alarm

    def refusal(self, row: Row, code: str) -> None:
        self.done += 1
        self.refused[code] += 1
        if row.is_fraud:
            self.fraud_seen += 1
            self.fraud_refused += 1
            self.scenarios.setdefault(row.scenario or "unknown", [0, 0])[0] += 1

    def error(self) -> None:
        self.done += 1
        self.errors += 1

    def snapshot(self) -> dict[str, Any]:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        p50, p99 = (
            np.percentile(np.asarray(self.latencies_ms), [50, 99]).tolist()
            if self.latencies_ms
            else (None, None)
        )
        return {
            "event": "progress",
            "elapsed_s": elapsed,
            "total": self.total,
            "sent": self.sent,
            "done": self.done,
            "payments_per_s": self.done / elapsed,
            "approve": self.actions["approve"],
            "review": self.actions["review"],
            "decline": self.actions["decline"],
            "statuses": dict(self.statuses),
            "failed": self.statuses["failed"],
            "refused": dict(self.refused),
            "errors": self.errors,
            "fraud_seen": self.fraud_seen,
            "fraud_caught": self.fraud_caught,
            "fraud_missed": self.fraud_missed,
            "fraud_refused": self.fraud_refused,
            "false_alarms": self.false_alarms,
            "honest_decided": self.honest_decided,
            "scenarios": {name: list(pair) for name, pair in self.scenarios.items()},
            "latency_ms_p50": p50,
            "latency_ms_p99": p99,
            "sim_time_ns": self.sim_time_ns,
            "skipped_cross_currency": self.skipped_cross_currency,
        }


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


class SharedTime:
    """Where the replay is in the world's time, for a server whose clock follows the replay
    (`clearline demo`); any object with an integer `value` (a `multiprocessing` shared value)."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def advance(self, timestamp_ns: int) -> None:
        if timestamp_ns > self.value.value:
            self.value.value = timestamp_ns


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
    shared_time: SharedTime | None = None,
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
            if shared_time is not None:
                shared_time.advance(row.timestamp_ns)
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


# -- running it ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrafficOptions:
    """url, key: the server and an operator (or admin) key. world_dir, from_day: the world and its
    first replayed day (earlier days are history). replay_days, payments: optional bounds.
    rate: payments per second (0: as fast as possible). concurrency: requests in flight."""

    url: str
    key: str
    world_dir: Path
    from_day: int
    replay_days: int | None = None
    payments: int | None = None
    rate: float = 0.0
    concurrency: int = 32


async def run_traffic(
    options: TrafficOptions,
    report: Report,
    should_stop: Callable[[], bool] = lambda: False,
    *,
    shared_time: SharedTime | None = None,
    wait_for_go: Callable[[], bool] | None = None,
) -> dict[str, Any]:
    """Set the world up, optionally wait until `wait_for_go()` is true, replay; the final tally."""
    plan = load_plan(options.world_dir, options.from_day, options.replay_days, options.payments)
    report({"event": "plan", "accounts": len(plan.owners), "payments": len(plan.rows)})
    started = time.perf_counter()
    mapping, funded = await setup(options.url, options.key, plan.owners, report)
    report(
        {
            "event": "setup",
            "accounts": len(mapping),
            "funded": funded,
            "seconds": time.perf_counter() - started,
            "mapping": {str(world): platform for world, platform in mapping.items()},
        }
    )
    while wait_for_go is not None and not wait_for_go():
        if should_stop():
            break
        await asyncio.sleep(0.05)
    tally = await replay(
        options.url,
        options.key,
        plan,
        mapping,
        concurrency=options.concurrency,
        rate=options.rate,
        should_stop=should_stop,
        report=report,
        shared_time=shared_time,
    )
    final = {**tally.snapshot(), "event": "done", "stopped": should_stop()}
    report(final)
    return final


def _run(work: Any) -> dict[str, Any]:
    """Run a coroutine on uvloop when installed (a cheaper event loop), else asyncio's."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(work)
    return uvloop.run(work)


def child_main(
    options: TrafficOptions, queue: Any, stop: Any, go: Any, clock_value: Any = None
) -> None:
    """Entry point of the traffic child process of `clearline demo` (multiprocessing, spawn).

    Ctrl-C reaches the whole process group; the child ignores it and stops when the parent sets
    `stop`, so the parent decides the order of shutdown."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        _run(
            run_traffic(
                options,
                queue.put,
                stop.is_set,
                shared_time=None if clock_value is None else SharedTime(clock_value),
                wait_for_go=go.is_set,
            )
        )
    except Exception as error:  # reported to the parent, which shows it and stops
        queue.put({"event": "error", "message": f"{type(error).__name__}: {error}"})


def main(argv: list[str] | None = None) -> int:
    """`python -m clearline.traffic`: set up and replay a world on a running server."""
    parser = argparse.ArgumentParser(prog="python -m clearline.traffic", description=__doc__)
    parser.add_argument("--url", required=True, help="server URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--key", required=True, help="an operator or admin API key")
    parser.add_argument("--world", required=True, type=Path, help="world directory")
    parser.add_argument("--from-day", type=int, default=0, help="first replayed day")
    parser.add_argument("--days", type=int, default=None, help="days to replay (default all)")
    parser.add_argument("--payments", type=int, default=None, help="at most this many")
    parser.add_argument("--rate", type=float, default=0.0, help="payments/s (0: fast as possible)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight")
    args = parser.parse_args(argv)
    options = TrafficOptions(
        args.url,
        args.key,
        args.world,
        args.from_day,
        args.days,
        args.payments,
        args.rate,
        args.concurrency,
    )

    def emit(message: dict[str, Any]) -> None:
        shown = {k: v for k, v in message.items() if k != "mapping"}
        print(json.dumps(shown), flush=True)

    final = _run(run_traffic(options, emit))
    return 0 if final["errors"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
