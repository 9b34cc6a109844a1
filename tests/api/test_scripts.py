"""Numscript over HTTP against a real server: a dry run shows postings and moves nothing, errors
are 422 problems with the Numscript code, line and column, a run moves money once per
Idempotency-Key, a refused run moves nothing, executions are readable, and the audit trail
records each run without its variables; in the end the ledger holds exactly what moved."""

from __future__ import annotations

import signal
from collections.abc import Callable
from typing import Any

from clearline.contracts.addresses import account_id
from clearline.contracts.executor import program_sha256
from clearline.contracts.numscript import compile_program
from clearline.platform import Platform

PAY = (
    "vars {\n  monetary $amount\n  account $from\n  account $to\n}\n"
    "send $amount (\n  source = $from\n"
    "  destination = { 10% to @fees:scripts  remaining to $to }\n)"
)
FUND = "vars { monetary $amount account $to }\nsend $amount (source = @world destination = $to)"
HEX32 = r"^[0-9a-f]{32}$"


def ledger(account: str) -> str:
    """A wallet's Numscript address (without @)."""
    return f"ledger:{account}"


def held(api: Any, address: str, asset: str = "USD/2") -> int:
    """A script account's balance, read through a dry run that would send all of it."""
    response = api.operator.post(
        "/v1/scripts/dry-run",
        json={"program": f"send [{asset} *] (source = @{address} destination = @sink)"},
    )
    assert response.status_code == 200, response.text
    return sum(int(p["amount"]) for p in response.json()["postings"])


def test_dry_run_shows_the_postings_and_moves_nothing(api_server: Any) -> None:
    api = api_server
    payer, payee = api.party("Dry payer", funds="50"), api.party("Dry payee", funds=None)
    before = [api.balance(p.account_id) for p in (payer, payee)]
    body = {
        "program": PAY,
        "variables": {
            "amount": "USD/2 1234",
            "from": ledger(payer.account_id),
            "to": ledger(payee.account_id),
        },
    }
    response = api.operator.post("/v1/scripts/dry-run", json=body)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "postings": [
            {
                "source": ledger(payer.account_id),
                "destination": "fees:scripts",
                "amount": "124",
                "asset": "USD/2",
                "color": "",
            },
            {
                "source": ledger(payer.account_id),
                "destination": ledger(payee.account_id),
                "amount": "1110",
                "asset": "USD/2",
                "color": "",
            },
        ],
        "tx_meta": {},
        "account_meta": {},
    }
    assert [api.balance(p.account_id) for p in (payer, payee)] == before
    again = api.operator.post("/v1/scripts/dry-run", json=body, headers={"Idempotency-Key": "d1"})
    replay = api.operator.post("/v1/scripts/dry-run", json=body, headers={"Idempotency-Key": "d1"})
    assert again.json() == replay.json() == response.json()
    assert replay.headers["idempotent-replayed"] == "true"


def test_a_compile_error_is_422_with_its_line_and_column(
    api_server: Any, problem_of: Callable[..., dict[str, Any]]
) -> None:
    for path in ("/v1/scripts/dry-run", "/v1/scripts/run"):
        bad = {"program": "send [USD/2 1] (\n  source = @world\n  destination =\n)"}
        problem = problem_of(api_server.operator.post(path, json=bad), 422, "parse_error")
        assert (problem["line"], problem["column"]) == (4, 1), problem
        assert problem["errors"][0]["location"] == "body.program:4:1", problem
        unknown = {"program": "send $amount (source = @world destination = @bob)"}
        problem = problem_of(api_server.operator.post(path, json=unknown), 422, "unknown_variable")
        assert (problem["line"], problem["column"]) == (1, 6), problem
    flag = {"program": FUND, "feature_flags": ["no-such-feature"]}
    problem = problem_of(api_server.operator.post("/v1/scripts/run", json=flag), 422)
    assert problem["code"] == "unknown_feature" and problem["line"] is None, problem


def test_a_failed_dry_run_is_422_with_its_position(
    api_server: Any, problem_of: Callable[..., dict[str, Any]]
) -> None:
    program = {"program": "send [USD/2 500] (source = @dry:empty destination = @dry:sink)"}
    response = api_server.operator.post("/v1/scripts/dry-run", json=program)
    problem = problem_of(response, 422, "missing_funds")
    assert (problem["line"], problem["column"]) == (1, 28), problem  # @dry:empty
    missing = {"program": FUND, "variables": {"amount": "USD/2 1"}}
    response = api_server.operator.post("/v1/scripts/dry-run", json=missing)
    assert problem_of(response, 422, "missing_variable")["detail"]


