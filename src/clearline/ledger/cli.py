"""`clearline ledger …`: create accounts, move money, attest digests, read balances and history,
verify the store.

Amounts on the command line are decimal text at the asset's scale (`12.34` USD, `1000` JPY); they
are converted exactly to minor units, and more decimals than the asset has is an error. Ids are
decimal or `0x` hexadecimal 128-bit integers; a transfer without `--id` gets a fresh time-ordered
id. Every refusal prints its result code and exits with status 1.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from clearline.core.clock import to_datetime
from clearline.core.errors import ClearlineError
from clearline.core.ids import new_id
from clearline.core.money import Money
from clearline.ledger.ledger import Ledger
from clearline.ledger.types import (
    DIGEST_BYTES,
    Account,
    AccountFlags,
    Attestation,
    Transfer,
    TransferFlags,
)

ledger_app = typer.Typer(
    help="The double-entry ledger: accounts, transfers, balances, history.",
    no_args_is_help=True,
)
accounts_app = typer.Typer(help="Create and inspect accounts.", no_args_is_help=True)
ledger_app.add_typer(accounts_app, name="accounts")
console = Console()

IdArgument = Annotated[str, typer.Argument(help="Account id: decimal or 0x-hexadecimal.")]


def register(app: typer.Typer) -> None:
    """Add the `ledger` command group to the top-level `clearline` app."""
    app.add_typer(ledger_app, name="ledger")


def parse_id(text: str) -> int:
    """A 128-bit id from decimal or 0x-hexadecimal text."""
    try:
        value = int(text, 16) if text.lower().startswith("0x") else int(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not an id: use digits, or 0x and hex digits"
        ) from None
    if not 0 < value < (1 << 128) - 1:
        raise typer.BadParameter(f"{text!r} is outside 1..2**128-2")
    return value


def parse_flags(text: str, flag_type: type[AccountFlags] | type[TransferFlags]) -> int:
    """`a,b` → the OR of the named flags, e.g. `debits_must_not_exceed_credits,history`."""
    value = 0
    for name in filter(None, (part.strip() for part in text.split(","))):
        try:
            value |= int(flag_type[name.upper()])
        except KeyError:
            known = ", ".join(flag.name.lower() for flag in flag_type if flag.name and flag.value)
            raise typer.BadParameter(f"unknown flag {name!r}; known: {known}") from None
    return value


@contextmanager
def open_ledger(ctx: typer.Context) -> Iterator[Ledger]:
    """Open the ledger in the invocation's data directory; turn typed errors into exit 1."""
    from clearline.cli import data_dir_from

    try:
        with Ledger.open(data_dir_from(ctx)) as ledger:
            yield ledger
    except ClearlineError as error:
        console.print(f"[red]error[/red] {error.code}: {error}")
        raise typer.Exit(1) from None


def format_units(units: int, asset_spec: str) -> str:
    return Money.of(units, asset_spec).format()


@accounts_app.command("create")
def accounts_create(
    ctx: typer.Context,
    asset: Annotated[str, typer.Option(help="Asset: ISO 4217 code (USD) or CODE/scale (USDC/6).")],
    account_id: Annotated[
        str | None, typer.Option("--id", help="Account id (default: new).")
    ] = None,
    code: Annotated[int, typer.Option(help="Non-zero 16-bit account kind.")] = 1,
    flags: Annotated[
        str,
        typer.Option(
            help="Comma-separated: debits_must_not_exceed_credits, "
            "credits_must_not_exceed_debits, history, closed."
        ),
    ] = "",
    user_data_128: Annotated[int, typer.Option(help="Your reference (128-bit).")] = 0,
) -> None:
    """Create one account and print its id."""
    identifier = parse_id(account_id) if account_id else new_id()
    account = Account(
        id=identifier,
        asset=asset,  # type: ignore[arg-type]  # parsed by Account
        code=code,
        flags=parse_flags(flags, AccountFlags),
        user_data_128=user_data_128,
    )
    with open_ledger(ctx) as ledger:
        (result,) = ledger.create_accounts([account])
    if not result.ok:
        console.print(f"[red]refused[/red] {result.result.value}")
        raise typer.Exit(1)
    console.print(f"{result.result.value} account {identifier}")


