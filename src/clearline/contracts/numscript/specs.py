"""Runs Numscript spec files (`X.num` beside `X.num.specs.json`, upstream's `numscript test`
format) and reports every test case as passed, failed or skipped.

Guarantees:
- `run_specs(directory)` finds every `*.num.specs.json` below `directory` (sorted by path), runs
  each test case against a `MemoryStore` and returns a `SpecReport` with one `CaseOutcome` per
  case; it never stops at a failure.
- Inputs merge as upstream's runner merges them: the case's balances over the file's by
  `(account, asset, color)`, variables by name, metadata by account and key, the case winning.
- Checked when present: `expect.postings` (exactly, in order), `expect.error.missingFunds`,
  `expect.error.negativeAmount`, `expect.txMetadata`, `expect.metadata` (what the script wrote),
  `expect.endBalances` (starting balances plus postings, whole; an absent row is 0),
  `expect.endBalances.include` (a subset), `expect.movements` (postings summed by source,
  destination, asset, color). A failure's reason says what differed.
- A spec file that breaks the schema, or a script that does not compile, fails each of its cases
  with the reason; a case needing a feature flag this implementation does not build is skipped
  with the flag named; `skip: true` skips, and `focus: true` skips the file's other cases.
- Amounts stay arbitrary-precision integers from the JSON to the comparison.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from clearline.contracts.numscript.errors import (
    MissingFunds,
    NegativeAmount,
    NumscriptError,
    UnknownFeature,
)
from clearline.contracts.numscript.memory import MemoryStore
from clearline.contracts.numscript.program import Program, Result, compile_program
from clearline.contracts.numscript.spec_schema import validate_spec
from clearline.contracts.numscript.values import KNOWN_FEATURES

SPEC_SUFFIX = ".num.specs.json"
SCRIPT_SUFFIX = ".num"
PROBLEMS_SHOWN = 5
"""At most this many schema problems are quoted in one failure reason."""

Status = Literal["passed", "failed", "skipped"]
BalanceKey = tuple[str, str, str]


@dataclass(frozen=True, slots=True)
class CaseOutcome:
    """One test case's result: `file` is the script's path relative to the run's directory,
    `case` its `it` text, `index` its place in the file, `reason` why it failed or was skipped
    (empty when it passed)."""

    file: str
    case: str
    index: int
    status: Status
    reason: str = ""


@dataclass(frozen=True, slots=True)
class SpecReport:
    """Every case's outcome, in file then case order."""

    outcomes: tuple[CaseOutcome, ...]

    def count(self, status: Status) -> int:
        return sum(1 for outcome in self.outcomes if outcome.status == status)

    @property
    def passed(self) -> int:
        return self.count("passed")

    @property
    def failed(self) -> int:
        return self.count("failed")

    @property
    def skipped(self) -> int:
        return self.count("skipped")

    def summary(self) -> str:
        """`N passed, M failed`, plus `, K skipped` when any case was skipped."""
        line = f"{self.passed} passed, {self.failed} failed"
        return line + (f", {self.skipped} skipped" if self.skipped else "")

    def to_json(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "failed": self.failed,
            "skipped": self.skipped,
            "cases": [
                {
                    "file": o.file,
                    "case": o.case,
                    "index": o.index,
                    "status": o.status,
                    "reason": o.reason,
                }
                for o in self.outcomes
            ],
        }


def run_specs(directory: Path) -> SpecReport:
    """Run every spec file below `directory`."""
    outcomes: list[CaseOutcome] = []
    for spec_path in sorted(directory.rglob(f"*{SPEC_SUFFIX}")):
        outcomes.extend(run_spec_file(spec_path, directory))
    return SpecReport(tuple(outcomes))


