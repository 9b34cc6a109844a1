"""`clearline script run FILE` on a real data directory: a dry run prints the postings and moves
nothing, a run prints its transfers and moves money once per --id, errors name the file, line
and column, a malformed --var is a usage error, a busy directory is refused."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from clearline.contracts.addresses import account_id
from clearline.contracts.cli import register
from clearline.platform import DirectoryLock, Platform

PAY = """vars {
  monetary $amount
  account $to
}
send $amount (
  source = @world
  destination = { 10% to @fees  remaining to $to }
)
"""
VARS = ["--var", "amount=USD/2 100", "--var", "to=users:bob"]


def invoke(data_dir: Path, *args: str) -> Result:
    app = typer.Typer()

    @app.callback()
    def main(ctx: typer.Context) -> None:
        ctx.obj = {"data_dir": data_dir}

    register(app)
    return CliRunner().invoke(app, ["script", *args])


def balances(data_dir: Path, *addresses: str) -> list[int]:
    """Each script account's balance in USD/2 (0 for one the ledger does not have)."""
    platform = Platform.open(data_dir)
    try:
        ids = [account_id(a, "USD/2", "") for a in addresses]
        found = {a.id: a.balance for a in platform.ledger.lookup_accounts(ids)}
        return [found.get(i, 0) for i in ids]
    finally:
        platform.close()


@pytest.fixture
def program(tmp_path: Path) -> Path:
    path = tmp_path / "pay.num"
    path.write_text(PAY, encoding="utf-8")
    return path


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


def test_help_has_an_example(data_dir: Path) -> None:
    result = invoke(data_dir, "run", "--help")
    assert result.exit_code == 0, result.output
    assert "Example" in result.output
    assert "clearline script run pay.num --var" in " ".join(result.output.split())


def test_a_dry_run_prints_the_postings_and_moves_nothing(program: Path, data_dir: Path) -> None:
    result = invoke(data_dir, "run", str(program), *VARS, "--dry-run")
    assert result.exit_code == 0, result.output
    rows = [line.split() for line in result.output.splitlines() if "@world" in line]
    assert [[w for w in row if w not in "│┃"] for row in rows] == [
        ["@world", "@fees", "10", "USD/2"],
        ["@world", "@users:bob", "90", "USD/2"],
    ]
    assert result.output.strip().endswith("dry run: 2 postings; nothing moved")
    assert balances(data_dir, "users:bob", "fees", "world") == [0, 0, 0]


def test_a_run_prints_its_transfers_and_is_an_audit_event(program: Path, data_dir: Path) -> None:
    result = invoke(data_dir, "run", str(program), *VARS)
    assert result.exit_code == 0, result.output
    done = re.search(r"done: execution ([0-9a-f]{32}), 2 transfers", result.output)
    assert done, result.output
    transfers = re.findall(r"^transfer ([0-9a-f]{32})$", result.output, re.MULTILINE)
    assert len(transfers) == 2, result.output
    assert balances(data_dir, "users:bob", "fees") == [90, 10]
    platform = Platform.open(data_dir)
    try:
        found = platform.ledger.lookup_transfers([int(t, 16) for t in transfers])
        assert sorted(t.amount for t in found) == [10, 90]
        stored = platform.scripts.records.get(int(done.group(1), 16))
        assert stored is not None and stored.status == "done"
        events = [e for e in platform.trail.page(0, 100) if e.action == "script.run"]
    finally:
        platform.close()
    assert len(events) == 1
    (event,) = events
    assert (event.actor.key_id, event.resource_type) == ("cli", "script_execution")
    assert event.resource_id == done.group(1)
    assert event.details["status"] == "done" and len(event.details["program_sha256"]) == 64
    assert "users:bob" not in str(event.document()) and "USD/2 100" not in str(event.document())


def test_the_same_id_twice_moves_once(program: Path, data_dir: Path) -> None:
    first = invoke(data_dir, "run", str(program), *VARS, "--id", "pay-42")
    assert first.exit_code == 0, first.output
    again = invoke(data_dir, "run", str(program), *VARS, "--id", "pay-42")
    assert again.exit_code == 0, again.output
    assert "replayed: execution" in again.output and "nothing moved again" in again.output
    ids = re.findall(r"^transfer ([0-9a-f]{32})$", first.output, re.MULTILINE)
    assert re.findall(r"^transfer ([0-9a-f]{32})$", again.output, re.MULTILINE) == ids
    assert balances(data_dir, "users:bob", "fees") == [90, 10]
    other = invoke(
        data_dir, "run", str(program), "--var", "amount=USD/2 7", "--var", "to=users:bob",
        "--id", "pay-42",
    )  # fmt: skip
    assert other.exit_code == 1, other.output
    assert "idempotency_key_reused" in other.output
    assert balances(data_dir, "users:bob", "fees") == [90, 10]


def test_a_refused_run_exits_1_and_moves_nothing(tmp_path: Path, data_dir: Path) -> None:
    path = tmp_path / "over.num"
    path.write_text(
        "send [USD/2 100] (source = @world destination = @users:first)\n"
        "send [USD/2 500] (source = @users:bob destination = @users:carol)\n"
    )
    result = invoke(data_dir, "run", str(path))
    assert result.exit_code == 1, result.output
    assert "refused: missing_funds:" in result.output and "nothing moved" in result.output
    assert balances(data_dir, "users:first", "users:carol", "world") == [0, 0, 0]


def test_a_malformed_var_is_a_usage_error_naming_it(program: Path, data_dir: Path) -> None:
    result = invoke(data_dir, "run", str(program), "--var", "amount", "--dry-run")
    assert result.exit_code == 2, result.output
    said = " ".join(result.output.split())
    assert "--var" in said and "'amount' is not name=value" in said
    twice = invoke(data_dir, "run", str(program), *VARS, "--var", "to=users:eve", "--dry-run")
    assert twice.exit_code == 2 and "given twice" in twice.output
    assert not data_dir.exists()  # refused before anything was opened


def test_a_compile_error_names_the_file_line_and_column(tmp_path: Path, data_dir: Path) -> None:
    path = tmp_path / "bad.num"
    path.write_text("send [USD/2 1] (\n  source = @world\n  destination =\n)\n")
    result = invoke(data_dir, "run", str(path))
    assert result.exit_code == 1, result.output
    first = result.output.splitlines()[0]
    assert first.startswith(f"{path}:4:1: parse_error: Numscript syntax error: unexpected ')'")
    assert not first.endswith("(line 4, column 1)")
    flagged = invoke(data_dir, "run", str(path), "--feature", "no-such-feature")
    assert flagged.exit_code == 1 and f"{path}: unknown_feature: " in flagged.output
    assert not data_dir.exists()


def test_a_failed_dry_run_names_its_position(tmp_path: Path, data_dir: Path) -> None:
    path = tmp_path / "empty.num"
    path.write_text("send [USD/2 5] (source = @users:nobody destination = @users:sink)\n")
    result = invoke(data_dir, "run", str(path), "--dry-run")
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"{path}:1:26: missing_funds: Not enough funds")


def test_a_directory_open_elsewhere_is_refused(program: Path, data_dir: Path) -> None:
    data_dir.mkdir()
    held = DirectoryLock(data_dir)  # as a running `clearline serve` holds it
    try:
        result = invoke(data_dir, "run", str(program), *VARS)
    finally:
        held.release()
    assert result.exit_code == 1, result.output
    assert "platform_busy" in result.output and "POST /v1/scripts/run" in result.output
    assert balances(data_dir, "users:bob") == [0]
