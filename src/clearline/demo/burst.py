"""`clearline demo --ledger-burst`: the older ledger-only burst demo, on the embedded default.

It exercises the ledger end to end on the data directory: multi-asset accounts (wallets that
cannot go below zero, merchants, a settlement account per asset, a fee account with balance
history), a funding run, a burst of payments with a live progress bar, two-phase holds that are
posted or voided, an idempotent replay, then balances, result codes, throughput, and a reopen that
re-verifies every invariant from the durable log. The ledger is sealed (the default): every event
is a leaf of the verifiable log, and the demo ends with the last signed checkpoint. Re-running it
adds to the same ledger (accounts answer `exists`, payments get fresh ids).
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from clearline.chain.log import ChainLog
from clearline.chain.notes import parse_checkpoint, parse_note
from clearline.core.assets import asset as parse_asset
from clearline.core.ids import new_id
from clearline.core.money import Money
from clearline.ledger import (
    BATCH_EVENTS_MAX,
    Account,
    AccountFlags,
    EventResult,
    Ledger,
    Transfer,
    TransferFlags,
)

ASSETS = ("CNY", "THB", "AED", "USD", "USDC/6")
"""Five assets with different scales and corridors: yuan, baht, dirham, dollar, a stablecoin."""
CODE_SETTLEMENT, CODE_WALLET, CODE_MERCHANT, CODE_FEES = 100, 200, 300, 400
CODE_FUNDING, CODE_PAYMENT, CODE_FEE, CODE_HOLD = 1, 2, 3, 4


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """wallets per asset, payments in the burst, batch size, and the random seed."""

    wallets: int = 2_000
    payments: int = 200_000
    batch: int = BATCH_EVENTS_MAX
    seed: int = 2026


def account_id(asset_index: int, kind: int, number: int) -> int:
    """Deterministic demo ids: asset, kind and number packed into one 128-bit id."""
    return (asset_index + 1) << 64 | kind << 32 | number


def _accounts(options: DemoOptions) -> list[Account]:
    wallet_flags = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
    accounts: list[Account] = []
    for index, spec in enumerate(ASSETS):
        asset = parse_asset(spec)
        accounts.append(Account(account_id(index, CODE_SETTLEMENT, 0), asset, CODE_SETTLEMENT))
        accounts.append(
            Account(account_id(index, CODE_FEES, 0), asset, CODE_FEES, flags=AccountFlags.HISTORY)
        )
        accounts.extend(
            Account(account_id(index, CODE_WALLET, n), asset, CODE_WALLET, flags=wallet_flags)
            for n in range(options.wallets)
        )
        accounts.extend(
            Account(account_id(index, CODE_MERCHANT, n), asset, CODE_MERCHANT)
            for n in range(max(options.wallets // 20, 1))
        )
    return accounts


def _units(asset: str, major: int) -> int:
    return Money.parse(str(major), asset).units


def _funding(options: DemoOptions, rng: random.Random) -> list[Transfer]:
    transfers = []
    for index, asset in enumerate(ASSETS):
        for n in range(options.wallets):
            transfers.append(
                Transfer(
                    id=new_id(),
                    debit_account_id=account_id(index, CODE_SETTLEMENT, 0),
                    credit_account_id=account_id(index, CODE_WALLET, n),
                    amount=_units(asset, rng.randrange(50, 5_000)),
                    code=CODE_FUNDING,
                )
            )
    return transfers


def _payment(options: DemoOptions, rng: random.Random) -> Transfer:
    index = rng.randrange(len(ASSETS))
    asset = ASSETS[index]
    payer = rng.randrange(options.wallets)
    to_merchant = rng.random() < 0.6
    if to_merchant:
        payee = account_id(index, CODE_MERCHANT, rng.randrange(max(options.wallets // 20, 1)))
    else:
        other = rng.randrange(options.wallets - 1)
        payee = account_id(index, CODE_WALLET, other + (other >= payer))
    major_cents = int(rng.lognormvariate(7.0, 1.2))  # heavy-tailed, median ≈ 11 major units
    scale = Money.of(0, asset).asset.scale
    amount = max(1, major_cents * 10**scale // 100)
    return Transfer(
        id=new_id(),
        debit_account_id=account_id(index, CODE_WALLET, payer),
        credit_account_id=payee,
        amount=amount,
        code=CODE_PAYMENT,
    )


def _burst(
    ledger: Ledger, options: DemoOptions, rng: random.Random, console: Console
) -> tuple[Counter[str], float]:
    codes: Counter[str] = Counter()
    progress = Progress(
        TextColumn("[bold]payments"),
        BarColumn(),
        TextColumn("{task.completed:,}/{task.total:,}"),
        TextColumn("{task.fields[rate]}"),
        TimeRemainingColumn(),
        console=console,
    )
    busy_seconds = 0.0
    with progress:
        task = progress.add_task("burst", total=options.payments, rate="")
        done = 0
        while done < options.payments:
            size = min(options.batch, options.payments - done)
            batch = [_payment(options, rng) for _ in range(size)]
            started = time.perf_counter()
            results = ledger.create_transfers(batch)
            busy_seconds += time.perf_counter() - started
            codes.update(result.result.value for result in results)
            done += size
            progress.update(task, advance=size, rate=f"{done / busy_seconds:,.0f} transfers/s")
    return codes, busy_seconds


def _holds(ledger: Ledger, options: DemoOptions, rng: random.Random) -> Counter[str]:
    """Card-style authorisations: hold, then capture part of some and release the others."""
    holds = []
    for _ in range(min(500, options.wallets)):
        payment = _payment(options, rng)
        holds.append(
            Transfer(
                id=payment.id,
                debit_account_id=payment.debit_account_id,
                credit_account_id=payment.credit_account_id,
                amount=payment.amount,
                code=CODE_HOLD,
                flags=TransferFlags.PENDING,
                timeout=3600,
            )
        )
    placed = ledger.create_transfers(holds)
    resolutions = []
    for hold, result in zip(holds, placed, strict=True):
        if not result.ok:
            continue
        if rng.random() < 0.7:
            resolutions.append(
                Transfer(
                    id=new_id(),
                    debit_account_id=0,
                    credit_account_id=0,
                    amount=max(1, hold.amount * 9 // 10),
                    pending_id=hold.id,
                    code=0,
                    flags=TransferFlags.POST_PENDING_TRANSFER,
                )
            )
        else:
            resolutions.append(
                Transfer(
                    id=new_id(),
                    debit_account_id=0,
                    credit_account_id=0,
                    amount=0,
                    pending_id=hold.id,
                    code=0,
                    flags=TransferFlags.VOID_PENDING_TRANSFER,
                )
            )
    resolved = ledger.create_transfers(resolutions)
    codes = Counter(f"hold {r.result.value}" for r in placed)
    codes.update(
        f"{'capture' if t.flags & TransferFlags.POST_PENDING_TRANSFER else 'release'} "
        f"{r.result.value}"
        for t, r in zip(resolutions, resolved, strict=True)
    )
    return codes


def _asset_table(ledger: Ledger, accounts: list[Account]) -> Table:
    table = Table(title="Per asset: Σ debits = Σ credits")
    for column in (
        "asset",
        "accounts",
        "Σ debits posted",
        "Σ credits posted",
        "Σ pending",
        "holds",
    ):
        table.add_column(column, justify="left" if column == "asset" else "right")
    live = ledger.lookup_accounts([account.id for account in accounts])
    for asset in ASSETS:
        mine = [a for a in live if a.asset.spec == asset]
        debits = sum(a.debits_posted for a in mine)
        credits = sum(a.credits_posted for a in mine)
        pending_debits = sum(a.debits_pending for a in mine)
        pending_credits = sum(a.credits_pending for a in mine)
        status = (
            "[green]✓[/green]"
            if (debits, pending_debits) == (credits, pending_credits)
            else "[red]✗[/red]"
        )
        table.add_row(
            f"{asset} {status}",
            f"{len(mine):,}",
            Money.of(debits, asset).format(),
            Money.of(credits, asset).format(),
            Money.of(pending_debits, asset).format(),
            f"{sum(1 for a in mine if a.debits_pending):,}",
        )
    return table


def _richest(ledger: Ledger, options: DemoOptions) -> Table:
    table = Table(title="Sample wallets and merchants (USD)")
    for column in ("account", "balance", "available", "pending out"):
        table.add_column(column, justify="left" if column == "account" else "right")
    usd = ASSETS.index("USD")
    ids = [account_id(usd, CODE_WALLET, n) for n in range(3)]
    ids += [account_id(usd, CODE_MERCHANT, n) for n in range(2)]
    for account in ledger.lookup_accounts(ids):
        kind = "wallet" if account.code == CODE_WALLET else "merchant"
        table.add_row(
            f"{kind} {account.id & 0xFFFFFFFF}",
            Money.of(account.balance, "USD").format(),
            Money.of(account.available, "USD").format() if kind == "wallet" else "—",
            Money.of(account.debits_pending, "USD").format(),
        )
    return table


def _print_results(console: Console, codes: Counter[str], results: list[EventResult]) -> None:
    table = Table(title="Result codes")
    table.add_column("result")
    table.add_column("count", justify="right")
    for code, count in codes.most_common():
        table.add_row(code, f"{count:,}")
    table.add_row("replay of the funding run", ", ".join(sorted({r.result.value for r in results})))
    console.print(table)


def run_demo(data_dir: Path, options: DemoOptions, console: Console) -> None:
    """Run the demo on `data_dir` and print what happened."""
    rng = random.Random(options.seed)
    console.rule("[bold]Clearline demo: the ledger")
    console.print(f"data directory: {data_dir.resolve()}")
    opened = time.perf_counter()
    ledger = Ledger.open(data_dir)
    console.print(
        f"opened and verified {ledger.transfer_count_at_open:,} stored transfers in "
        f"{time.perf_counter() - opened:.2f} s"
    )
    accounts = _accounts(options)
    created = Counter(
        r.result.value
        for start in range(0, len(accounts), BATCH_EVENTS_MAX)
        for r in ledger.create_accounts(accounts[start : start + BATCH_EVENTS_MAX])
    )
    console.print(f"accounts in {len(ASSETS)} assets: {dict(created)}")
    funding = _funding(options, rng)
    for start in range(0, len(funding), BATCH_EVENTS_MAX):
        ledger.create_transfers(funding[start : start + BATCH_EVENTS_MAX])
    replay = ledger.create_transfers(funding[:BATCH_EVENTS_MAX])  # the same ids again
    console.print(f"funded {len(funding):,} wallets from the settlement accounts")
    codes, busy_seconds = _burst(ledger, options, rng, console)
    codes.update(_holds(ledger, options, rng))
    console.print(_asset_table(ledger, accounts))
    console.print(_richest(ledger, options))
    _print_results(console, codes, replay)
    console.print(
        f"[bold]{options.payments:,} payments in {busy_seconds:.2f} s = "
        f"{options.payments / busy_seconds:,.0f} transfers/s[/bold] durable (fsync per commit), "
        f"{ledger.stats.commits:,} commits"
    )
    ledger.close()
    reopened = time.perf_counter()
    with Ledger.open(data_dir) as again:
        count = again.transfer_count_at_open
    console.print(
        f"[green]reopened: {count:,} transfers replayed and every invariant verified in "
        f"{time.perf_counter() - reopened:.2f} s[/green]"
    )
    with ChainLog(data_dir) as log:
        note = log.latest_checkpoint_note()
    if note is not None:
        checkpoint = parse_checkpoint(parse_note(note).text)
        console.print(
            f"sealed: every event is a leaf of the verifiable log {checkpoint.origin}; the last "
            f"signed checkpoint covers {checkpoint.size:,} events (check it offline with "
            "`clearline audit export DIR` then `clearline audit verify DIR`)"
        )