@accounts_app.command("show")
def accounts_show(
    ctx: typer.Context,
    account_ids: Annotated[list[str], typer.Argument(help="Account ids.")],
) -> None:
    """Print accounts with their balances (posted and pending), in asset units."""
    with open_ledger(ctx) as ledger:
        accounts = ledger.lookup_accounts([parse_id(text) for text in account_ids])
    table = Table(title="Accounts")
    for column in (
        "id",
        "asset",
        "code",
        "flags",
        "debits posted",
        "credits posted",
        "pending dr",
        "pending cr",
        "balance",
    ):
        table.add_column(column, justify="left" if column in ("id", "asset", "flags") else "right")
    for account in accounts:
        spec = account.asset.spec
        table.add_row(
            str(account.id),
            spec,
            str(account.code),
            AccountFlags(account.flags).name or "",
            format_units(account.debits_posted, spec),
            format_units(account.credits_posted, spec),
            format_units(account.debits_pending, spec),
            format_units(account.credits_pending, spec),
            format_units(account.balance, spec),
        )
    console.print(table)
    missing = len(account_ids) - len(accounts)
    if missing:
        console.print(f"[yellow]{missing} id(s) not found[/yellow]")
        raise typer.Exit(1)


@ledger_app.command("transfer")
def transfer(
    ctx: typer.Context,
    debit: Annotated[str, typer.Option(help="Debit account id (money leaves).")] = "0",
    credit: Annotated[str, typer.Option(help="Credit account id (money arrives).")] = "0",
    amount: Annotated[str, typer.Option(help="Decimal amount in the accounts' asset.")] = "0",
    transfer_id: Annotated[
        str | None, typer.Option("--id", help="Transfer id (default: new).")
    ] = None,
    code: Annotated[int, typer.Option(help="Non-zero 16-bit reason code.")] = 1,
    pending: Annotated[bool, typer.Option(help="Reserve the amount (two-phase).")] = False,
    timeout: Annotated[int, typer.Option(help="Seconds until a pending transfer expires.")] = 0,
    post: Annotated[str | None, typer.Option(help="Post this pending transfer id.")] = None,
    void: Annotated[str | None, typer.Option(help="Void this pending transfer id.")] = None,
) -> None:
    """Move money, hold it (--pending), or post / void a hold."""
    identifier = parse_id(transfer_id) if transfer_id else new_id()
    flags = int(TransferFlags.PENDING) if pending else 0
    pending_id = 0
    if post and void:
        raise typer.BadParameter("use --post or --void, not both")
    if post or void:
        flags = int(
            TransferFlags.POST_PENDING_TRANSFER if post else TransferFlags.VOID_PENDING_TRANSFER
        )
        pending_id = parse_id(post or void or "")
    debit_id = parse_id(debit) if debit != "0" else 0
    credit_id = parse_id(credit) if credit != "0" else 0
    with open_ledger(ctx) as ledger:
        units = _units(ledger, amount, debit_id, pending_id)
        (result,) = ledger.create_transfers(
            [
                Transfer(
                    id=identifier,
                    debit_account_id=debit_id,
                    credit_account_id=credit_id,
                    amount=units,
                    code=code,
                    pending_id=pending_id,
                    timeout=timeout,
                    flags=flags,
                )
            ]
        )
    if not result.ok:
        console.print(f"[red]refused[/red] {result.result.value}")
        raise typer.Exit(1)
    console.print(f"{result.result.value} transfer {identifier} at {to_datetime(result.timestamp)}")


def _units(ledger: Ledger, amount: str, debit_id: int, pending_id: int) -> int:
    """Convert decimal text to minor units of the debit account's (or the pending's) asset."""
    if amount in ("", "0"):
        return 0
    account_id = debit_id
    if not account_id and pending_id:
        found = ledger.lookup_transfers([pending_id])
        account_id = found[0].debit_account_id if found else 0
    accounts = ledger.lookup_accounts([account_id]) if account_id else []
    if not accounts:
        raise typer.BadParameter("the debit account (or pending transfer) was not found")
    return Money.parse(amount, accounts[0].asset).units


