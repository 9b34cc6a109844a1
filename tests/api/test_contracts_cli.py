"""`clearline contracts …` on a real data directory: an escrow created from the API's JSON body,
listed and shown (its --json exactly what the API answers), approved by customer keys only as
themselves, attested by the local operator where it is the named party, cancelled; an HTLC
fulfilled with the right preimage and not a wrong one; --id as the Idempotency-Key; schema and
ledger refusals; the proof of the latest step; the sweep; a busy directory refused."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

from clearline.api import contract_schemas as c
from clearline.api.contracts_cli import register
from clearline.api.routes.contracts import contract_out, service_parties, service_terms
from clearline.chain.merkle import leaf_hash, verify_inclusion
from clearline.core.clock import ManualClock
from clearline.ledger import Account, AccountFlags, Transfer
from clearline.platform import DirectoryLock, Platform
from clearline.trail import CLI

PREIMAGE = b"paid in full"
CONDITION = hashlib.sha256(PREIMAGE).hexdigest()
BUYER, SELLER, CARRIER, STRANGER = (n << 100 for n in (0x1111, 0x2222, 0x4444, 0x3333))
COMMANDS = ("create", "list", "show", "approve", "attest", "fulfil", "cancel", "proof", "sweep")


@dataclass(frozen=True)
class World:
    """A data directory with a funded payer wallet, an empty payee wallet and customer keys."""

    data_dir: Path
    payer: int
    payee: int
    keys: dict[str, str]
    key_ids: dict[str, str]


def hex_id(value: int) -> str:
    return f"{value:032x}"


def invoke(
    world: World, *args: str, api_key: str | None = None, stdin: str | None = None
) -> Result:
    app = typer.Typer()

    @app.callback()
    def main(ctx: typer.Context) -> None:
        ctx.obj = {"data_dir": world.data_dir}

    register(app)
    env = {"CLEARLINE_API_KEY": api_key}  # None: unset, whatever the test's environment holds
    return CliRunner().invoke(app, ["contracts", *args], input=stdin, env=env)


def make_world(data_dir: Path, clock: ManualClock | None = None, funds: int = 50_000) -> World:
    """Wallets as the contracts room's tests make them: bounded, funded from a bank account."""
    platform = Platform.open(data_dir, clock=clock)
    try:
        payer, payee, bank = 7_000_001, 7_000_002, 7_000_003
        bounded = AccountFlags.DEBITS_MUST_NOT_EXCEED_CREDITS
        platform.ledger.create_accounts(
            [Account(id=payer, asset="USD", code=100, flags=bounded),
             Account(id=payee, asset="USD", code=100, flags=bounded),
             Account(id=bank, asset="USD", code=1)]
        )  # fmt: skip
        if funds:
            platform.ledger.create_transfers(
                [Transfer(id=7_000_100, debit_account_id=bank, credit_account_id=payer,
                          amount=funds)]
            )  # fmt: skip
        made = {
            name: platform.keys.create("customer" if customer else "auditor", customer)
            for name, customer in (
                ("buyer", BUYER), ("seller", SELLER), ("carrier", CARRIER),
                ("stranger", STRANGER), ("auditor", None),
            )
        }  # fmt: skip
    finally:
        platform.close()
    return World(
        data_dir, payer, payee,
        {name: key for name, (key, _) in made.items()},
        {name: info.id for name, (_, info) in made.items()},
    )  # fmt: skip


def balances(world: World) -> tuple[int, int]:
    platform = Platform.open(world.data_dir)
    try:
        payer, payee = platform.ledger.lookup_accounts([world.payer, world.payee])
        return payer.balance, payee.balance
    finally:
        platform.close()


