"""The state of one run of a Numscript program: running balances, the funds queue, postings.

Guarantees:
- The store is asked for a `(account, asset, color)` balance at most once per run, and only when
  the program needs to know it: a destination that is only credited is never looked up (its
  credits wait in `pending` until a later read adds them to the store's figure).
- Balances follow the program: a source's balance drops when it is pushed onto the funds queue,
  a destination's rises when it is paid, and kept funds go back to their sender; later
  statements (and `balance()` mid-script) see those figures.
- Postings with a zero amount are never made. Funds pushed twice in a row by the same
  `(account, color)` merge into one queue entry (upstream's funds stack does the same), so one
  destination receives them as one posting.
- `snapshot`/`restore` undo everything a `oneof` branch did (balances, queue, postings) without
  asking the store again.
- Nothing here writes to the store.

The algorithm is upstream's (formancehq/numscript, `fundsQueue` in the interpreter): sources push
(account, color, amount) senders; destinations pull from the front of the queue in order.
"""

from __future__ import annotations

from typing import NamedTuple, Protocol

from clearline.contracts.numscript.values import Value
from clearline.core.errors import InvariantViolation

WORLD = "world"
"""The account that may always go negative (unbounded overdraft)."""


class Store(Protocol):
    """Where a run reads what it does not compute: starting balances and account metadata.

    Accounts are given without `@`; `color` is "" for uncolored funds. `balance` is called at
    most once per `(account, asset, color)` per run.
    """

    def balance(self, account: str, asset: str, color: str) -> int: ...

    def account_meta(self, account: str, key: str) -> str | None: ...


class Posting(NamedTuple):
    """One movement: `amount` (> 0, minor units) of `asset` (`color` "" if uncolored)."""

    source: str
    destination: str
    amount: int
    asset: str
    color: str


BalanceKey = tuple[str, str, str]
"""(account, asset, color)."""

Snapshot = tuple[dict[BalanceKey, int], dict[BalanceKey, int], list[tuple[str, str, int]], int]


class Run:
    """Mutable state of one run; created by `Program.run`, dropped when it returns."""

    __slots__ = (
        "account_meta",
        "asset",
        "balances",
        "fetched",
        "head",
        "metadata",
        "pending",
        "postings",
        "queue",
        "store",
        "tx_meta",
        "values",
    )

    def __init__(self, store: Store, variable_count: int) -> None:
        self.store = store
        self.values: list[Value] = [0] * variable_count
        self.balances: dict[BalanceKey, int] = {}
        self.fetched: dict[BalanceKey, int] = {}
        self.pending: dict[BalanceKey, int] = {}
        self.queue: list[tuple[str, str, int]] = []
        self.head = 0
        self.postings: list[Posting] = []
        self.asset = ""
        self.tx_meta: dict[str, str] = {}
        self.account_meta: dict[str, dict[str, str]] = {}
        self.metadata: dict[tuple[str, str], str | None] = {}


def balance(run: Run, account: str, asset: str, color: str) -> int:
    """The running balance of `(account, asset, color)`."""
    key = (account, asset, color)
    amount = run.balances.get(key)
    if amount is None:
        amount = run.fetched.get(key)
        if amount is None:
            amount = run.store.balance(account, asset, color)
            run.fetched[key] = amount
        if run.pending:
            amount += run.pending.pop(key, 0)
        run.balances[key] = amount
    return amount


def credit(run: Run, key: BalanceKey, amount: int) -> None:
    """Add `amount` (may be negative) to a balance, without asking the store for it."""
    balances = run.balances
    if key in balances:
        balances[key] += amount
    else:
        run.pending[key] = run.pending.get(key, 0) + amount


def push(run: Run, account: str, color: str, amount: int, current_balance: int | None) -> None:
    """`account` sends `amount` (> 0) of the current asset. `current_balance` is its balance as
    just read, or None for an account whose balance the source did not need (unbounded)."""
    key = (account, run.asset, color)
    if current_balance is None:
        credit(run, key, -amount)
    else:
        run.balances[key] = current_balance - amount
    queue = run.queue
    if queue:
        last_account, last_color, last_amount = queue[-1]
        if last_account == account and last_color == color:
            queue[-1] = (account, color, last_amount + amount)
            return
    queue.append((account, color, amount))


def receive(run: Run, destination: str | None, amount: int) -> None:
    """`destination` (None: kept) takes `amount` from the front of the funds queue."""
    if amount <= 0:
        return
    queue = run.queue
    head = run.head
    asset = run.asset
    while amount:
        if head >= len(queue):
            raise InvariantViolation("Numscript destinations took more than the sources sent")
        source, color, available = queue[head]
        if available > amount:
            queue[head] = (source, color, available - amount)
            taken = amount
        else:
            head += 1
            taken = available
        amount -= taken
        if destination is None:
            credit(run, (source, asset, color), taken)
            continue
        key = (destination, asset, color)  # `credit`, inline: once per posting made
        balances = run.balances
        if key in balances:
            balances[key] += taken
        else:
            run.pending[key] = run.pending.get(key, 0) + taken
        run.postings.append(Posting(source, destination, taken, asset, color))
    run.head = head


def start_send(run: Run, asset: str) -> None:
    """Begin a send statement of `asset` with an empty funds queue."""
    run.asset = asset
    run.queue = []
    run.head = 0


def finish_send(run: Run) -> None:
    """Check that the destinations took exactly what the sources sent."""
    if run.head != len(run.queue):
        raise InvariantViolation("Numscript destinations took less than the sources sent")


def snapshot(run: Run) -> Snapshot:
    """What `restore` needs to undo a `oneof` branch."""
    return run.balances.copy(), run.pending.copy(), run.queue.copy(), len(run.postings)


def restore(run: Run, saved: Snapshot) -> None:
    """Undo everything since `snapshot` (store answers stay known in `fetched`)."""
    run.balances, run.pending, run.queue, postings = saved
    del run.postings[postings:]


def account_metadata(run: Run, account: str, key: str) -> str | None:
    """The store's metadata `key` of `account`, asked once per run."""
    cache_key = (account, key)
    if cache_key in run.metadata:
        return run.metadata[cache_key]
    value = run.store.account_meta(account, key)
    run.metadata[cache_key] = value
    return value
