"""Sealed by default: `Ledger.open(directory)` loads the chain room's sealer by name, writes
`node.toml` and keys on first run, signs an idle tail when due (on `tick`) and on close, brings a
ledger that was never sealed (or opened unsealed since) up to date at open, refuses a second
sealing hook and a log sealed under another origin, and `ChainLog.of` reads an open ledger."""

from __future__ import annotations

import stat
import time
from pathlib import Path

import pytest

from clearline.chain import merkle
from clearline.chain.audit import export_log, verify_export
from clearline.chain.log import ChainLog, LogOriginMismatch, SealingHook
from clearline.chain.merkle import NodeId
from clearline.chain.node import (
    CHECKPOINT_INTERVAL_MS_DEFAULT,
    NODE_FILE,
    NodeConfig,
    NodeConfigInvalid,
    load_node_config,
    save_node_config,
)
from clearline.chain.notes import parse_checkpoint, parse_note
from clearline.core.clock import ManualClock
from clearline.core.errors import InvariantViolation
from clearline.ledger import Account, Ledger, Transfer, TransferFlags
from clearline.ledger.ledger import SealerUnavailable, load_sealer_factory

MS = 1_000_000


def fill(ledger: Ledger, first_id: int, count: int) -> None:
    ledger.create_transfers(
        [
            Transfer(id=first_id + n, debit_account_id=1, credit_account_id=2, amount=n + 1, code=1)
            for n in range(count)
        ]
    )


def sizes(path: Path) -> list[int]:
    with ChainLog(path) as log:
        return [parse_checkpoint(parse_note(note).text).size for note in log.checkpoint_notes()]


def test_open_seals_by_default_with_node_settings_and_private_keys(tmp_path: Path) -> None:
    data = tmp_path / "node a"
    with Ledger.open(data, clock=ManualClock()) as ledger:
        ledger.create_accounts([Account(id=i, asset="USD", code=1) for i in (1, 2)])
        fill(ledger, 10, 5)
    config = load_node_config(data)
    assert config == NodeConfig("clearline.local/node-a")
    assert config.checkpoint_interval_ms == CHECKPOINT_INTERVAL_MS_DEFAULT
    keys = data / "keys"
    assert stat.S_IMODE(keys.stat().st_mode) == 0o700
    assert {stat.S_IMODE(path.stat().st_mode) for path in keys.iterdir()} == {0o600}
    assert sizes(data) == [2, 7]  # first group signs; the second is inside the interval: close
    report_dir = tmp_path / "export"
    export_log(data, report_dir)
    report = verify_export(report_dir)
    assert (report.origin, report.events, report.checkpoints) == ("clearline.local/node-a", 7, 2)


def test_tick_signs_the_idle_tail_once_the_interval_has_passed(tmp_path: Path) -> None:
    clock = ManualClock()
    ledger = Ledger.open(tmp_path, clock=clock)
    try:
        ledger.create_accounts([Account(id=i, asset="USD", code=1) for i in (1, 2)])
        fill(ledger, 10, 3)
        with ChainLog.of(ledger) as log:
            assert log.size() == 5 and len(log.checkpoint_notes()) == 1
            clock.advance(nanoseconds=(CHECKPOINT_INTERVAL_MS_DEFAULT - 1) * MS)
            ledger.tick()
            assert len(log.checkpoint_notes()) == 1  # not due yet
            clock.advance(nanoseconds=1 * MS)
            ledger.tick()
            note = log.latest_checkpoint_note()
            assert note is not None and parse_checkpoint(parse_note(note).text).size == 5
            ledger.tick()  # nothing uncovered: no new checkpoint
            assert len(log.checkpoint_notes()) == 2
            checkpoint = log.checkpoint(5)
            hashes = log.read_nodes([NodeId(0, i) for i in range(5)])
            assert checkpoint.root == merkle.root_hash(hashes)
    finally:
        ledger.close()
    assert sizes(tmp_path) == [2, 5]


def test_the_writer_signs_the_idle_tail_on_its_own(tmp_path: Path) -> None:
    clock = ManualClock()
    ledger = Ledger.open(tmp_path, clock=clock)
    try:
        ledger.create_accounts([Account(id=i, asset="USD", code=1) for i in (1, 2)])
        fill(ledger, 10, 3)
        clock.advance(nanoseconds=CHECKPOINT_INTERVAL_MS_DEFAULT * MS)
        with ChainLog.of(ledger) as log:
            for _ in range(300):  # the idle writer polls at least once a second
                if len(log.checkpoint_notes()) == 2:
                    break
                ledger.lookup_accounts([1])
                time.sleep(0.01)
            assert len(log.checkpoint_notes()) == 2
    finally:
        ledger.close()


def events_of(path: Path) -> list[bytes]:
    with ChainLog(path) as log:
        return log.leaves()


def history(ledger: Ledger, clock: ManualClock) -> None:
    """Accounts, transfers and an expired hold, over three groups."""
    ledger.create_accounts([Account(id=i, asset="USD", code=1, user_data_64=i) for i in (1, 2, 3)])
    fill(ledger, 10, 4)
    ledger.create_transfers(
        [
            Transfer(
                id=50,
                debit_account_id=3,
                credit_account_id=1,
                amount=7,
                code=1,
                flags=TransferFlags.PENDING,
                timeout=1,
            )
        ]
    )
    clock.advance(seconds=2)
    ledger.tick()  # the hold expires: an event of its own
    fill(ledger, 20, 2)


