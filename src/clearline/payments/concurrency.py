"""Concurrent payments on one event loop: per-payment locks and the coalescing of single
transfers into ledger requests.

Guarantees:
- `PaymentLocks`: the steps of one payment (capture, void, review, refund, expiry) run one at a
  time; a lock exists only while somebody holds or awaits it, so the table never grows with the
  number of payments.
- `TransferBatcher`: the transfers that concurrent payments submit during one event-loop turn
  reach the ledger's writer thread in one request instead of one each. Nothing is linked: each
  transfer succeeds or fails on its own, with the ledger's own result, exactly as if submitted
  alone; a request holds at most `BATCH_EVENTS_MAX` transfers.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator

from clearline.ledger import BATCH_EVENTS_MAX, Ledger, Transfer
from clearline.ledger.results import EventResult


class _Entry:
    __slots__ = ("lock", "users")

    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0  # holders and waiters


class PaymentLocks:
    """One asyncio lock per payment id in use."""

    def __init__(self) -> None:
        self._locks: dict[int, _Entry] = {}

    @contextlib.asynccontextmanager
    async def hold(self, payment_id: int) -> AsyncIterator[None]:
        entry = self._locks.get(payment_id)
        if entry is None:
            entry = self._locks[payment_id] = _Entry()
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:
            entry.users -= 1
            if entry.users == 0:
                del self._locks[payment_id]

    def __len__(self) -> int:
        return len(self._locks)


class TransferBatcher:
    """Coalesces single transfers of one event-loop turn into one ledger request."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._pending: list[tuple[Transfer, asyncio.Future[EventResult]]] = []
        self._tasks: set[asyncio.Future[list[EventResult]]] = set()

    async def submit(self, transfer: Transfer) -> EventResult:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[EventResult] = loop.create_future()
        if not self._pending:
            loop.call_soon(self._flush)
        self._pending.append((transfer, future))
        return await future

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        for start in range(0, len(pending), BATCH_EVENTS_MAX):
            chunk = pending[start : start + BATCH_EVENTS_MAX]
            batch = [transfer for transfer, _ in chunk]
            task = asyncio.get_running_loop().create_task(self.ledger.create_transfers_async(batch))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            task.add_done_callback(functools.partial(_settle, chunk=chunk))


def _settle(
    done: asyncio.Future[list[EventResult]],
    chunk: list[tuple[Transfer, asyncio.Future[EventResult]]],
) -> None:
    error = done.exception()
    for index, (_, future) in enumerate(chunk):
        if future.done():
            continue
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(done.result()[index])
