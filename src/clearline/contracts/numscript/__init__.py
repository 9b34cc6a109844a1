"""Numscript: Formance's open language for money movements, compiled once and run many times.

Guarantees:
- `compile_program(text, feature_flags)` returns an immutable `Program` or raises a typed
  `NumscriptError` (stable `code`, `line`/`column`); `Program.run(variables, store)` returns an
  immutable `Result` (postings, transaction and account metadata) or raises, and never writes to
  the store.
- The language is upstream's (formancehq/numscript): its grammar, translated to Lark, its
  interpreter's semantics, and its spec-file format (`specs.run_specs`), which the conformance
  cases check.
- Amounts are arbitrary-precision integers in minor units; portions are exact fractions.

Stages, each its own module: `parser` (text -> `syntax` tree), `checker` (static errors),
`compiler` with `expressions`, `sources`, `destinations`, `scaling` (tree -> closures),
`runtime` (one run's balances, funds queue and postings), `program` (the public entry points and
`ProgramCache`); `allotment` (splitting), `values` (types, literal syntax, rendering), `memory`
(an in-memory store), `specs` (spec-file runner), `cli` (`clearline script test`).
"""

from __future__ import annotations

from clearline.contracts.numscript.errors import (
    AllotmentInSendAll,
    BadArity,
    BadVariableValue,
    DivisionByZero,
    DuplicateVariable,
    FeatureNotEnabled,
    InvalidAccountName,
    InvalidAllotment,
    InvalidColor,
    MetadataNotFound,
    MismatchedAssets,
    MissingFunds,
    MissingVariable,
    NegativeAmount,
    NegativeBalance,
    NumscriptError,
    NumscriptTypeError,
    ParseError,
    UnboundedSendAll,
    UnknownFeature,
    UnknownFunction,
    UnknownVariable,
)
from clearline.contracts.numscript.memory import MemoryStore
from clearline.contracts.numscript.program import (
    PROGRAM_CACHE_CAPACITY,
    Program,
    ProgramCache,
    Result,
    check_program,
    compile_program,
)
from clearline.contracts.numscript.runtime import Posting, Store
from clearline.contracts.numscript.scaling import ScaledStore
from clearline.contracts.numscript.values import KNOWN_FEATURES, Monetary

__all__ = [
    "KNOWN_FEATURES",
    "PROGRAM_CACHE_CAPACITY",
    "AllotmentInSendAll",
    "BadArity",
    "BadVariableValue",
    "DivisionByZero",
    "DuplicateVariable",
    "FeatureNotEnabled",
    "InvalidAccountName",
    "InvalidAllotment",
    "InvalidColor",
    "MemoryStore",
    "MetadataNotFound",
    "MismatchedAssets",
    "MissingFunds",
    "MissingVariable",
    "Monetary",
    "NegativeAmount",
    "NegativeBalance",
    "NumscriptError",
    "NumscriptTypeError",
    "ParseError",
    "Posting",
    "Program",
    "ProgramCache",
    "Result",
    "ScaledStore",
    "Store",
    "UnboundedSendAll",
    "UnknownFeature",
    "UnknownFunction",
    "UnknownVariable",
    "check_program",
    "compile_program",
]