def test_a_ledger_never_sealed_is_brought_up_to_date_at_open(tmp_path: Path) -> None:
    sealed, unsealed = tmp_path / "sealed", tmp_path / "unsealed"
    for path, seal in ((sealed, True), (unsealed, False)):
        clock = ManualClock()
        with Ledger.open(path, clock=clock, sealed=seal) as ledger:
            history(ledger, clock)
    with pytest.raises(Exception, match="never sealed"):
        ChainLog(unsealed)
    save_node_config(unsealed, NodeConfig("clearline.local/sealed"))  # the same origin
    Ledger.open(unsealed, clock=ManualClock(1 << 62)).close()
    assert events_of(unsealed) == events_of(sealed)  # the same leaves, byte for byte
    assert len(events_of(unsealed)) == 3 + 4 + 1 + 1 + 2
    export_log(unsealed, tmp_path / "export")
    assert verify_export(tmp_path / "export").events == 11


def test_a_gap_left_by_an_unsealed_open_is_filled_at_the_next_open(tmp_path: Path) -> None:
    clock = ManualClock()
    with Ledger.open(tmp_path, clock=clock) as ledger:
        ledger.create_accounts([Account(id=i, asset="USD", code=1) for i in (1, 2)])
    with Ledger.open(tmp_path, clock=clock, sealed=False) as ledger:
        fill(ledger, 10, 3)
    assert sizes(tmp_path) == [2]
    with Ledger.open(tmp_path, clock=clock) as ledger:
        fill(ledger, 20, 1)
    assert sizes(tmp_path)[-1] == 6
    export_log(tmp_path, tmp_path.parent / "export")
    assert verify_export(tmp_path.parent / "export").events == 6


def test_a_second_sealing_hook_is_refused_and_writes_nothing(tmp_path: Path) -> None:
    clock = ManualClock()
    hook = SealingHook.open(tmp_path, "clearline.local/" + tmp_path.name, clock=clock)
    with Ledger.open(tmp_path, clock=clock, raw_hooks=[hook.seal_rows], sealed=True) as ledger:
        with pytest.raises(InvariantViolation, match="second sealing hook"):
            ledger.create_accounts([Account(id=1, asset="USD", code=1)])
        assert ledger.lookup_accounts([1]) == []


def test_a_log_sealed_under_another_origin_is_refused(tmp_path: Path) -> None:
    with Ledger.open(tmp_path, clock=ManualClock()) as ledger:
        ledger.create_accounts([Account(id=1, asset="USD", code=1)])
    save_node_config(tmp_path, NodeConfig("clearline.local/renamed"))
    with pytest.raises(LogOriginMismatch, match="set origin"):
        Ledger.open(tmp_path, clock=ManualClock())


@pytest.mark.parametrize(
    "content",
    [
        'origin = "a b"\n',
        'origin = "x.example/n"\nchecpoint_interval_ms = 5\n',
        'origin = "x.example/n"\ncheckpoint_interval_ms = "5"\n',
        'origin = "x.example/n"\nwitnesses_required = 1\n',
        "checkpoint_interval_ms = 5\n",
        "origin = \n",
    ],
)
def test_invalid_node_settings_are_refused(tmp_path: Path, content: str) -> None:
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / NODE_FILE).write_text(content)
    with pytest.raises(NodeConfigInvalid):
        Ledger.open(tmp_path, clock=ManualClock())


def test_an_unknown_sealer_name_is_refused() -> None:
    with pytest.raises(SealerUnavailable):
        load_sealer_factory("clearline.chain.nowhere:open_sealer")
    with pytest.raises(SealerUnavailable):
        load_sealer_factory("clearline.chain.node:nothing")


def test_own_hooks_open_unsealed_unless_sealed_is_asked(tmp_path: Path) -> None:
    seen: list[int] = []

    def record(transaction: object, events: list[object]) -> None:
        seen.append(len(events))

    plain, asked = tmp_path / "plain", tmp_path / "asked"
    for path, sealed in ((plain, None), (asked, True)):
        with Ledger.open(path, clock=ManualClock(), hooks=[record], sealed=sealed) as ledger:
            ledger.create_accounts([Account(id=1, asset="USD", code=1)])
    assert seen == [1, 1]
    with pytest.raises(Exception, match="never sealed"):
        ChainLog(plain)
    assert sizes(asked) == [1]


def test_export_streams_events_and_both_sides_report_progress(tmp_path: Path) -> None:
    data = tmp_path / "node"
    with Ledger.open(data, clock=ManualClock()) as ledger:
        ledger.create_accounts([Account(id=i, asset="USD", code=1) for i in (1, 2)])
        fill(ledger, 10, 40)
    calls: list[tuple[str, int, int]] = []
    counts = export_log(data, tmp_path / "export", lambda *call: calls.append(call))
    assert counts["events"] == 42 and calls[-1] == ("export", 42, 42)
    with ChainLog(data) as log:
        leaves = log.leaves()
    framed = (tmp_path / "export" / "events.bin").read_bytes()
    assert framed == b"".join(len(leaf).to_bytes(4, "big") + leaf for leaf in leaves)
    calls.clear()
    verify_export(tmp_path / "export", progress=lambda *call: calls.append(call))
    assert ("hash", 42, 42) in calls and calls[-1] == ("replay", 42, 42)
