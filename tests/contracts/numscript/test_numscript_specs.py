"""The spec-file runner: merging inputs, each expectation, named mutations that must fail,
schema problems, skips."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from clearline.contracts.numscript.spec_schema import validate_spec
from clearline.contracts.numscript.specs import SpecReport, run_specs

SCRIPT = """
vars { monetary $amt  account $to = meta(@cfg, "to") }
send $amt (source = { @alice @bob } destination = { max [EUR 5] to $to  remaining kept })
set_tx_meta("sent", $amt)
set_account_meta(@alice, "touched", "yes")
"""

PASSING: dict[str, Any] = {
    "variables": {"amt": "EUR 8"},
    "balances": [
        {"account": "alice", "asset": "EUR", "amount": 3},
        {"account": "bob", "asset": "EUR", "amount": 100},
    ],
    "metadata": {"cfg": {"to": "shop", "other": "x"}},
    "testCases": [
        {
            "it": "pays the shop from alice then bob",
            "balances": [{"account": "alice", "asset": "EUR", "amount": 4}],
            "metadata": {"cfg": {"unused": "y"}},
            "expect.postings": [
                {"source": "alice", "destination": "shop", "amount": 4, "asset": "EUR"},
                {"source": "bob", "destination": "shop", "amount": 1, "asset": "EUR"},
            ],
            "expect.txMetadata": {"sent": "EUR 8"},
            "expect.metadata": {"alice": {"touched": "yes"}},
            "expect.endBalances": [
                {"account": "alice", "asset": "EUR", "amount": 0},
                {"account": "bob", "asset": "EUR", "amount": 99},
                {"account": "shop", "asset": "EUR", "amount": 5},
            ],
            "expect.endBalances.include": [{"account": "shop", "asset": "EUR", "amount": 5}],
            "expect.movements": [
                {"source": "alice", "destination": "shop", "amount": 4, "asset": "EUR"},
                {"source": "bob", "destination": "shop", "amount": 1, "asset": "EUR"},
            ],
        },
        {
            "it": "fails without funds",
            "variables": {"amt": "EUR 500"},
            "expect.error.missingFunds": True,
        },
    ],
}


ROW = {"account": "a", "asset": "EUR", "amount": 1}


def write(directory: Path, name: str, script: str, spec: Any) -> None:
    (directory / f"{name}.num").write_text(script)
    (directory / f"{name}.num.specs.json").write_text(json.dumps(spec))


def report_for(tmp_path: Path, spec: Any, script: str = SCRIPT) -> SpecReport:
    write(tmp_path, "case", script, spec)
    return run_specs(tmp_path)


def test_a_fully_specified_file_passes(tmp_path: Path) -> None:
    report = report_for(tmp_path, PASSING)
    assert [(o.status, o.reason) for o in report.outcomes] == [("passed", ""), ("passed", "")]
    assert report.summary() == "2 passed, 0 failed"


MUTATIONS = {
    "wrong posting amount": (("expect.postings", 0, "amount"), 5, "posting #1 differs"),
    "wrong posting color": (("expect.postings", 1, "color"), "RED", "posting #2 differs"),
    "wrong tx metadata": (("expect.txMetadata", "sent"), "EUR 9", "txMetadata differs"),
    "wrong account metadata": (("expect.metadata", "alice", "touched"), "no", "metadata differs"),
    "wrong end balance": (("expect.endBalances", 2, "amount"), 6, "endBalances differ"),
    "wrong included balance": (
        ("expect.endBalances.include", 0, "amount"),
        4,
        "endBalances.include",
    ),
    "wrong movement": (("expect.movements", 1, "amount"), 2, "movements differ"),
}


@pytest.mark.parametrize("mutation", sorted(MUTATIONS))
def test_named_mutations_fail(tmp_path: Path, mutation: str) -> None:
    path, value, message = MUTATIONS[mutation]
    spec = copy.deepcopy(PASSING)
    target: Any = spec["testCases"][0]
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    outcome = report_for(tmp_path, spec).outcomes[0]
    assert outcome.status == "failed"
    assert message in outcome.reason


def test_missing_and_extra_postings_are_named(tmp_path: Path) -> None:
    spec = copy.deepcopy(PASSING)
    case = spec["testCases"][0]
    case["expect.postings"] = case["expect.postings"][:1]
    assert "unexpected posting #2" in report_for(tmp_path, spec).outcomes[0].reason
    case["expect.postings"] = [
        *PASSING["testCases"][0]["expect.postings"],
        case["expect.postings"][0],
    ]
    assert "missing posting #3" in report_for(tmp_path, spec).outcomes[0].reason


def test_expected_error_that_does_not_happen_fails(tmp_path: Path) -> None:
    spec = copy.deepcopy(PASSING)
    spec["testCases"][1]["variables"] = {"amt": "EUR 1"}
    outcome = report_for(tmp_path, spec).outcomes[1]
    assert outcome.status == "failed" and "missing funds" in outcome.reason


def test_an_unexpected_error_fails_with_its_code(tmp_path: Path) -> None:
    spec = copy.deepcopy(PASSING)
    spec["testCases"][0]["metadata"] = {}
    del spec["metadata"]
    outcome = report_for(tmp_path, spec).outcomes[0]
    assert outcome.status == "failed" and "metadata_not_found" in outcome.reason


def test_negative_amount_expectation(tmp_path: Path) -> None:
    spec = {"testCases": [{"it": "-", "expect.error.negativeAmount": True}]}
    report = report_for(tmp_path, spec, "send [EUR -1] (source = @world destination = @a)")
    assert report.outcomes[0].status == "passed"


def test_a_script_that_does_not_compile_fails_every_case(tmp_path: Path) -> None:
    report = report_for(tmp_path, PASSING, "send [EUR 1] (")
    assert [o.status for o in report.outcomes] == ["failed", "failed"]
    assert "parse_error" in report.outcomes[0].reason


def test_unbuilt_feature_flags_skip_with_the_flag_named(tmp_path: Path) -> None:
    spec = {**copy.deepcopy(PASSING), "featureFlags": ["experimental-teleport"]}
    report = report_for(tmp_path, spec)
    assert [o.status for o in report.outcomes] == ["skipped", "skipped"]
    assert "experimental-teleport" in report.outcomes[0].reason
    assert report.summary() == "0 passed, 0 failed, 2 skipped"
    declared = report_for(tmp_path, PASSING, '#![feature("experimental-teleport")]\n' + SCRIPT)
    assert [o.status for o in declared.outcomes] == ["skipped", "skipped"]


def test_skip_and_focus(tmp_path: Path) -> None:
    spec = copy.deepcopy(PASSING)
    spec["testCases"][0]["skip"] = True
    assert [o.status for o in report_for(tmp_path, spec).outcomes] == ["skipped", "passed"]
    spec["testCases"][0]["skip"] = False
    spec["testCases"][1]["focus"] = True
    assert [o.status for o in report_for(tmp_path, spec).outcomes] == ["skipped", "passed"]


def test_schema_problems_fail_the_file_with_every_problem(tmp_path: Path) -> None:
    spec = copy.deepcopy(PASSING)
    spec["testCases"][0]["expect.postings"][0]["amount"] = 1.5
    spec["testCases"][0]["surprise"] = 1
    spec["balances"].append({"account": "alice", "asset": "EUR", "amount": 1})
    outcome = report_for(tmp_path, spec).outcomes[0]
    assert outcome.status == "failed"
    assert "must be an integer" in outcome.reason
    assert "unknown field 'surprise'" in outcome.reason
    assert "repeats the key" in outcome.reason


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ({}, "'testCases' is required"),
        ([], "must be an object"),
        ({"testCases": [{}]}, "testCases[0]: 'it' is required"),
        ({"testCases": [], "balances": [{**ROW, "account": "@a"}]}, "balances[0].account"),
        ({"testCases": [], "balances": [{**ROW, "asset": "eur"}]}, "balances[0].asset"),
        ({"testCases": [], "variables": {"Bad": "1"}}, "not a variable name"),
        ({"testCases": [], "variables": {"ok": 1}}, "variables.ok: must be a string"),
        ({"testCases": [], "metadata": {"a": {"k": 1}}}, "metadata.a.k: must be a string"),
        ({"testCases": [], "featureFlags": "x"}, "featureFlags"),
        ({"testCases": [{"it": "-", "expect.error.missingFunds": "yes"}]}, "must be true or false"),
        (
            {"testCases": [{"it": "-", "expect.postings": [{"source": "a"}]}]},
            "'amount' is required",
        ),
        (
            {"testCases": [{"it": "-", "balances": [{**ROW, "color": "red"}]}]},
            "balances[0].color",
        ),
    ],
)
def test_validate_spec_reports_schema_problems(document: Any, problem: str) -> None:
    problems = validate_spec(document)
    assert any(problem in p for p in problems), problems


def test_unreadable_spec_file_fails(tmp_path: Path) -> None:
    (tmp_path / "x.num").write_text("")
    (tmp_path / "x.num.specs.json").write_text("{nope")
    (outcome,) = run_specs(tmp_path).outcomes
    assert outcome.status == "failed" and "cannot read the spec file" in outcome.reason


def test_files_are_named_relative_to_the_directory_in_sorted_order(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub", "b", SCRIPT, PASSING)
    write(tmp_path, "a", SCRIPT, PASSING)
    report = run_specs(tmp_path)
    assert [o.file for o in report.outcomes] == ["a.num", "a.num", "sub/b.num", "sub/b.num"]
    assert report.to_json()["passed"] == 4
