"""Setting a world up on the platform through the public HTTP API, with one API key.

Guarantees:
- One customer per world account owner (`POST /v1/customers`: person, merchant, enterprise, or
  agent for a bank's cash desk; businesses tier 3 with `BUSINESS_LIMITS`). An owner above tier 1
  is onboarded at tier 1, given the synthetic documents its tier needs
  (`POST /v1/customers/{id}/documents`, `clearline.kyc.specimens`), then raised to its tier
  (`PATCH`, which changes nothing when repeated). One wallet per account
  in its asset (`POST /v1/accounts`), and the opening balance funded from each asset's omnibus
  account (`POST /v1/transfers` in batches of at most `TRANSFER_BATCH_MAX`).
- Every POST carries an `Idempotency-Key` derived from the world's ids: a re-run of the same setup
  is the same requests, answered with the first results.
- Bounded: at most `SETUP_CONCURRENCY` requests in flight; progress every `SETUP_REPORT_EVERY`
  accounts.
"""

from __future__ import annotations

import asyncio
from typing import Any

from clearline.core.money import Money
from clearline.demo.errors import SetupRequestRefused
from clearline.demo.traffic.client import Connection, derived_id, post
from clearline.demo.traffic.plan import Owner
from clearline.demo.traffic.protocol import Report
from clearline.kyc.specimens import specimen_documents

TRANSFER_BATCH_MAX = 8_190
"""The ledger's batch limit: the most transfers one `POST /v1/transfers` may carry."""
SETUP_CONCURRENCY = 64
SETUP_REPORT_EVERY = 250
BUSINESS_LIMITS = {"per_payment_usd": "10000000", "per_day_usd": "100000000"}
"""Limits an operator sets for a business customer (merchant, enterprise, cash agent), in USD."""


async def _create_owner(connection: Connection, owner: Owner) -> str:
    customer: dict[str, Any] = {
        "name": owner.name,
        "kind": owner.kind,
        "tier": min(owner.tier, 1),
        "country": owner.country,
    }
    if owner.kind != "person":
        customer["limits"] = BUSINESS_LIMITS
    created = await post(connection, "/v1/customers", customer, f"sim-customer-{owner.account_id}")
    if owner.tier > 1:
        await _verify(connection, created["id"], owner)
    account = await post(
        connection,
        "/v1/accounts",
        {"customer_id": created["id"], "asset": owner.asset, "kind": "wallet"},
        f"sim-account-{owner.account_id}",
    )
    return str(account["id"])


async def _verify(connection: Connection, customer_id: str, owner: Owner) -> None:
    """Give the customer the documents its tier needs, then raise it to that tier."""
    documents = specimen_documents(customer_id, owner.country, owner.tier)
    for index, document in enumerate(documents):
        path = f"/v1/customers/{customer_id}/documents"
        await post(connection, path, document, f"sim-document-{owner.account_id}-{index}")
    status, data = await connection.request(
        "PATCH", f"/v1/customers/{customer_id}", {"tier": owner.tier}
    )
    if status >= 300:
        raise SetupRequestRefused(f"PATCH /v1/customers answered {status}: {str(data)[:300]}")


async def setup(
    url: str, key: str, owners: list[Owner], report: Report
) -> tuple[dict[int, str], int]:
    """Customers and wallets for `owners`, funded from each asset's omnibus account: the map of
    world account id → platform account id, and the number of funding transfers."""
    connections = [Connection(url, key) for _ in range(SETUP_CONCURRENCY)]
    first = connections[0]
    omnibus = {}
    for asset in sorted({owner.asset for owner in owners}):
        made = await post(
            first, "/v1/accounts", {"asset": asset, "kind": "omnibus"}, f"sim-omnibus-{asset}"
        )
        omnibus[asset] = str(made["id"])
    mapping: dict[int, str] = {}
    pending = iter(owners)

    async def worker(connection: Connection) -> None:
        for owner in pending:
            mapping[owner.account_id] = await _create_owner(connection, owner)
            if len(mapping) % SETUP_REPORT_EVERY == 0:
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
        result = await post(
            connection,
            "/v1/transfers",
            {"transfers": batch},
            f"sim-funding-batch-{batch[0]['id']}",
        )
        refused = [r for r in result["results"] if r["result"] not in ("ok", "exists")]
        if refused:
            raise SetupRequestRefused(
                f"funding refused {len(refused)} transfers, e.g. {refused[0]}"
            )
    return len(transfers)
