"""The Numscript syntax tree: immutable records, one per construct of the grammar.

Guarantees:
- Every node is a frozen, slotted dataclass and carries the 1-based `line` and `column` where its
  text starts, so each later stage can point at the source.
- Literals are already decoded: number literals are `int` (underscores removed), percentage
  literals are exact `Fraction`s, string literals have their quotes removed and `\\"` unescaped.
- Nodes only describe the text; types, scopes and feature flags are the checker's business.

The node names follow the ANTLR labels of upstream's grammar (`srcAccountBoundedOverdraft` is
`SourceOverdraft` with a bound, `destInorder` is `DestinationInorder`, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

# ---- expressions ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Variable:
    """`$name` (without the `$`)."""

    name: str
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class AssetLiteral:
    """`USD/2`: the asset code with its optional `/scale`."""

    value: str
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class StringLiteral:
    """`"text"`: `value` is the text between the quotes."""

    value: str
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class NumberLiteral:
    """`1_000`: `value` is the integer."""

    value: int
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class PercentageLiteral:
    """`12.5%`: `value` is the portion (1/8)."""

    value: Fraction
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class AccountLiteral:
    """`@users:$id:main`: `parts` are the `:`-separated segments, each text or a variable."""

    parts: tuple[str | Variable, ...]
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class MonetaryLiteral:
    """`[asset amount]`, both parts expressions."""

    asset: Expression
    amount: Expression
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Negation:
    """`-operand` (the prefix minus)."""

    operand: Expression
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class BinaryOperation:
    """`left op right` with `op` one of `+`, `-`, `/`."""

    operator: str
    left: Expression
    right: Expression
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """`name(arguments...)`."""

    name: str
    arguments: tuple[Expression, ...]
    line: int
    column: int


Expression = (
    Variable
    | AssetLiteral
    | StringLiteral
    | NumberLiteral
    | PercentageLiteral
    | AccountLiteral
    | MonetaryLiteral
    | Negation
    | BinaryOperation
    | FunctionCall
)

# ---- allotments ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Remaining:
    """The `remaining` portion of an allotment (what the other clauses leave)."""

    line: int
    column: int


Portion = Expression | Remaining

# ---- sources ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SourceAccount:
    """`@account` or `@account \\ color`: pull up to the account's balance."""

    address: Expression
    color: Expression | None
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class SourceOverdraft:
    """`@account allowing overdraft up to bound` (`bound` None: `allowing unbounded overdraft`)."""

    address: Expression
    color: Expression | None
    bound: Expression | None
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class SourceScaling:
    """`@account with scaling through @swap` (experimental-asset-scaling)."""

    address: Expression
    swap: Expression
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class SourceInorder:
    """`{ source source ... }`: pull from each in turn until the amount is reached."""

    sources: tuple[Source, ...]
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class SourceOneof:
    """`oneof { source ... }`: the first source that can provide everything (else the last)."""

    sources: tuple[Source, ...]
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class SourceCapped:
    """`max cap from source`."""

    cap: Expression
    source: Source
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class SourceAllotmentClause:
    """`portion from source` inside a source allotment."""

    portion: Portion
    source: Source
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class SourceAllotment:
    """`{ 1/3 from @a  remaining from @b }`: each source provides exactly its share."""

    clauses: tuple[SourceAllotmentClause, ...]
    line: int
    column: int


Source = (
    SourceAccount
    | SourceOverdraft
    | SourceScaling
    | SourceInorder
    | SourceOneof
    | SourceCapped
    | SourceAllotment
)

# ---- destinations ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Kept:
    """`kept`: the share stays with the sources."""

    line: int
    column: int


@dataclass(frozen=True, slots=True)
class DestinationAccount:
    """`@account`."""

    address: Expression
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class DestinationAllotmentClause:
    """`portion to destination` or `portion kept`."""

    portion: Portion
    target: Destination | Kept
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class DestinationAllotment:
    """`{ 80% to @a  remaining kept }`."""

    clauses: tuple[DestinationAllotmentClause, ...]
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class DestinationCappedClause:
    """`max cap to destination` or `max cap kept`."""

    cap: Expression
    target: Destination | Kept
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class DestinationInorder:
    """`{ max cap to @a ... remaining to @b }`: fill each clause in turn."""

    clauses: tuple[DestinationCappedClause, ...]
    remaining: Destination | Kept
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class DestinationOneof:
    """`oneof { max cap to @a ... remaining kept }`: the first clause whose cap fits it all."""

    clauses: tuple[DestinationCappedClause, ...]
    remaining: Destination | Kept
    line: int
    column: int


Destination = DestinationAccount | DestinationAllotment | DestinationInorder | DestinationOneof

# ---- statements and program ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendAll:
    """`[asset *]`: everything the source can provide."""

    asset: Expression
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Send:
    """`send amount ( source = ... destination = ... )`."""

    amount: Expression | SendAll
    source: Source
    destination: Destination
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Save:
    """`save amount from @account`: that much of the account is not available to later sends."""

    amount: Expression | SendAll
    account: Expression
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class CallStatement:
    """A function called as a statement (`set_tx_meta(...)`, `set_account_meta(...)`)."""

    call: FunctionCall
    line: int
    column: int


Statement = Send | Save | CallStatement


@dataclass(frozen=True, slots=True)
class VariableDeclaration:
    """`type $name` or `type $name = origin` in the `vars` block."""

    type_name: str
    name: str
    origin: Expression | None
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class FeatureDeclaration:
    """One flag of `#![feature("...")]`."""

    flag: str
    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Program:
    """A whole script: its declared features, its variables and its statements."""

    features: tuple[FeatureDeclaration, ...]
    variables: tuple[VariableDeclaration, ...]
    statements: tuple[Statement, ...]
