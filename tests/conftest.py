"""Shared fixtures: a manual clock, a ledger on a temporary directory, and small helpers.

Helpers are handed out as fixtures that return functions, so test modules import nothing from here:
- `make_accounts(ledger, n, asset="USD", flags=0, code=10)`: create `n` accounts, return their ids.
- `next_id(ledger)`: a fresh id for that ledger (ids from 1_000_000 up, so hand-picked small ids in
  tests never collide with them).
- `ledger_state(ledger, account_ids)`: row counts plus the looked-up accounts, for "nothing was
  written" checks.
- `reopen(ledger, clock=None)`: close a ledger and open its data directory again.
- `needs(name, check, install_hint)`: a test's outside requirement (a browser, a package). When
  `check` (a bool, or a callable returning one) is false the test is skipped with a message that
  names what is missing and how to install it, except under CI (the `CI` variable set to anything
  but "", "0" or "false"), where it fails: CI installs what the suite needs and must not skip.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any
from weakref import WeakKeyDictionary

import pytest

from clearline.core.clock import ManualClock
from clearline.ledger import Account, CreateAccountResult, Ledger

AUTO_ID_FIRST = 1_000_000
"""First id `next_id` hands out; tests pick their own ids below it."""

_id_counters: WeakKeyDictionary[Ledger, Iterator[int]] = WeakKeyDictionary()


def _next_id(ledger: Ledger) -> int:
    return next(_id_counters.setdefault(ledger, itertools.count(AUTO_ID_FIRST)))


def _make_accounts(
    ledger: Ledger, n: int, asset: str = "USD", flags: int = 0, code: int = 10, **fields: Any
) -> list[int]:
    ids = [_next_id(ledger) for _ in range(n)]
    results = ledger.create_accounts(
        [Account(id=i, asset=asset, code=code, flags=flags, **fields) for i in ids]
    )
    assert [r.result for r in results] == [CreateAccountResult.OK] * n
    return ids


def in_ci() -> bool:
    """Whether this run is CI's (`.ci/run` exports CI=1; CI itself sets CI=true)."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false")


def _needs(name: str, check: Callable[[], bool] | bool, install_hint: str) -> None:
    """Skip (fail under CI) unless `check` holds; see the module docstring."""
    if check() if callable(check) else check:
        return
    message = f"{name} is missing; install it with: {install_hint}"
    if in_ci():
        pytest.fail(f"{message} (CI must not skip this test)", pytrace=False)
    pytest.skip(message)


def _ledger_state(ledger: Ledger, account_ids: Sequence[int]) -> tuple[Any, ...]:
    return (ledger.counts(), tuple(ledger.lookup_accounts(list(account_ids))))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def ledger_dir(tmp_path: Path) -> Path:
    return tmp_path / "ledger"


@pytest.fixture
def open_ledger(ledger_dir: Path, clock: ManualClock) -> Iterator[Callable[..., Ledger]]:
    """Open the test's data directory (with the test's clock unless another is given)."""
    opened: list[Ledger] = []

    def open_(with_clock: ManualClock | None = None) -> Ledger:
        ledger = Ledger.open(ledger_dir, clock=with_clock or clock)
        opened.append(ledger)
        return ledger

    yield open_
    for ledger in opened:
        ledger.close()


@pytest.fixture
def ledger(open_ledger: Callable[..., Ledger]) -> Ledger:
    return open_ledger()


@pytest.fixture
def reopen(open_ledger: Callable[..., Ledger]) -> Callable[..., Ledger]:
    def reopen_(ledger: Ledger, with_clock: ManualClock | None = None) -> Ledger:
        ledger.close()
        return open_ledger(with_clock)

    return reopen_


@pytest.fixture
def make_accounts() -> Callable[..., list[int]]:
    return _make_accounts


@pytest.fixture
def next_id() -> Callable[[Ledger], int]:
    return _next_id


@pytest.fixture
def ledger_state() -> Callable[[Ledger, Sequence[int]], tuple[Any, ...]]:
    return _ledger_state


@pytest.fixture(scope="session")
def needs() -> Callable[[str, Callable[[], bool] | bool, str], None]:
    return _needs