@ledger_app.command("attest")
def attest(
    ctx: typer.Context,
    digest: Annotated[str | None, typer.Option(help="The SHA-256 to seal, 64 hex digits.")] = None,
    file: Annotated[
        Path | None, typer.Option(help="Seal the SHA-256 of this file's bytes instead.")
    ] = None,
    attestation_id: Annotated[
        str | None, typer.Option("--id", help="Attestation id (default: new).")
    ] = None,
    code: Annotated[int, typer.Option(help="Non-zero 16-bit kind of what is attested.")] = 1,
) -> None:
    """Seal a digest into the verifiable log (an attestation) and print its id and time."""
    if (digest is None) == (file is None):
        raise typer.BadParameter("give --digest or --file, one of them")
    if file is not None:
        value = hashlib.sha256(file.read_bytes()).digest()
    else:
        try:
            value = bytes.fromhex(digest or "")
        except ValueError:
            raise typer.BadParameter(f"--digest is not hexadecimal: {digest!r}") from None
        if len(value) != DIGEST_BYTES:
            raise typer.BadParameter(f"--digest must be {2 * DIGEST_BYTES} hex digits")
    identifier = parse_id(attestation_id) if attestation_id else new_id()
    with open_ledger(ctx) as ledger:
        (result,) = ledger.create_attestations([Attestation(identifier, code, value)])
    if not result.ok:
        console.print(f"[red]refused[/red] {result.result.value}")
        raise typer.Exit(1)
    console.print(
        f"{result.result.value} attestation {identifier} of {value.hex()} at "
        f"{to_datetime(result.timestamp)}"
    )


@ledger_app.command("transfers")
def transfers(
    ctx: typer.Context,
    account_id: IdArgument,
    limit: Annotated[int, typer.Option(help="Most transfers to show.", min=1, max=8190)] = 20,
    newest_first: Annotated[bool, typer.Option("--newest-first/--oldest-first")] = True,
) -> None:
    """An account's transfers."""
    identifier = parse_id(account_id)
    with open_ledger(ctx) as ledger:
        accounts = ledger.lookup_accounts([identifier])
        found = ledger.get_account_transfers(identifier, limit=limit, reversed=newest_first)
    if not accounts:
        console.print("[red]account not found[/red]")
        raise typer.Exit(1)
    spec = accounts[0].asset.spec
    table = Table(title=f"Transfers of account {identifier}")
    for column in ("time (UTC)", "id", "debit", "credit", "amount", "flags"):
        table.add_column(column, justify="right" if column == "amount" else "left")
    for item in found:
        table.add_row(
            to_datetime(item.timestamp).isoformat(timespec="milliseconds"),
            str(item.id),
            str(item.debit_account_id),
            str(item.credit_account_id),
            format_units(item.amount, spec),
            TransferFlags(item.flags).name or "",
        )
    console.print(table)


@ledger_app.command("history")
def history(
    ctx: typer.Context,
    account_id: IdArgument,
    limit: Annotated[int, typer.Option(help="Most entries to show.", min=1, max=8190)] = 20,
) -> None:
    """Balance history of an account created with the `history` flag (newest first)."""
    identifier = parse_id(account_id)
    with open_ledger(ctx) as ledger:
        accounts = ledger.lookup_accounts([identifier])
        rows = ledger.get_account_balances(identifier, limit=limit, reversed=True)
    if not accounts:
        console.print("[red]account not found[/red]")
        raise typer.Exit(1)
    if not accounts[0].flags & AccountFlags.HISTORY:
        console.print("this account keeps no history: create accounts with --flags history")
        raise typer.Exit(1)
    spec = accounts[0].asset.spec
    table = Table(title=f"Balance history of account {identifier}")
    for column in ("time (UTC)", "debits posted", "credits posted", "pending dr", "pending cr"):
        table.add_column(column, justify="left" if column.startswith("time") else "right")
    for row in rows:
        table.add_row(
            to_datetime(row.timestamp).isoformat(timespec="milliseconds"),
            format_units(row.debits_posted, spec),
            format_units(row.credits_posted, spec),
            format_units(row.debits_pending, spec),
            format_units(row.credits_pending, spec),
        )
    console.print(table)


@ledger_app.command("verify")
def verify(ctx: typer.Context) -> None:
    """Open the ledger, which replays and checks every invariant, and print what was checked."""
    with open_ledger(ctx) as ledger:
        counts = ledger.counts()
        transfers_checked = ledger.transfer_count_at_open
        attestations_checked = ledger.attestation_count_at_open
    console.print(
        f"[green]ok[/green] {counts['accounts']:,} accounts, {transfers_checked:,} transfers and "
        f"{attestations_checked:,} attestations replayed: Σ debits = Σ credits per asset (posted "
        "and pending), every balance equals the sum of its transfers and honours its limit "
        "flags, every account's transfer list is intact, every attestation row is well formed"
    )
