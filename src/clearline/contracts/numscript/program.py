"""Compile a Numscript program once, run it many times: `compile_program`, `Program.run`, and an
LRU `ProgramCache` of compiled programs.

Guarantees:
- `compile_program(text, feature_flags)` parses and checks the text once and raises the first
  error found (in source order; `error.all_errors` has every one); the `Program` it returns is
  immutable and safe to run from many threads at once.
- `Program.run(variables, store)` returns a `Result` or raises a `NumscriptError`; it never writes
  to the store (the caller commits the postings) and asks the store for each balance at most once.
  Variable values are strings in Numscript literal syntax; values for undeclared names are
  ignored.
- `Result` is immutable: postings in the order they were made (zero amounts never appear),
  transaction metadata, and the account metadata the program wrote (not what it read).
- `ProgramCache` holds at most `capacity` programs (default `PROGRAM_CACHE_CAPACITY`), keyed by
  the SHA-256 of the sorted feature flags and the text, evicting the least recently used.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from types import MappingProxyType

from clearline.contracts.numscript import checker
from clearline.contracts.numscript import syntax as ast
from clearline.contracts.numscript.compiler import Binding, Compiler, StatementPlan
from clearline.contracts.numscript.errors import NumscriptError, UnknownFeature
from clearline.contracts.numscript.parser import parse
from clearline.contracts.numscript.runtime import Posting, Run, Store
from clearline.contracts.numscript.values import KNOWN_FEATURES

PROGRAM_CACHE_CAPACITY = 4096
"""Default bound on the programs a `ProgramCache` keeps (each is a few kB)."""

_EMPTY: Mapping[str, str] = MappingProxyType({})
_EMPTY_ACCOUNTS: Mapping[str, Mapping[str, str]] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class Result:
    """What one run produced.

    - `postings`: the movements, in order; each amount is > 0 and in the asset's minor units.
    - `tx_meta`: transaction metadata set with `set_tx_meta`, values rendered as upstream does.
    - `account_meta`: account -> key -> value written with `set_account_meta`.
    """

    postings: tuple[Posting, ...]
    tx_meta: Mapping[str, str]
    account_meta: Mapping[str, Mapping[str, str]]


_SET_POSTINGS, _SET_TX_META, _SET_ACCOUNT_META = (
    getattr(Result, name).__set__ for name in ("postings", "tx_meta", "account_meta")
)
assert [f.name for f in fields(Result)] == ["postings", "tx_meta", "account_meta"]


def _result(
    postings: tuple[Posting, ...],
    tx_meta: Mapping[str, str],
    account_meta: Mapping[str, Mapping[str, str]],
) -> Result:
    """`Result(postings, tx_meta, account_meta)` for the run's hot path: the slots set directly
    (the frozen dataclass's `__init__` goes through `object.__setattr__` per field)."""
    result = object.__new__(Result)
    _SET_POSTINGS(result, postings)
    _SET_TX_META(result, tx_meta)
    _SET_ACCOUNT_META(result, account_meta)
    return result


@dataclass(frozen=True, slots=True)
class Program:
    """A parsed, checked and compiled Numscript program.

    - `text`: the source; `feature_flags`: the flags it was compiled with (given and declared).
    - `variables`: the declared variable names, in declaration order.
    """

    text: str
    feature_flags: frozenset[str]
    variables: tuple[str, ...]
    _bindings: tuple[Binding, ...]
    _statements: tuple[StatementPlan, ...]

    def run(self, variables: Mapping[str, str], store: Store) -> Result:
        """Run once against `store` with `variables` (name without `$` -> literal text)."""
        run = Run(store, len(self._bindings))
        for bind in self._bindings:
            bind(run, variables)
        for statement in self._statements:
            statement(run)
        account_meta = run.account_meta
        return _result(
            tuple(run.postings),
            MappingProxyType(run.tx_meta) if run.tx_meta else _EMPTY,
            MappingProxyType({a: MappingProxyType(m) for a, m in account_meta.items()})
            if account_meta
            else _EMPTY_ACCOUNTS,
        )


def _checked(
    text: str, feature_flags: Iterable[str]
) -> tuple[ast.Program | None, list[NumscriptError]]:
    flags = frozenset(feature_flags)
    unknown = sorted(flags - KNOWN_FEATURES)
    if unknown:
        message = (
            f"Unknown feature flag(s) {', '.join(unknown)}; known flags: "
            f"{', '.join(sorted(KNOWN_FEATURES))}"
        )
        return None, [UnknownFeature(message)]
    try:
        tree = parse(text)
    except NumscriptError as error:
        return None, [error]
    return tree, checker.check(tree, flags)


def check_program(text: str, feature_flags: Iterable[str] = frozenset()) -> list[NumscriptError]:
    """Every error that stops `text` from compiling (empty: it compiles)."""
    return _checked(text, feature_flags)[1]


def compile_program(text: str, feature_flags: Iterable[str] = frozenset()) -> Program:
    """Parse, check and compile `text`; raise its first error (all of them in `.all_errors`)."""
    tree, errors = _checked(text, feature_flags)
    if errors:
        first = errors[0]
        first.all_errors = tuple(errors)
        raise first
    assert tree is not None
    compiler = Compiler(tree, checker.variable_types(tree))
    return Program(
        text=text,
        feature_flags=checker.enabled_features(tree, feature_flags),
        variables=tuple(d.name for d in tree.variables),
        _bindings=tuple(compiler.binding(d) for d in tree.variables),
        _statements=tuple(compiler.statement(s) for s in tree.statements),
    )


def program_key(text: str, feature_flags: Iterable[str]) -> bytes:
    """The cache key: SHA-256 of the sorted flags and the text."""
    digest = hashlib.sha256()
    for flag in sorted(set(feature_flags)):
        digest.update(flag.encode() + b"\0")
    digest.update(b"\1" + text.encode())
    return digest.digest()


class ProgramCache:
    """An LRU of compiled programs, safe to share between threads."""

    def __init__(self, capacity: int = PROGRAM_CACHE_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("a ProgramCache holds at least one program")
        self.capacity = capacity
        self._programs: OrderedDict[bytes, Program] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._programs)

    def get(self, text: str, feature_flags: Iterable[str] = frozenset()) -> Program:
        """The compiled program for `text` (compiled now if not cached; errors are not cached)."""
        key = program_key(text, feature_flags)
        with self._lock:
            program = self._programs.get(key)
            if program is not None:
                self._programs.move_to_end(key)
                return program
        program = compile_program(text, feature_flags)
        with self._lock:
            self._programs[key] = program
            self._programs.move_to_end(key)
            while len(self._programs) > self.capacity:
                self._programs.popitem(last=False)
        return program