def escrow_body(world: World, amount: str = "120.00") -> dict[str, Any]:
    return {
        "template": "escrow",
        "parties": [
            {"name": "buyer", "customer_id": hex_id(BUYER)},
            {"name": "seller", "customer_id": hex_id(SELLER)},
            {"name": "carrier", "customer_id": hex_id(CARRIER)},
            {"name": "inspector", "key_id": "cli"},
        ],
        "escrow": {
            "payer_account_id": hex_id(world.payer),
            "payee_account_id": hex_id(world.payee),
            "amount": amount,
            "asset": "USD",
            "approvers": ["buyer", "seller"],
            "threshold": 2,
            "milestones": [{"name": "shipped", "amount": "40.00", "attester": "inspector"}],
            "deadline_s": 3600,
        },
    }


def write(tmp_path: Path, body: dict[str, Any], name: str = "contract.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(body, indent=2), encoding="utf-8")
    return path


def created_id(result: Result) -> str:
    found = re.search(r"contract ([0-9a-f]{32}) is", result.stdout)
    assert found, result.output
    return found.group(1)


def stdout_json(result: Result) -> Any:
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.fixture
def world(tmp_path: Path) -> World:
    return make_world(tmp_path / "data")


def test_every_command_has_help_with_an_example(world: World) -> None:
    for command in COMMANDS:
        result = invoke(world, command, "--help")
        assert result.exit_code == 0, result.output
        assert "Example" in result.output and f"clearline contracts {command}" in result.output


def test_an_escrow_created_from_the_api_body_is_listed_and_shown(
    world: World, tmp_path: Path
) -> None:
    created = invoke(world, "create", str(write(tmp_path, escrow_body(world))))
    assert created.exit_code == 0, created.output
    contract_id = created_id(created)
    assert f"escrow contract {contract_id} is funded (version 1" in created.stdout
    assert "step create: done (contract.create by cli" in created.stdout
    assert balances(world) == (50_000 - 12_000, 0)

    listed = invoke(world, "list")
    assert listed.exit_code == 0, listed.output
    row = next(line for line in listed.stdout.splitlines() if contract_id in line)
    assert [w for w in row.split() if w not in "│┃"][:4] == [contract_id, "escrow", "funded", "1"]
    assert "1 contracts" in listed.stdout
    assert invoke(world, "list", "--state", "refunded").stdout.count(contract_id) == 0

    shown = invoke(world, "show", contract_id)
    assert shown.exit_code == 0, shown.output
    assert f"party buyer: customer {hex_id(BUYER)}" in shown.stdout
    assert "party inspector: key cli" in shown.stdout and "contract.create" in shown.stdout
    assert f"clearline contracts proof {contract_id}" in shown.stdout


def test_json_is_what_the_api_answers(world: World, tmp_path: Path) -> None:
    created = stdout_json(
        invoke(world, "create", str(write(tmp_path, escrow_body(world))), "--json")
    )
    shown = stdout_json(invoke(world, "show", created["id"], "--json"))
    listed = stdout_json(invoke(world, "list", "--json", "--limit", "1"))
    platform = Platform.open(world.data_dir)
    try:
        expected = contract_out(platform, platform.contracts.get(int(created["id"], 16)))
    finally:
        platform.close()
    assert shown == json.loads(expected.model_dump_json()) == created
    c.ContractOut.model_validate_json(json.dumps(shown))  # the response schema, strictly
    assert listed == {"data": [shown], "next_cursor": listed["next_cursor"]}
    assert listed["next_cursor"] is not None  # a full page: there may be more


def test_customer_keys_approve_only_as_themselves(world: World, tmp_path: Path) -> None:
    contract_id = created_id(invoke(world, "create", str(write(tmp_path, escrow_body(world)))))
    keys = world.keys

    as_operator = invoke(world, "approve", contract_id)  # `cli` is not an approver
    assert as_operator.exit_code == 1
    assert as_operator.stderr.startswith("error: not_a_party: only buyer or seller may approve")
    carrier = invoke(world, "approve", contract_id, api_key=keys["carrier"])  # named, no approver
    assert carrier.exit_code == 1
    assert carrier.stderr.startswith("error: not_a_party: only buyer or seller may approve")
    hidden = invoke(world, "approve", contract_id, api_key=keys["stranger"])
    assert hidden.exit_code == 1 and hidden.stderr.startswith("error: contract_not_found: ")
    auditor = invoke(world, "approve", contract_id, api_key=keys["auditor"])
    assert auditor.exit_code == 1 and auditor.stderr.startswith("error: forbidden: the auditor")
    wrong = invoke(world, "approve", contract_id, "--api-key", keys["buyer"] + "x")
    assert wrong.exit_code == 1
    assert wrong.stderr.startswith("error: invalid_api_key: the API key is unknown or revoked")
    assert keys["buyer"] not in wrong.output

    first = invoke(world, "approve", contract_id, api_key=keys["buyer"])  # from the environment
    assert first.exit_code == 0, first.output
    assert "is funded (version 2" in first.stdout and "step approve:buyer: done" in first.stdout
    again = invoke(world, "approve", contract_id, api_key=keys["buyer"])
    assert again.exit_code == 0 and again.stdout.startswith("unchanged: ")
    released = invoke(world, "approve", contract_id, "--api-key", keys["seller"], "--json")
    document = stdout_json(released)
    assert document["state"] == "released" and document["data"]["approvals"] == ["buyer", "seller"]
    actors = [s["actor_key_id"] for s in document["steps"]]
    assert actors == ["cli", world.key_ids["buyer"], world.key_ids["seller"]]
    assert balances(world) == (50_000 - 12_000, 12_000)
    assert keys["seller"] not in released.output


def test_the_operator_attests_where_it_is_the_named_party(world: World, tmp_path: Path) -> None:
    contract_id = created_id(invoke(world, "create", str(write(tmp_path, escrow_body(world)))))
    attested = invoke(world, "attest", contract_id, "shipped")
    assert attested.exit_code == 0, attested.output
    assert "step attest:shipped: done" in attested.stdout and '"released":4000' in attested.stdout
    unknown = invoke(world, "attest", contract_id, "delivered")
    assert unknown.exit_code == 1 and unknown.stderr.startswith("error: milestone: ")
    assert balances(world) == (50_000 - 12_000, 4_000)


def test_an_htlc_is_fulfilled_by_the_right_preimage_only(world: World, tmp_path: Path) -> None:
    body = {
        "template": "htlc",
        "parties": [
            {"name": "payer", "customer_id": hex_id(BUYER)},
            {"name": "payee", "customer_id": hex_id(SELLER)},
        ],
        "htlc": {
            "legs": [
                {"payer_account_id": hex_id(world.payer), "payee_account_id": hex_id(world.payee),
                 "amount": "70.00", "asset": "USD"},
            ],
            "condition": CONDITION,
            "timeout_s": 600,
        },
    }  # fmt: skip
    created = invoke(world, "create", "-", stdin=json.dumps(body))  # the body on stdin
    assert created.exit_code == 0, created.output
    contract_id = created_id(created)
    assert "is locked" in created.stdout
    seller = world.keys["seller"]
    wrong = invoke(world, "fulfil", contract_id, "--preimage", b"guess".hex(), api_key=seller)
    assert wrong.exit_code == 1 and wrong.stderr.startswith("error: wrong_preimage: ")
    malformed = invoke(world, "fulfil", contract_id, "--preimage", "xyz", api_key=seller)
    assert (
        malformed.exit_code == 1 and "  preimage: String should match pattern" in malformed.stderr
    )
    not_payee = invoke(world, "fulfil", contract_id, "--preimage", PREIMAGE.hex())
    assert not_payee.exit_code == 1 and not_payee.stderr.startswith("error: not_a_party: ")
    assert balances(world) == (50_000, 0)  # held, not moved
    done = invoke(world, "fulfil", contract_id, "--preimage", PREIMAGE.hex(), api_key=seller)
    assert done.exit_code == 0, done.output
    assert "is fulfilled" in done.stdout and f'"preimage":"{PREIMAGE.hex()}"' in done.stdout
    assert balances(world) == (50_000 - 7_000, 7_000)


def test_a_cancelled_escrow_refunds_the_payer_once(world: World, tmp_path: Path) -> None:
    contract_id = created_id(invoke(world, "create", str(write(tmp_path, escrow_body(world)))))
    cancelled = invoke(world, "cancel", contract_id, "--id", "dispute-1")
    assert cancelled.exit_code == 0, cancelled.output
    assert "is refunded" in cancelled.stdout and '"refunded":12000' in cancelled.stdout
    assert balances(world) == (50_000, 0)
    replayed = invoke(world, "cancel", contract_id, "--id", "dispute-1")
    assert replayed.exit_code == 0, replayed.output
    assert replayed.stdout.startswith("replayed: --id dispute-1 was answered before")
    again = invoke(world, "cancel", contract_id)  # without the key: a new request
    assert again.exit_code == 1
    assert again.stderr.startswith("error: contract_state: this escrow contract is refunded")
    assert balances(world) == (50_000, 0)


def test_the_same_id_is_the_same_contract(world: World, tmp_path: Path) -> None:
    path = write(tmp_path, escrow_body(world))
    first = stdout_json(invoke(world, "create", str(path), "--id", "deal-7", "--json"))
    reordered = write(tmp_path, dict(reversed(escrow_body(world).items())), "reordered.json")
    again = invoke(world, "create", str(reordered), "--id", "deal-7")
    assert again.exit_code == 0, again.output
    assert again.stdout.startswith("replayed: --id deal-7") and first["id"] in again.stdout
    assert balances(world) == (50_000 - 12_000, 0)  # funded once
    other = write(tmp_path, escrow_body(world, amount="1.00"), "other.json")
    reused = invoke(world, "create", str(other), "--id", "deal-7")
    assert reused.exit_code == 1 and reused.stderr.startswith("error: idempotency_key_reused: ")
    assert invoke(world, "create", str(path), "--id", "deal-8").stdout.count(first["id"]) == 0
    platform = Platform.open(world.data_dir)
    try:
        events = [e for e in platform.trail.page(0, 100) if e.action == "contract.create"]
    finally:
        platform.close()
    assert [(e.actor.key_id, e.actor.idempotency_key) for e in events] == [
        ("cli", "deal-7"),
        ("cli", "deal-8"),
    ]


def test_a_body_off_the_schema_lists_every_field(tmp_path: Path) -> None:
    world = World(tmp_path / "never-opened", 1, 2, {}, {})
    body = escrow_body(world, amount="12.3.4")
    del body["escrow"]["deadline_s"]
    body["colour"] = "red"
    result = invoke(world, "create", str(write(tmp_path, body)))
    assert result.exit_code == 1, result.output
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: validation_failed: ")
    assert "  escrow.amount: String should match pattern" in "\n".join(lines)
    assert "  escrow.deadline_s: Field required" in lines
    assert "  colour: Extra inputs are not permitted" in lines
    broken = invoke(world, "create", "-", stdin="{")
    assert broken.exit_code == 1 and broken.stderr.startswith("error: malformed_json: stdin ")
    assert not world.data_dir.exists()  # refused before anything was opened


def test_a_step_the_ledger_refuses_exits_1_with_its_reason(tmp_path: Path) -> None:
    world = make_world(tmp_path / "data", funds=100)
    result = invoke(world, "create", str(write(tmp_path, escrow_body(world))))
    assert result.exit_code == 1, result.output
    assert "is failed" in result.stdout
    assert "refused: ledger_exceeds_credits" in result.stdout
    assert result.stderr.startswith("refused: ledger_exceeds_credits: step create of ")
    assert balances(world) == (100, 0)


def test_any_template_the_schema_takes_works(world: World, tmp_path: Path) -> None:
    body = {
        "template": "numscript",
        "numscript": {"program": "send [USD/2 100] (source = @world destination = @users:bob)"},
    }
    result = invoke(world, "create", str(write(tmp_path, body)), "--json")
    document = stdout_json(result)
    assert document["state"] == "executed" and len(document["data"]["transfer_ids"]) == 1


def test_the_proof_of_the_latest_step_holds(world: World, tmp_path: Path) -> None:
    contract_id = created_id(invoke(world, "create", str(write(tmp_path, escrow_body(world)))))
    assert invoke(world, "attest", contract_id, "shipped").exit_code == 0
    document = stdout_json(invoke(world, "proof", contract_id, "--json"))
    assert document["event"]["resource_id"] == contract_id and document["intact"]
    assert document["event"]["action"] == "contract.attest"
    inclusion = document["proof"]
    verify_inclusion(  # raises unless the leaf is in the signed tree
        inclusion["leaf_index"],
        inclusion["tree_size"],
        leaf_hash(bytes.fromhex(document["leaf"])),
        [bytes.fromhex(node) for node in inclusion["proof"]],
        bytes.fromhex(document["checkpoint"]["root_hash"]),
    )
    said = invoke(world, "proof", contract_id)
    assert said.exit_code == 0, said.output
    assert f"contract.attest on contract {contract_id} by cli" in said.stdout
    assert "verified: the inclusion proof leads from the leaf" in said.stdout
    customer = invoke(world, "proof", contract_id, api_key=world.keys["buyer"])
    assert customer.exit_code == 1 and customer.stderr.startswith("error: forbidden: ")


def test_the_sweep_refunds_an_escrow_past_its_deadline(tmp_path: Path) -> None:
    clock = ManualClock()  # 2026-01-01: the escrow's hour ended long before the wall clock's now
    world = make_world(tmp_path / "data", clock=clock)
    platform = Platform.open(world.data_dir, clock=clock)
    try:
        body = c.ContractIn.model_validate(escrow_body(world))
        terms, asset = service_terms(body)
        contract = platform.contracts.create(
            "escrow", service_parties(body), terms, CLI, asset=asset
        )
    finally:
        platform.close()
    swept = invoke(world, "sweep")
    assert swept.exit_code == 0, swept.output
    assert swept.stdout.strip() == "swept: 1 contracts changed"
    assert stdout_json(invoke(world, "sweep", "--json")) == {"changed": 0}
    shown = stdout_json(invoke(world, "show", hex_id(contract.id), "--json"))
    assert shown["state"] == "expired" and shown["steps"][-1]["actor_key_id"] == "system"
    assert balances(world) == (50_000, 0)


def test_a_directory_a_server_holds_is_refused(world: World, tmp_path: Path) -> None:
    held = DirectoryLock(world.data_dir)  # as a running `clearline serve` holds it
    try:
        result = invoke(world, "create", str(write(tmp_path, escrow_body(world))))
    finally:
        held.release()
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: platform_busy: ") and "/v1/contracts" in result.stderr
    assert balances(world) == (50_000, 0)


def test_a_standing_order_from_a_file_runs_at_the_sweep_and_completes(
    world: World, tmp_path: Path
) -> None:
    body = {
        "template": "schedule",
        "parties": [{"name": "payer", "customer_id": hex_id(BUYER)}],
        "schedule": {
            "every_s": 3600,
            "count": 1,
            "payment": {
                "from_account_id": hex_id(world.payer),
                "to_account_id": hex_id(world.payee),
                "amount": "12.34",
                "asset": "USD",
            },
        },
    }
    created = stdout_json(invoke(world, "create", str(write(tmp_path, body)), "--json"))
    assert created["state"] == "active" and created["data"]["succeeded"] == 0
    swept = invoke(world, "sweep")  # its first occurrence fell at its creation
    assert swept.stdout.strip() == "swept: 1 contracts changed", swept.output
    shown = stdout_json(invoke(world, "show", created["id"], "--json"))
    assert shown["state"] == "completed" and shown["steps"][-1]["step"].startswith("occurrence:")
    assert balances(world) == (50_000 - 1_234, 1_234)