def test_roles_are_checked_before_the_body(
    api_server: Any, problem_of: Callable[..., dict[str, Any]]
) -> None:
    customer = api_server.client(api_server.party("Script customer", funds=None).key)
    analyst = api_server.client(api_server.key("analyst"))
    for client, role in ((customer, "customer"), (analyst, "analyst")):
        for path in ("/v1/scripts/dry-run", "/v1/scripts/run"):
            for body in (b"{", b'{"program": 5, "nonsense": true}', b""):
                response = client.post(
                    path, content=body, headers={"Content-Type": "application/json"}
                )
                assert role in problem_of(response, 403, "forbidden")["detail"]
        problem_of(client.get("/v1/scripts/executions/not-an-id"), 403, "forbidden")


def test_a_run_moves_money_once_per_idempotency_key(
    api_server: Any, problem_of: Callable[..., dict[str, Any]]
) -> None:
    api = api_server
    payer, payee = api.party("Run payer", funds="50"), api.party("Run payee", funds=None)
    fees = held(api, "fees:scripts")
    variables = {
        "amount": "USD/2 1234",
        "from": ledger(payer.account_id),
        "to": ledger(payee.account_id),
    }
    body = {"program": PAY, "variables": variables}
    key = {"Idempotency-Key": "run-once-1"}
    first = api.operator.post("/v1/scripts/run", json=body, headers=key)
    assert first.status_code == 201, first.text
    run = first.json()
    assert run["status"] == "done" and run["error_code"] is None, run
    assert [p["amount"] for p in run["postings"]] == ["124", "1110"]
    assert len(run["transfer_ids"]) == 2
    assert api.balance(payer.account_id)["posted"] == "37.66"
    assert api.balance(payee.account_id)["posted"] == "11.10"
    assert held(api, "fees:scripts") == fees + 124

    replay = api.operator.post("/v1/scripts/run", json=body, headers=key)
    assert replay.status_code == 201 and replay.json() == run
    assert replay.headers["idempotent-replayed"] == "true"
    other = {**body, "variables": {**variables, "amount": "USD/2 1"}}
    problem_of(api.operator.post("/v1/scripts/run", json=other, headers=key), 409)
    assert api.balance(payer.account_id)["posted"] == "37.66"
    assert api.balance(payee.account_id)["posted"] == "11.10"
    assert held(api, "fees:scripts") == fees + 124

    unkeyed = [api.operator.post("/v1/scripts/run", json=body) for _ in range(2)]
    assert [r.status_code for r in unkeyed] == [201, 201]
    assert unkeyed[0].json()["id"] != unkeyed[1].json()["id"]  # no key: two executions
    assert api.balance(payer.account_id)["posted"] == "12.98"


def test_a_refused_run_moves_nothing(
    api_server: Any, problem_of: Callable[..., dict[str, Any]]
) -> None:
    api = api_server
    payer, payee = api.party("Poor payer", funds="5"), api.party("Poor payee", funds=None)
    program = (
        "send [USD/2 100] (source = @world destination = @refused:first)\n"
        f"send [USD/2 600] (source = @{ledger(payer.account_id)} "
        f"destination = @{ledger(payee.account_id)})"
    )
    key = {"Idempotency-Key": "refused-1"}
    response = api.operator.post("/v1/scripts/run", json={"program": program}, headers=key)
    problem = problem_of(response, 422, "missing_funds")
    assert "nothing moved" in problem["detail"]
    assert problem["execution_id"]
    again = api.operator.post("/v1/scripts/run", json={"program": program}, headers=key)
    assert problem_of(again, 422, "missing_funds")["execution_id"] == problem["execution_id"]
    assert api.balance(payer.account_id)["posted"] == "5.00"
    assert api.balance(payee.account_id)["posted"] == "0.00"
    assert held(api, "refused:first") == 0  # the first send of the program did not happen
    # a refusal is not a stored response, but the key has run: another program is refused
    fixed = {"program": program.replace("600", "1")}
    reused = api.operator.post("/v1/scripts/run", json=fixed, headers=key)
    problem_of(reused, 409, "idempotency_key_reused")
    stored = api.operator.get(f"/v1/scripts/executions/{problem['execution_id']}").json()
    assert stored["status"] == "refused" and stored["error_code"] == "missing_funds", stored
    assert stored["postings"] == [] and stored["transfer_ids"] == []

    # an asset the ledger cannot hold is refused before anything is recorded as pending
    usd3 = {"program": "send [USD/3 1000] (source = @world destination = @refused:usd3)"}
    key = {"Idempotency-Key": "refused-usd3"}
    first = problem_of(api.operator.post("/v1/scripts/run", json=usd3, headers=key), 422)
    assert first["code"] == "invalid_asset", first
    second = problem_of(api.operator.post("/v1/scripts/run", json=usd3, headers=key), 422)
    assert second["code"] == "invalid_asset", second
    stored = api.operator.get(f"/v1/scripts/executions/{first['execution_id']}").json()
    assert stored["status"] == "refused", stored


