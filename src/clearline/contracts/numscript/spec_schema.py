"""Validation of a `.num.specs.json` document against upstream's `specs.schema.json`, by hand.

Guarantees:
- `validate_spec(document)` returns every violation (empty: valid), each as "path: problem" with
  a JSON path such as `testCases[2].balances[0].asset`, never stopping at the first.
- It enforces what the draft-07 schema says (required fields, no unknown fields, types, the
  account/asset/color/variable-name patterns) plus what the schema only states in prose: the
  `(account, asset, color)` key of a balance list and the `(source, destination, asset, color)`
  key of a movement list are unique. Amounts must be JSON integers (Numscript amounts are
  integers in minor units; a float would lose precision).
- `expect.error.negativeAmount` (a boolean) is accepted in a test case: upstream's runner reads
  it although the schema omits it.

Why by hand: the `jsonschema` package is not a runtime dependency of Clearline (only
`jsonschema_rs`, through the dev-only schemathesis), and the schema is small and fixed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

ACCOUNT_PATTERN = re.compile(r"([a-zA-Z0-9_-]+(:[a-zA-Z0-9_-]+)*)")
ASSET_PATTERN = re.compile(r"([A-Z]+(/[0-9]+)?)")
COLOR_PATTERN = re.compile(r"[A-Z]*")
VARIABLE_PATTERN = re.compile(r"[a-z_]+")

_TOP_LEVEL = {"$schema", "balances", "variables", "metadata", "testCases", "featureFlags"}
_TEST_CASE_BOOLEANS = {"focus", "skip", "expect.error.missingFunds", "expect.error.negativeAmount"}

Problems = list[str]


def validate_spec(document: Any) -> Problems:
    """Every way `document` (parsed JSON) breaks the spec-file schema."""
    problems: Problems = []
    if not _object(document, "$", problems):
        return problems
    _fields(document, "$", _TOP_LEVEL, {"testCases"}, problems)
    if "$schema" in document and not isinstance(document["$schema"], str):
        problems.append("$.$schema: must be a string")
    _optional(document, "$", "balances", _balances, problems)
    _optional(document, "$", "variables", _variables, problems)
    _optional(document, "$", "metadata", _accounts_metadata, problems)
    if "featureFlags" in document:
        flags = document["featureFlags"]
        if not isinstance(flags, list) or not all(isinstance(f, str) for f in flags):
            problems.append("$.featureFlags: must be an array of strings")
    cases = document.get("testCases")
    if "testCases" in document and not isinstance(cases, list):
        problems.append("$.testCases: must be an array")
    elif isinstance(cases, list):
        for index, case in enumerate(cases):
            _test_case(case, f"testCases[{index}]", problems)
    return problems


def _test_case(case: Any, path: str, problems: Problems) -> None:
    if not _object(case, path, problems):
        return
    allowed = {
        "it",
        "balances",
        "variables",
        "metadata",
        "expect.postings",
        "expect.endBalances",
        "expect.endBalances.include",
        "expect.movements",
        "expect.txMetadata",
        "expect.metadata",
        *_TEST_CASE_BOOLEANS,
    }
    _fields(case, path, allowed, {"it"}, problems)
    if "it" in case and not isinstance(case["it"], str):
        problems.append(f"{path}.it: must be a string")
    for name in _TEST_CASE_BOOLEANS:
        if name in case and not isinstance(case[name], bool):
            problems.append(f"{path}.{name}: must be true or false")
    checks: dict[str, Callable[[Any, str, Problems], None]] = {
        "balances": _balances,
        "variables": _variables,
        "metadata": _accounts_metadata,
        "expect.postings": _postings,
        "expect.endBalances": _balances,
        "expect.endBalances.include": _balances,
        "expect.movements": _movements,
        "expect.txMetadata": _string_map,
        "expect.metadata": _accounts_metadata,
    }
    for name, check in checks.items():
        _optional(case, path, name, check, problems)


def _balances(rows: Any, path: str, problems: Problems) -> None:
    keys = ("account", "asset", "amount", "color")
    _rows(rows, path, keys, ("account", "asset", "amount"), ("account", "asset", "color"), problems)


def _movements(rows: Any, path: str, problems: Problems) -> None:
    keys = ("source", "destination", "asset", "amount", "color")
    unique = ("source", "destination", "asset", "color")
    _rows(rows, path, keys, keys[:4], unique, problems)


def _postings(rows: Any, path: str, problems: Problems) -> None:
    if not isinstance(rows, list):
        problems.append(f"{path}: must be an array")
        return
    for index, row in enumerate(rows):
        where = f"{path}[{index}]"
        if _object(row, where, problems):
            _fields(row, where, None, {"source", "destination", "asset", "amount"}, problems)
            for name in ("source", "destination"):
                if name in row and not isinstance(row[name], str):
                    problems.append(f"{where}.{name}: must be a string")
            _row_values(row, where, problems)


def _rows(
    rows: Any,
    path: str,
    allowed: tuple[str, ...],
    required: tuple[str, ...],
    unique: tuple[str, ...],
    problems: Problems,
) -> None:
    if not isinstance(rows, list):
        problems.append(f"{path}: must be an array")
        return
    seen: set[tuple[object, ...]] = set()
    for index, row in enumerate(rows):
        where = f"{path}[{index}]"
        if not _object(row, where, problems):
            continue
        _fields(row, where, set(allowed), set(required), problems)
        for name in ("account", "source", "destination"):
            if name in row and not _matches(ACCOUNT_PATTERN, row[name]):
                problems.append(f"{where}.{name}: must be an account name such as users:001")
        _row_values(row, where, problems)
        key = tuple(row.get(name, "") if name == "color" else row.get(name) for name in unique)
        if key in seen:
            problems.append(f"{where}: repeats the key {key} of an earlier entry")
        seen.add(key)


def _row_values(row: Mapping[str, Any], where: str, problems: Problems) -> None:
    if "asset" in row and not _matches(ASSET_PATTERN, row["asset"]):
        problems.append(f"{where}.asset: must be an asset such as EUR/2")
    if "color" in row and not _matches(COLOR_PATTERN, row["color"]):
        problems.append(f"{where}.color: must be upper-case letters (or empty)")
    amount = row.get("amount")
    if "amount" in row and (not isinstance(amount, int) or isinstance(amount, bool)):
        problems.append(f"{where}.amount: must be an integer (minor units), not {amount!r}")


def _variables(values: Any, path: str, problems: Problems) -> None:
    if not _object(values, path, problems):
        return
    for name, value in values.items():
        if not VARIABLE_PATTERN.fullmatch(name):
            problems.append(f"{path}: {name!r} is not a variable name ([a-z_]+, without $)")
        if not isinstance(value, str):
            problems.append(f"{path}.{name}: must be a string in Numscript literal syntax")


def _accounts_metadata(values: Any, path: str, problems: Problems) -> None:
    if not _object(values, path, problems):
        return
    for account, metadata in values.items():
        if not ACCOUNT_PATTERN.fullmatch(account):
            problems.append(f"{path}: {account!r} is not an account name")
        _string_map(metadata, f"{path}.{account}", problems)


def _string_map(values: Any, path: str, problems: Problems) -> None:
    if not _object(values, path, problems):
        return
    for key, value in values.items():
        if not isinstance(value, str):
            problems.append(f"{path}.{key}: must be a string")


def _object(value: Any, path: str, problems: Problems) -> bool:
    if isinstance(value, dict):
        return True
    problems.append(f"{path}: must be an object")
    return False


def _fields(
    value: Mapping[str, Any],
    path: str,
    allowed: set[str] | None,
    required: set[str],
    problems: Problems,
) -> None:
    problems.extend(f"{path}: {name!r} is required" for name in sorted(required - set(value)))
    if allowed is not None:
        problems.extend(f"{path}: unknown field {name!r}" for name in sorted(set(value) - allowed))


def _optional(
    value: Mapping[str, Any],
    path: str,
    name: str,
    check: Callable[[Any, str, Problems], None],
    problems: Problems,
) -> None:
    if name in value:
        check(value[name], f"{path}.{name}" if path != "$" else name, problems)


def _matches(pattern: re.Pattern[str], value: Any) -> bool:
    return isinstance(value, str) and pattern.fullmatch(value) is not None
