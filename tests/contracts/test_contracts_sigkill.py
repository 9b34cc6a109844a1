"""Kill the process between contract steps (SIGKILL): after a restart no step is lost or doubled.

A child process opens the platform, funds escrows and approves them one after another, printing
each contract id once its approval has returned. The parent kills it at a random moment, at
several moments over the runs, reopens the data directory (recovery runs at open) and checks:
every acknowledged approval is there; every contract is funded or released, with no step left
pending; the payee holds exactly the released escrows' amounts and each escrow account exactly
what it still owes (so no release happened twice, and none was lost). A second child runs a
standing order on a manual clock, a minute per sweep, and is killed in the middle: after the
restart every occurrence step is done and the payee holds exactly one payment per occurrence.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from clearline.contracts import templates as tp
from clearline.platform import Platform

CONTRACTS = 40
AMOUNT = 25
CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from clearline.access import Principal
    from clearline.contracts.records import Party
    from clearline.ledger import Account, AccountFlags, Transfer
    from clearline.platform import Platform
    from clearline.trail import Actor

    directory, count, amount = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    platform = Platform.open(directory)
    ledger = platform.ledger
    payer, payee, bank = 7_001, 7_002, 7_003
    bounded = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
    ledger.create_accounts([
        Account(id=payer, asset="USD", code=100, flags=bounded),
        Account(id=payee, asset="USD", code=100, flags=bounded),
        Account(id=bank, asset="USD", code=1),
    ])
    ledger.create_transfers(
        [Transfer(id=9_001, debit_account_id=bank, credit_account_id=payer, amount=10**9)]
    )
    print("open", flush=True)
    approver = Principal("approver-key", "operator", None)
    actor = Actor("approver-key", "operator")
    ids = []
    for n in range(count):
        contract = platform.contracts.create(
            "escrow",
            [Party("approver", key_id="approver-key")],
            {"payer_account_id": payer, "payee_account_id": payee, "amount": amount,
             "approvers": ["approver"], "deadline_s": 3600},
            actor, contract_id=10_000 + n, asset="USD",
        )
        ids.append(contract.id)
    for identifier in ids:
        platform.contracts.approve(identifier, approver, actor)
        print("ack", identifier, flush=True)
    platform.close()
    print("done", flush=True)
    """
)


def _run_and_kill(directory: Path, rng: random.Random) -> set[int]:
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(directory), str(CONTRACTS), str(AMOUNT)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    assert child.stdout is not None
    acked: set[int] = set()
    kill_after = rng.randrange(-2, CONTRACTS)  # below 0: while the escrows are being funded
    if kill_after < 0:
        assert child.stdout.readline()  # the platform is open
        time.sleep(rng.uniform(0.0, 0.1))
    for line in child.stdout if kill_after >= 0 else ():
        if line.startswith("ack"):
            acked.add(int(line.split()[1]))
            if len(acked) > kill_after:
                time.sleep(rng.random() * 0.01)  # somewhere inside the next step
                break
        if line.startswith("done"):
            break
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=30)
    return acked


def test_a_killed_process_loses_no_step_and_doubles_none(tmp_path: Path) -> None:
    rng = random.Random(5)
    for run in range(4):
        directory = tmp_path / f"run{run}"
        acked = _run_and_kill(directory, rng)
        with Platform.open(directory) as platform:  # recovery runs here
            service = platform.contracts
            released = 0
            for n in range(CONTRACTS):
                contract = service.records.get(10_000 + n)
                if contract is None:
                    continue  # never created: the kill came before it
                steps = service.steps(contract.id)
                assert all(step.status == "done" for step in steps), steps
                assert contract.state in ("funded", "released")
                if contract.id in acked:
                    assert contract.state == "released", contract
                escrow = platform.ledger.lookup_accounts([tp.escrow_account(contract.id)])
                owed = 0 if contract.state == "released" else AMOUNT
                assert escrow[0].balance == owed
                released += contract.state == "released"
            [payee] = platform.ledger.lookup_accounts([7_002])
            assert payee.balance == released * AMOUNT
            assert released >= len(acked)


ORDER_CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from clearline.contracts.records import Party
    from clearline.core.clock import ManualClock
    from clearline.ledger import Account, AccountFlags, Transfer
    from clearline.platform import Platform
    from clearline.trail import Actor

    directory, amount = Path(sys.argv[1]), int(sys.argv[2])
    clock = ManualClock()
    platform = Platform.open(directory, clock=clock)
    ledger = platform.ledger
    payer, payee, bank = 7_001, 7_002, 7_003
    bounded = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
    ledger.create_accounts([
        Account(id=payer, asset="USD", code=100, flags=bounded),
        Account(id=payee, asset="USD", code=100, flags=bounded),
        Account(id=bank, asset="USD", code=1),
    ])
    ledger.create_transfers(
        [Transfer(id=9_001, debit_account_id=bank, credit_account_id=payer, amount=10**9)]
    )
    order = platform.contracts.create(
        "schedule", [Party("payer", key_id="op")],
        {"schedule": {"every_s": 60, "start_ns": clock.now_ns()},
         "payment": {"from_account_id": payer, "to_account_id": payee, "amount": amount}},
        Actor("op", "operator"), contract_id=20_000,
    )
    print("open", flush=True)
    while True:
        platform.contracts.sweep()
        print("ack", platform.contracts.get(order.id).data["succeeded"], flush=True)
        clock.advance(seconds=60)
    """
)


def test_a_killed_standing_order_runs_each_occurrence_exactly_once(tmp_path: Path) -> None:
    rng = random.Random(7)
    for run in range(3):
        directory = tmp_path / f"order{run}"
        child = subprocess.Popen(
            [sys.executable, "-c", ORDER_CHILD, str(directory), str(AMOUNT)],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert child.stdout is not None
        assert child.stdout.readline().startswith("open")
        kill_after, acked = rng.randrange(1, 30), 0
        for line in child.stdout:
            acked = int(line.split()[1])
            if acked >= kill_after:
                time.sleep(rng.random() * 0.005)  # somewhere inside the next occurrence
                break
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
        with Platform.open(directory) as platform:  # recovery runs here
            order = platform.contracts.get(20_000)
            steps = platform.contracts.steps(order.id)
            assert all(step.status == "done" for step in steps), steps
            occurrences = [s for s in steps if s.step.startswith("occurrence:")]
            assert order.data["succeeded"] == len(occurrences) >= acked
            [payee] = platform.ledger.lookup_accounts([7_002])
            assert payee.balance == len(occurrences) * AMOUNT  # none lost, none doubled