def test_an_execution_is_readable_by_operators_and_auditors(
    api_server: Any, problem_of: Callable[..., dict[str, Any]]
) -> None:
    api = api_server
    body = {"program": FUND, "variables": {"amount": "USD/2 777", "to": "readable:one"}}
    run = api.operator.post("/v1/scripts/run", json=body).json()
    auditor = api.client(api.key("auditor"))
    for client in (api.operator, auditor):
        response = client.get(f"/v1/scripts/executions/{run['id']}")
        assert response.status_code == 200, response.text
        stored = response.json()
        assert stored["status"] == "done"
        assert stored["postings"] == run["postings"]
        assert stored["transfer_ids"] == run["transfer_ids"]
        assert stored["program_sha256"] == program_sha256(compile_program(FUND))
        assert stored["completed_at"] and stored["created_at"]
        assert "variables" not in stored
    problem_of(api.operator.get(f"/v1/scripts/executions/{'0' * 31}1"), 404)
    problem_of(api.operator.get(f"/v1/scripts/executions/{'0' * 32}"), 404)


def test_each_run_is_an_audit_event_without_its_variables(api_server: Any) -> None:
    api = api_server
    secret = "Ada Lovelace 19121210"
    body = {
        "program": (
            "vars { monetary $amount account $to string $note }\n"
            "send $amount (source = @world destination = $to)\n"
            'set_tx_meta("note", $note)'
        ),
        "variables": {"amount": "USD/2 5", "to": "audited:ada", "note": secret},
    }
    response = api.operator.post("/v1/scripts/run", json=body, headers={"Idempotency-Key": "aud"})
    assert response.status_code == 201, response.text
    run = response.json()
    assert run["tx_meta"] == {"note": secret}  # the program's own output, to its caller
    auditor = api.client(api.key("auditor"))
    events = auditor.get(
        "/v1/audit-events", params={"action": "script.run", "resource_id": run["id"]}
    ).json()["data"]
    assert len(events) == 1, events
    (event,) = events
    assert event["resource_type"] == "script_execution"
    assert event["idempotency_key"] == "aud"
    assert event["details"] == {
        "program_sha256": program_sha256(compile_program(body["program"])),
        "status": "done",
        "transfers": 1,
    }
    assert secret not in str(event) and "audited:ada" not in str(event)


def test_the_ledger_holds_exactly_what_moved(launch_api: Callable[..., Any]) -> None:
    """Runs, a replay and a refusal over HTTP; then, with the server stopped, the ledger's own
    script accounts hold what the runs moved, once."""
    api = launch_api()
    operator = api.operator

    def run(program: str, variables: dict[str, str], key: str) -> int:
        body = {"program": program, "variables": variables}
        response = operator.post("/v1/scripts/run", json=body, headers={"Idempotency-Key": key})
        return int(response.status_code)

    fund = {"amount": "USD/2 250", "to": "users:bob"}
    assert run(FUND, fund, "fund-bob") == 201
    assert run(FUND, fund, "fund-bob") == 201  # replayed
    pay = "send [USD/2 100] (source = @users:bob destination = @users:carol)"
    assert run(pay, {}, "bob-carol") == 201
    too_much = "send [USD/2 1000] (source = @users:bob destination = @users:carol)"
    assert run(too_much, {}, "bob-carol-refused") == 422
    api.close_clients()
    api.process.send_signal(signal.SIGINT)
    api.process.wait(timeout=30)
    platform = Platform.open(api.data_dir)
    try:
        ids = [account_id(a, "USD/2", "") for a in ("world", "users:bob", "users:carol")]
        found = {a.id: a for a in platform.ledger.lookup_accounts(ids)}
        world, bob, carol = (found[i] for i in ids)
        assert (world.debits_posted, world.credits_posted) == (250, 0)
        assert (bob.credits_posted, bob.debits_posted, carol.credits_posted) == (250, 100, 100)
    finally:
        platform.close()
