"""Contracts benchmark: Numscript programs run on the ledger in batches, beside the ledger alone.

Run: `python -m bench.contracts` (`--quick` for a short smoke run). Writes
bench/results/contracts.json; docs/benchmarks.md records the figures with the command and machine.

Each scenario runs on a fresh data directory with the platform's defaults: a sealed ledger
(group commit, fsync, the verifiable log) and the platform database (WAL, synchronous=FULL).

- `send`: `send [USD/2 1] (source = @users:N destination = @merchants:M)`, one posting.
- `split`: `send [USD/2 100] (source = @users:N destination = { 1/2 to @merchants:M
  1/4 to @fees remaining to @tax })`, a 3-way split with `remaining`: three linked transfers.

For each, `Executor.execute` takes batches of `--batch` programs (variables differ per program:
payer and merchant drawn from `--accounts` funded accounts); each batch is planned against exact
balances, recorded (intents), committed to the ledger as one linked chain per program, and
settled. Target (issue 14): at least 20,000 programs/s. Baselines in the same run:
- `interpret only`: the same programs run in memory (`Program.run` on a `MemoryStore`): the
  language's own ceiling;
- `ledger alone`: the very transfers the executor made, pre-built, submitted straight to
  `Ledger.create_transfers` on a fresh sealed ledger in the same batch sizes: the ceiling of
  the ledger under these programs.
- `htlc`: lock + fulfil pairs through `ContractService` from 32 threads (each step recorded
  before its ledger chain, completed with its audit event), beside the same pending + post
  pairs sent straight to the ledger from as many threads.
`CPU µs/prog` is the CPU time all the process's threads and its child processes (the ledger's
hashing worker) used while the executor ran, per program: the machine is shared and has 2 CPUs,
so it says how much work a program costs when the wall-clock rate is disturbed. Peak RSS of the
process is printed at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import resource
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import Progress
from rich.table import Table

from bench.common import machine, settle_heap, stat_cpu_seconds, thaw_heap
from clearline.access import Principal
from clearline.contracts.addresses import SCRIPT_ACCOUNT_CODE, SCRIPT_TRANSFER_CODE, account_id
from clearline.contracts.executions import SCHEMA
from clearline.contracts.executor import Execution, Executor, Outcome
from clearline.contracts.numscript import MemoryStore, Program, compile_program
from clearline.contracts.records import Party
from clearline.core.ids import new_id
from clearline.db import PlatformStore
from clearline.ledger import (
    BATCH_EVENTS_MAX,
    Account,
    AccountFlags,
    Ledger,
    Transfer,
    TransferFlags,
)
from clearline.platform import Platform
from clearline.trail import Actor

RESULTS = Path(__file__).parent / "results"
SEND = """vars { account $payer account $merchant }
send [USD/2 1] (source = $payer destination = $merchant)"""
SPLIT = """vars { account $payer account $merchant }
send [USD/2 100] (
  source = $payer
  destination = { 1/2 to $merchant 1/4 to @fees remaining to @tax }
)"""
FUND = """vars { account $payer }
send [USD/2 100000000] (source = @world destination = $payer)"""


@dataclass
class Figure:
    scenario: str
    programs: int
    transfers: int
    executor_programs_per_s: float
    executor_cpu_us_per_program: float
    interpret_programs_per_s: float
    ledger_alone_programs_per_s: float
    ledger_alone_transfers_per_s: float
    refused: int


def _variables(count: int, accounts: int, seed: int) -> list[dict[str, str]]:
    rng = random.Random(seed)
    return [
        {"payer": f"users:{rng.randrange(accounts)}", "merchant": f"merchants:{rng.randrange(50)}"}
        for _ in range(count)
    ]


def _cpu_seconds() -> float:
    """CPU seconds used so far by this process (all threads) and its live child processes."""
    children: list[str] = []
    for task in Path("/proc/self/task").iterdir():
        try:
            children += (task / "children").read_text().split()
        except OSError:  # the thread ended meanwhile
            continue
    total = time.process_time()
    for pid in children:
        try:
            total += stat_cpu_seconds(Path(f"/proc/{pid}/stat"))
        except OSError:  # it ended meanwhile
            continue
    return total


def _open(directory: Path) -> tuple[Ledger, PlatformStore, Executor]:
    ledger = Ledger.open(directory)
    store = PlatformStore(directory, [SCHEMA])
    return ledger, store, Executor(ledger, store)


def run_scenario(
    name: str, program: Program, programs: int, batch: int, accounts: int, console: Console
) -> Figure:
    variables = _variables(programs, accounts, seed=7)
    fund = compile_program(FUND)
    with tempfile.TemporaryDirectory(prefix="clearline-bench-contracts-") as work:
        ledger, store, executor = _open(Path(work))
        try:
            executor.execute(
                [Execution(1 + n, fund, {"payer": f"users:{n}"}) for n in range(accounts)]
            )
            next_id = 1_000_000
            done: list[Outcome] = []
            settle_heap()  # as the server does after start-up (bench.common)
            cpu_started = _cpu_seconds()
            started = time.perf_counter()
            with Progress(console=console, transient=True) as progress:
                task = progress.add_task(f"{name}: executor", total=programs)
                for start in range(0, programs, batch):
                    chunk = variables[start : start + batch]
                    outcomes = executor.execute(
                        [Execution(next_id + n, program, v) for n, v in enumerate(chunk)]
                    )
                    next_id += len(chunk)
                    done.extend(outcomes)
                    progress.advance(task, len(chunk))
            executed = time.perf_counter() - started
            cpu = _cpu_seconds() - cpu_started
            thaw_heap()
        finally:
            store.close()
            ledger.close()

    refused = sum(1 for o in done if not o.ok)
    chains = [_chain(o) for o in done]
    del done
    memory = MemoryStore({(f"users:{n}", "USD/2", ""): 10**8 for n in range(accounts)})
    started = time.perf_counter()
    for values in variables:
        program.run(values, memory)
    interpreted = time.perf_counter() - started

    with tempfile.TemporaryDirectory(prefix="clearline-bench-contracts-ledger-") as work:
        alone = _ledger_alone(Path(work), chains, batch, console, name)
    transfers = sum(len(c) for c in chains)
    return Figure(
        name,
        programs,
        transfers,
        programs / executed,
        cpu / programs * 1e6,
        programs / interpreted,
        programs / alone,
        transfers / alone,
        refused,
    )


def _chain(outcome: Outcome) -> list[Transfer]:
    """The transfers the executor made for one program, rebuilt from its outcome."""
    postings, transfer_ids = outcome.postings, outcome.transfer_ids
    last = len(transfer_ids) - 1
    return [
        Transfer(
            id=transfer_id,
            debit_account_id=account_id(p.source, p.asset, p.color),
            credit_account_id=account_id(p.destination, p.asset, p.color),
            amount=p.amount,
            code=SCRIPT_TRANSFER_CODE,
            flags=int(TransferFlags.LINKED) if n < last else 0,
            user_data_128=outcome.id,
        )
        for n, (p, transfer_id) in enumerate(zip(postings, transfer_ids, strict=True))
    ]


def _ledger_alone(
    directory: Path, chains: list[list[Transfer]], batch: int, console: Console, name: str
) -> float:
    """Seconds the same transfers take straight into a fresh sealed ledger, `batch` programs
    per call (accounts created first, untimed)."""
    ids = sorted({i for c in chains for t in c for i in (t.debit_account_id, t.credit_account_id)})
    with Ledger.open(directory) as ledger:
        for start in range(0, len(ids), BATCH_EVENTS_MAX):
            ledger.create_accounts(
                [
                    Account(id=i, asset="USD", code=SCRIPT_ACCOUNT_CODE)
                    for i in ids[start : start + BATCH_EVENTS_MAX]
                ]
            )
        calls = []
        for start in range(0, len(chains), batch):
            call = [t for c in chains[start : start + batch] for t in c]
            calls.extend(
                call[i : i + BATCH_EVENTS_MAX] for i in range(0, len(call), BATCH_EVENTS_MAX)
            )
        settle_heap()
        started = time.perf_counter()
        with Progress(console=console, transient=True) as progress:
            task = progress.add_task(f"{name}: ledger alone", total=len(calls))
            for call in calls:
                ledger.create_transfers(call)
                progress.advance(task)
        elapsed = time.perf_counter() - started
        thaw_heap()
        return elapsed


HTLC_THREADS = 32


def run_htlc(pairs: int, console: Console) -> dict[str, float]:
    """HTLC lock + fulfil pairs/s through `ContractService` (each step recorded, its ledger
    chain, its audit event), from HTLC_THREADS threads; beside the same pending + post pairs
    sent straight to the ledger from as many threads (no records, no audit)."""
    preimage = b"bench preimage"
    condition = hashlib.sha256(preimage).hexdigest()
    payee_key = Principal("payee-key", "operator", None)
    actor = Actor("payee-key", "operator")
    figures: dict[str, float] = {}
    with (
        tempfile.TemporaryDirectory(prefix="clearline-bench-htlc-") as work,
        Platform.open(Path(work)) as platform,
    ):
        ledger = platform.ledger
        bounded = int(AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS)
        payers = list(range(8_000_001, 8_000_001 + HTLC_THREADS))
        payee, bank = 8_100_001, 8_100_002
        ledger.create_accounts(
            [Account(id=i, asset="USD", code=100, flags=bounded) for i in payers]
            + [Account(id=payee, asset="USD", code=100), Account(id=bank, asset="USD", code=1)]
        )
        ledger.create_transfers(
            [Transfer(id=9_000_000 + n, debit_account_id=bank, credit_account_id=i,
                      amount=10**12) for n, i in enumerate(payers)]
        )  # fmt: skip
        parties = [Party("payee", key_id="payee-key")]

        def pair(payer: int) -> None:
            contract = platform.contracts.create(
                "htlc",
                parties,
                {"legs": [{"payer_account_id": payer, "payee_account_id": payee,
                           "amount": 100}], "condition": condition, "timeout_s": 600},
                actor,
            )  # fmt: skip
            platform.contracts.fulfil(contract.id, preimage.hex(), payee_key, actor)

        def ledger_pair(payer: int) -> None:
            hold = new_id()
            ledger.create_transfers(
                [Transfer(id=hold, debit_account_id=payer, credit_account_id=payee,
                          amount=100, flags=int(TransferFlags.PENDING), timeout=600)]
            )  # fmt: skip
            ledger.create_transfers(
                [Transfer(id=new_id(), debit_account_id=0, credit_account_id=0, amount=0,
                          pending_id=hold, flags=int(TransferFlags.POST_PENDING_TRANSFER))]
            )  # fmt: skip

        for name, call in (("service", pair), ("ledger alone", ledger_pair)):
            work_items = [payers[n % HTLC_THREADS] for n in range(pairs)]
            settle_heap()
            started = time.perf_counter()
            with (
                ThreadPoolExecutor(HTLC_THREADS) as pool,
                Progress(console=console, transient=True) as progress,
            ):
                task = progress.add_task(f"htlc: {name}", total=pairs)
                for _ in pool.map(call, work_items):
                    progress.advance(task)
            figures[name] = pairs / (time.perf_counter() - started)
            thaw_heap()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=16_380)
    parser.add_argument("--accounts", type=int, default=5_000)
    parser.add_argument("--htlc-pairs", type=int, default=5_000)
    parser.add_argument("--quick", action="store_true", help="20,000 programs: a smoke run")
    args = parser.parse_args()
    console = Console()
    programs = 20_000 if args.quick else args.programs
    figures = []
    for name, text in (("send", SEND), ("split", SPLIT)):
        figures.append(
            run_scenario(name, compile_program(text), programs, args.batch, args.accounts, console)
        )
    htlc = run_htlc(1_000 if args.quick else args.htlc_pairs, console)
    table = Table(title=f"Numscript on the ledger, batches of {args.batch} ({machine()})")
    columns = (
        "scenario",
        "programs/s",
        "CPU µs/prog",
        "interpret only",
        "ledger alone",
        "transfers/s",
    )
    for column in columns:
        table.add_column(column, justify="right")
    for f in figures:
        table.add_row(
            f.scenario,
            f"{f.executor_programs_per_s:,.0f}",
            f"{f.executor_cpu_us_per_program:,.1f}",
            f"{f.interpret_programs_per_s:,.0f}",
            f"{f.ledger_alone_programs_per_s:,.0f}",
            f"{f.executor_programs_per_s * f.transfers / f.programs:,.0f}",
        )
    console.print(table)
    console.print(
        f"HTLC lock + fulfil through ContractService ({HTLC_THREADS} threads): "
        f"{htlc['service']:,.0f} pairs/s; the same pending + post pairs straight to the ledger: "
        f"{htlc['ledger alone']:,.0f} pairs/s"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    console.print(f"peak RSS {peak:,.0f} MiB")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "contracts.json").write_text(
        json.dumps(
            {
                "machine": machine(),
                "figures": [asdict(f) for f in figures],
                "htlc_pairs_per_s": htlc,
                "peak_rss_mib": peak,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
