"""The platform store's group commit: one failing write is rolled back alone, sequences are
strictly increasing and survive a restart, asyncio writers are woken per group, and a cancelled
waiter does not stop the writer."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from clearline.db.schema import Schema
from clearline.db.store import PlatformStore, next_seq

PEOPLE = Schema(
    "people", ("CREATE TABLE customers(id TEXT PRIMARY KEY, name TEXT NOT NULL, seq INTEGER);",)
)
"""A room of the test's own: the store knows no room's tables."""


def _customer(name: str) -> Callable[[sqlite3.Connection], int]:
    def write(connection: sqlite3.Connection) -> int:
        seq = next_seq(connection, "customers")
        connection.execute("INSERT INTO customers VALUES(?,?,?)", (name, name, seq))
        return seq

    return write


def _failing(connection: sqlite3.Connection) -> int:
    next_seq(connection, "customers")
    connection.execute(  # a customer row that is then refused: the whole write must vanish
        "INSERT INTO customers VALUES(?,?,?)", ("doomed", "doomed", 10_000)
    )
    raise ValueError("refused by the caller")


def _names(store: PlatformStore) -> list[str]:
    return [row[0] for row in store.read("SELECT id FROM customers ORDER BY seq")]


def test_one_failing_write_is_rolled_back_alone(tmp_path: Path) -> None:
    async def scenario(store: PlatformStore) -> list[int | BaseException]:
        writes = [
            store.write_async(_customer("a")),
            store.write_async(_failing),
            store.write_async(_customer("b")),
        ]
        return await asyncio.gather(*writes, return_exceptions=True)

    store = PlatformStore(tmp_path, [PEOPLE])
    try:
        first, failed, last = asyncio.run(scenario(store))
        assert isinstance(failed, ValueError)
        assert isinstance(first, int) and isinstance(last, int) and first < last
        assert _names(store) == ["a", "b"]  # same group, the failing write left nothing
    finally:
        store.close()


def test_sequences_increase_and_survive_a_restart(tmp_path: Path) -> None:
    store = PlatformStore(tmp_path, [PEOPLE])
    seen = [store.write_sync(_customer(f"c{i}")) for i in range(3)]
    with pytest.raises(ValueError):
        store.write_sync(_failing)
    store.close()
    assert seen == sorted(seen) and len(set(seen)) == 3
    again = PlatformStore(tmp_path, [PEOPLE])
    try:
        after = again.write_sync(_customer("d"))
        assert after > seen[-1]
        stored = again.read_one("SELECT value FROM counters WHERE name = 'customers'")
        assert stored[0] == after
    finally:
        again.close()


def test_a_cancelled_waiter_does_not_stop_the_writer(tmp_path: Path) -> None:
    async def scenario(store: PlatformStore) -> int:
        abandoned = asyncio.ensure_future(store.write_async(_customer("gone")))
        await asyncio.sleep(0)  # queued for this loop turn's hand-off
        abandoned.cancel()
        with pytest.raises(asyncio.CancelledError):
            await abandoned
        return await store.write_async(_customer("kept"))

    store = PlatformStore(tmp_path, [PEOPLE])
    try:
        asyncio.run(scenario(store))
        assert "kept" in _names(store)  # the writer still serves; the cancelled write may land
    finally:
        store.close()


def test_sequences_are_handed_out_only_inside_a_store_write() -> None:
    with pytest.raises(TypeError):
        next_seq(sqlite3.connect(":memory:"), "customers")


def test_sequences_stay_unique_when_two_processes_write(tmp_path: Path) -> None:
    """A second store on the same file (a CLI command beside the server) takes sequence
    numbers too; neither hands out one the other already used."""
    first, second = PlatformStore(tmp_path, (PEOPLE,)), PlatformStore(tmp_path, (PEOPLE,))
    try:
        taken = []
        for store in (first, second, first, second, first):
            taken.append(store.write_sync(lambda connection: next_seq(connection, "people")))
        assert len(set(taken)) == len(taken) and taken == sorted(taken), taken
    finally:
        first.close()
        second.close()
