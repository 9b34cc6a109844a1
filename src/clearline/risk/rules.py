"""Rules: a versioned YAML file of conditions over features in a small, safe expression language.

Guarantees:
- Expressions are tokenized and parsed here into a tiny tree (comparisons, `and`, `or`, `not`,
  parentheses, numbers, feature names); nothing is ever passed to `eval`. Unknown names, stray
  characters and malformed expressions are refused at load time with the rule's name.
- A rule is `review`, `decline` (hard: overrides the model) or a weighted score contribution
  grouped by typology. Allow and block lists (accounts, devices) are checked before any rule.
- The rule set's version is its declared `version` plus a hash of the file's content.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from clearline.core.errors import InvalidInput

Expression = Callable[[Mapping[str, float]], float]
TOKEN = re.compile(r"\s*(?:(\d+(?:\.\d+)?)|([A-Za-z_][A-Za-z_0-9]*)|(<=|>=|==|!=|<|>|\(|\)))")
COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
}
ACTIONS = ("score", "review", "decline")
EXPRESSION_LENGTH_MAX = 500


def tokenize(text: str) -> list[str]:
    """Numbers, names, comparison operators and parentheses; anything else is refused."""
    if len(text) > EXPRESSION_LENGTH_MAX:
        raise InvalidInput("expression is too long", code="rule_expression_too_long")
    tokens, position = [], 0
    while position < len(text.rstrip()):
        match = TOKEN.match(text, position)
        if match is None or match.end() == position:
            raise InvalidInput(
                f"unexpected character at {position}: {text[position:]!r}", code="rule_syntax"
            )
        tokens.append(match.group(match.lastindex or 0))
        position = match.end()
    return tokens


class _Parser:
    """Recursive descent: or → and → not → comparison → atom."""

    def __init__(self, tokens: list[str], names: frozenset[str]) -> None:
        self.tokens, self.names, self.position = tokens, names, 0

    def peek(self) -> str | None:
        return self.tokens[self.position] if self.position < len(self.tokens) else None

    def take(self) -> str:
        token = self.peek()
        if token is None:
            raise InvalidInput("expression ends too early", code="rule_syntax")
        self.position += 1
        return token

    def parse(self) -> Expression:
        expression = self.either()
        if self.peek() is not None:
            raise InvalidInput(f"unexpected {self.peek()!r}", code="rule_syntax")
        return expression

    def either(self) -> Expression:
        left = self.both()
        while self.peek() == "or":
            self.take()
            left = _or(left, self.both())
        return left

    def both(self) -> Expression:
        left = self.negation()
        while self.peek() == "and":
            self.take()
            left = _and(left, self.negation())
        return left

    def negation(self) -> Expression:
        if self.peek() == "not":
            self.take()
            inner = self.negation()
            return lambda row: float(not inner(row))
        return self.comparison()

    def comparison(self) -> Expression:
        left = self.atom()
        if self.peek() in COMPARISONS:
            compare, right = COMPARISONS[self.take()], self.atom()
            return lambda row: float(compare(left(row), right(row)))
        return left

    def atom(self) -> Expression:
        token = self.take()
        if token == "(":
            inner = self.either()
            if self.take() != ")":
                raise InvalidInput("missing ')'", code="rule_syntax")
            return inner
        if token[0].isdigit():
            number = float(token)
            return lambda row: number
        if token in self.names:
            return lambda row: _value(row, token)
        raise InvalidInput(f"unknown name {token!r}", code="rule_unknown_name")


def _value(row: Mapping[str, float], name: str) -> float:
    value = row[name]
    return 0.0 if math.isnan(value) else value


def _or(left: Expression, right: Expression) -> Expression:
    return lambda row: float(bool(left(row)) or bool(right(row)))


def _and(left: Expression, right: Expression) -> Expression:
    return lambda row: float(bool(left(row)) and bool(right(row)))


def compile_expression(text: str, names: frozenset[str]) -> Expression:
    """A function of a feature row; missing values (NaN) read as 0."""
    return _Parser(tokenize(text), names).parse()


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule. action: score (adds `weight`), review or decline (hard, overrides the model)."""

    name: str
    when: str
    action: str
    weight: float
    typology: str
    test: Expression


@dataclass(frozen=True, slots=True)
class RuleHit:
    """A rule that fired on one event."""

    name: str
    action: str
    weight: float
    typology: str


@dataclass(frozen=True, slots=True)
class RuleSet:
    """A loaded rule file: rules in file order, lists, and the version."""

    version: str
    rules: tuple[Rule, ...]
    allow_accounts: frozenset[int]
    block_accounts: frozenset[int]
    block_devices: frozenset[int]

    def evaluate(self, row: Mapping[str, float]) -> tuple[RuleHit, ...]:
        """Every rule whose condition holds on `row`."""
        return tuple(
            RuleHit(rule.name, rule.action, rule.weight, rule.typology)
            for rule in self.rules
            if rule.test(row)
        )

    def score(self, row: Mapping[str, float]) -> float:
        """Sum of weights of the fired rules (the rules-only baseline ranks by this)."""
        return sum(hit.weight for hit in self.evaluate(row))


def _rule(entry: Mapping[str, Any], names: frozenset[str]) -> Rule:
    name = str(entry.get("name", ""))
    action = str(entry.get("action", "score"))
    if not name or action not in ACTIONS:
        raise InvalidInput(f"rule {name!r}: needs a name and action in {ACTIONS}", code="rule_bad")
    try:
        test = compile_expression(str(entry["when"]), names)
    except (InvalidInput, KeyError) as error:
        raise InvalidInput(f"rule {name!r}: {error}", code="rule_bad") from error
    weight = float(entry.get("weight", 0.0))
    return Rule(name, str(entry["when"]), action, weight, str(entry.get("typology", "")), test)


def parse_rules(text: str, names: frozenset[str]) -> RuleSet:
    """A `RuleSet` from YAML text; every rule is checked against the feature names."""
    document = yaml.safe_load(text) or {}
    if not isinstance(document, dict) or "version" not in document:
        raise InvalidInput("a rule file is a mapping with a 'version'", code="rule_file_bad")
    lists = document.get("lists", {}) or {}
    digest = hashlib.sha256(text.encode()).hexdigest()[:12]
    return RuleSet(
        version=f"{document['version']}+{digest}",
        rules=tuple(_rule(entry, names) for entry in document.get("rules", []) or []),
        allow_accounts=frozenset(int(v) for v in lists.get("allow_accounts", []) or []),
        block_accounts=frozenset(int(v) for v in lists.get("block_accounts", []) or []),
        block_devices=frozenset(int(v) for v in lists.get("block_devices", []) or []),
    )


def load_rules(path: Path, names: frozenset[str]) -> RuleSet:
    """Read and parse a rule file."""
    return parse_rules(Path(path).read_text(encoding="utf-8"), names)


DEFAULT_RULES_PATH = Path(__file__).with_name("default_rules.yaml")
