"""A plain script that uses the sealed ledger the way the README shows, with its work at top level
and no `if __name__ == "__main__":` guard, runs exactly once (issue 13, defect 1).

The default sealer hashes large groups in a worker process. Started with multiprocessing's
`spawn`, that worker imported the parent's `__main__` module, so such a script ran its top-level
code a second time in the worker: it printed its first line twice and opened the ledger again
(`database is locked`, a traceback). The worker must never import the user's program."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from clearline.chain.log import HASHER_GROUP_LEAVES_MIN

TRANSFER_COUNT = 5_000
FIRST_LINE = "plain script: opening the sealed ledger"

PLAIN_SCRIPT = textwrap.dedent(
    f"""
    from collections import Counter

    from clearline.ledger import Account, Ledger, Transfer

    print({FIRST_LINE!r}, flush=True)
    with Ledger.open("ledger-data") as ledger:
        ledger.create_accounts([
            Account(id=1, asset="USD", code=10),
            Account(id=2, asset="USD", code=20),
        ])
        results = ledger.create_transfers([
            Transfer(id=100 + n, debit_account_id=1, credit_account_id=2, amount=1 + n % 97)
            for n in range({TRANSFER_COUNT})
        ])
        kinds = Counter(result.result.value for result in results)
        for kind, count in sorted(kinds.items()):
            print("result", kind, count)
    """
)


def test_a_plain_script_without_a_main_guard_runs_once(tmp_path: Path) -> None:
    assert TRANSFER_COUNT >= HASHER_GROUP_LEAVES_MIN  # the batch goes to the hashing worker
    script = tmp_path / "plain_script.py"
    script.write_text(PLAIN_SCRIPT, encoding="utf-8")
    finished = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    report = f"stdout:\n{finished.stdout}\nstderr:\n{finished.stderr}"
    assert finished.returncode == 0, report
    assert "Traceback" not in finished.stderr, report
    lines = finished.stdout.splitlines()
    assert lines.count(FIRST_LINE) == 1, report
    assert lines[0] == FIRST_LINE, report
    assert [line for line in lines if line.startswith("result ")] == [
        f"result ok {TRANSFER_COUNT}"
    ], report