def run_spec_file(spec_path: Path, root: Path) -> list[CaseOutcome]:
    """The outcomes of one spec file's cases (`root`: what `file` names are relative to)."""
    script_path = spec_path.with_name(spec_path.name[: -len(SPEC_SUFFIX)] + SCRIPT_SUFFIX)
    name = str(script_path.relative_to(root))
    try:
        document = json.loads(spec_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        return [
            CaseOutcome(name, "(spec file)", 0, "failed", f"cannot read the spec file: {error}")
        ]
    problems = validate_spec(document)
    cases = document.get("testCases") if isinstance(document, dict) else None
    cases = cases if isinstance(cases, list) else []
    labels = [str(case.get("it", "-")) if isinstance(case, dict) else "-" for case in cases]
    if problems:
        shown = "; ".join(problems[:PROBLEMS_SHOWN])
        more = (
            f" (and {len(problems) - PROBLEMS_SHOWN} more)"
            if len(problems) > PROBLEMS_SHOWN
            else ""
        )
        reason = f"the spec file breaks specs.schema.json: {shown}{more}"
        return _all(name, labels or ["(spec file)"], "failed", reason)
    flags = list(document.get("featureFlags", []))
    unbuilt = sorted(set(flags) - KNOWN_FEATURES)
    if unbuilt:
        return _all(
            name, labels, "skipped", f"needs feature flag(s) not built: {', '.join(unbuilt)}"
        )
    try:
        program = compile_program(script_path.read_text(encoding="utf-8"), flags)
    except OSError as error:
        return _all(name, labels, "failed", f"cannot read the script: {error}")
    except UnknownFeature as error:
        return _all(name, labels, "skipped", f"needs a feature flag not built: {error.message}")
    except NumscriptError as error:
        return _all(name, labels, "failed", f"the script does not compile: {error.code}: {error}")
    focused = any(case.get("focus") is True for case in cases)
    outcomes = []
    for index, case in enumerate(cases):
        label = labels[index]
        if case.get("skip") is True:
            outcomes.append(
                CaseOutcome(name, label, index, "skipped", "skip: true in the spec file")
            )
        elif focused and case.get("focus") is not True:
            outcomes.append(
                CaseOutcome(name, label, index, "skipped", "another case has focus: true")
            )
        else:
            reason = run_case(program, document, case)
            status: Status = "failed" if reason else "passed"
            outcomes.append(CaseOutcome(name, label, index, status, reason))
    return outcomes


def _all(file: str, labels: Sequence[str], status: Status, reason: str) -> list[CaseOutcome]:
    return [CaseOutcome(file, label, index, status, reason) for index, label in enumerate(labels)]


def _merged_balances(*lists: Sequence[Mapping[str, Any]]) -> dict[BalanceKey, int]:
    merged: dict[BalanceKey, int] = {}
    for rows in lists:
        for row in rows:
            merged[(row["account"], row["asset"], row.get("color", ""))] = row["amount"]
    return merged


def _merged_metadata(*maps: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    merged: dict[str, dict[str, str]] = {}
    for metadata in maps:
        for account, values in metadata.items():
            merged.setdefault(account, {}).update(values)
    return merged


def run_case(program: Program, document: Mapping[str, Any], case: Mapping[str, Any]) -> str:
    """Run one case; the empty string when every expectation holds, else what differed."""
    balances = _merged_balances(document.get("balances", []), case.get("balances", []))
    metadata = _merged_metadata(document.get("metadata", {}), case.get("metadata", {}))
    variables = {**document.get("variables", {}), **case.get("variables", {})}
    try:
        result = program.run(variables, MemoryStore(balances, metadata))
    except NumscriptError as error:
        return _expected_error(case, error)
    for flag, kind in (
        ("expect.error.missingFunds", "missing funds"),
        ("expect.error.negativeAmount", "a negative amount"),
    ):
        if case.get(flag) is True:
            return f"expected the run to fail with {kind}, but it succeeded"
    problems = [check(case, result, balances) for check in _CHECKS]
    return "; ".join(problem for problem in problems if problem)


def _expected_error(case: Mapping[str, Any], error: NumscriptError) -> str:
    if case.get("expect.error.missingFunds") is True and isinstance(error, MissingFunds):
        return ""
    if case.get("expect.error.negativeAmount") is True and isinstance(error, NegativeAmount):
        return ""
    return f"the run raised {error.code}: {error}"


def _posting_rows(rows: Sequence[Mapping[str, Any]]) -> list[tuple[str, str, int, str, str]]:
    return [
        (row["source"], row["destination"], row["amount"], row["asset"], row.get("color", ""))
        for row in rows
    ]


def _show(row: tuple[str, str, int, str, str]) -> str:
    source, destination, amount, asset, color = row
    colored = f" \\ {color}" if color else ""
    return f"@{source} -> @{destination} [{asset} {amount}]{colored}"


def _check_postings(case: Mapping[str, Any], result: Result, _: dict[BalanceKey, int]) -> str:
    if "expect.postings" not in case:
        return ""
    expected = _posting_rows(case["expect.postings"])
    actual = [(p.source, p.destination, p.amount, p.asset, p.color) for p in result.postings]
    if expected == actual:
        return ""
    for index, (want, got) in enumerate(zip(expected, actual, strict=False)):
        if want != got:
            return f"posting #{index + 1} differs: expected {_show(want)}, got {_show(got)}"
    if len(expected) > len(actual):
        return f"missing posting #{len(actual) + 1}: expected {_show(expected[len(actual)])}"
    extra = actual[len(expected)]
    return f"unexpected posting #{len(expected) + 1}: {_show(extra)}"


def _mapping_diff(what: str, expected: Mapping[str, Any], actual: Mapping[str, Any]) -> str:
    if dict(expected) == dict(actual):
        return ""
    parts = []
    for key in sorted(set(expected) | set(actual)):
        if key not in actual:
            parts.append(f"{key!r} missing (expected {expected[key]!r})")
        elif key not in expected:
            parts.append(f"{key!r} unexpected ({actual[key]!r})")
        elif expected[key] != actual[key]:
            parts.append(f"{key!r} is {actual[key]!r}, expected {expected[key]!r}")
    return f"{what} differs: " + ", ".join(parts)


def _check_tx_meta(case: Mapping[str, Any], result: Result, _: dict[BalanceKey, int]) -> str:
    if "expect.txMetadata" not in case:
        return ""
    return _mapping_diff("txMetadata", case["expect.txMetadata"], result.tx_meta)


def _check_account_meta(case: Mapping[str, Any], result: Result, _: dict[BalanceKey, int]) -> str:
    if "expect.metadata" not in case:
        return ""
    actual = {account: dict(values) for account, values in result.account_meta.items()}
    return _mapping_diff("metadata", case["expect.metadata"], actual)


def _end_balances(result: Result, start: dict[BalanceKey, int]) -> dict[BalanceKey, int]:
    end = dict(start)
    for posting in result.postings:
        source = (posting.source, posting.asset, posting.color)
        destination = (posting.destination, posting.asset, posting.color)
        end[source] = end.get(source, 0) - posting.amount
        end[destination] = end.get(destination, 0) + posting.amount
    return end


def _key_text(key: tuple[str, ...]) -> str:
    return "/".join(part for part in key if part) or "-"


def _totals_diff(what: str, expected: dict[Any, int], actual: dict[Any, int], whole: bool) -> str:
    keys = set(expected) | set(actual) if whole else set(expected)
    wrong = [
        f"{_key_text(key)} is {actual.get(key, 0)}, expected {expected.get(key, 0)}"
        for key in sorted(keys)
        if expected.get(key, 0) != actual.get(key, 0)
    ]
    return f"{what} differ: " + ", ".join(wrong) if wrong else ""


def _check_end_balances(
    case: Mapping[str, Any], result: Result, start: dict[BalanceKey, int]
) -> str:
    end = _end_balances(result, start)
    problems = []
    for field, whole in (("expect.endBalances", True), ("expect.endBalances.include", False)):
        if field in case:
            expected = _merged_balances(case[field])
            problems.append(_totals_diff(field[len("expect.") :], expected, end, whole))
    return "; ".join(p for p in problems if p)


def _check_movements(case: Mapping[str, Any], result: Result, _: dict[BalanceKey, int]) -> str:
    if "expect.movements" not in case:
        return ""
    expected = {
        (row["source"], row["destination"], row["asset"], row.get("color", "")): row["amount"]
        for row in case["expect.movements"]
    }
    actual: dict[tuple[str, str, str, str], int] = {}
    for posting in result.postings:
        key = (posting.source, posting.destination, posting.asset, posting.color)
        actual[key] = actual.get(key, 0) + posting.amount
    return _totals_diff("movements", expected, actual, whole=True)


_CHECKS: tuple[Callable[[Mapping[str, Any], Result, dict[BalanceKey, int]], str], ...] = (
    _check_postings,
    _check_tx_meta,
    _check_account_meta,
    _check_end_balances,
    _check_movements,
)
