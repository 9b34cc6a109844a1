"""Every error a Numscript program can raise, from parsing to the end of a run.

Guarantees:
- Each error is a `NumscriptError` (a `ClearlineError`) with a stable snake_case `code`, and
  `line`/`column` (1-based) wherever the source position is known (`None` otherwise, for example
  a variable value that was never given).
- Messages say what went wrong and what to do next.
- Errors carry their facts as attributes (`MissingFunds.needed`, `UnknownVariable.name`, ...), so
  callers never parse messages.
- Amounts are arbitrary-precision `int`s, as everywhere in Numscript.

The codes follow the rule names of upstream's interpreter errors (formancehq/numscript
`internal/interpreter/interpreter_error.go`), in snake_case.
"""

from __future__ import annotations

from clearline.core.errors import ClearlineError


class NumscriptError(ClearlineError):
    """Base class of every Numscript error. `line`/`column` are 1-based source positions;
    `all_errors` is every error the checker found when this one stopped a compile."""

    code = "numscript_error"

    def __init__(self, message: str, *, line: int | None = None, column: int | None = None):
        where = f" (line {line}, column {column})" if line is not None else ""
        super().__init__(message + where)
        self.line = line
        self.column = column
        self.all_errors: tuple[NumscriptError, ...] = (self,)


class ParseError(NumscriptError):
    """The text is not Numscript: `expected` lists the tokens that would have been accepted."""

    code = "parse_error"

    def __init__(
        self, message: str, *, line: int, column: int, expected: tuple[str, ...] = ()
    ) -> None:
        super().__init__(message, line=line, column=column)
        self.expected = expected


class NumscriptTypeError(NumscriptError):
    """An expression has the wrong type for where it is used (or a function the wrong
    argument types)."""

    code = "type_error"


class BadArity(NumscriptError):
    """A function was called with the wrong number of arguments."""

    code = "bad_arity"


class UnknownVariable(NumscriptError):
    """A `$name` that the `vars` block does not declare (or declares later)."""

    code = "unknown_variable"

    def __init__(self, message: str, *, name: str, line: int | None, column: int | None):
        super().__init__(message, line=line, column=column)
        self.name = name


class DuplicateVariable(NumscriptError):
    """The `vars` block declares the same name twice."""

    code = "duplicate_variable"


class UnknownFunction(NumscriptError):
    """A call to a function Numscript does not have (or a statement function used as a value)."""

    code = "unknown_function"


class FeatureNotEnabled(NumscriptError):
    """An experimental construct used without its feature flag."""

    code = "feature_not_enabled"

    def __init__(self, message: str, *, feature: str, line: int | None, column: int | None):
        super().__init__(message, line=line, column=column)
        self.feature = feature


class UnknownFeature(NumscriptError):
    """A feature flag this implementation does not know."""

    code = "unknown_feature"


class InvalidAllotment(NumscriptError):
    """Allotment portions that do not sum to 1 (or exceed it with `remaining`), a portion outside
    [0, 1], or more than one `remaining`."""

    code = "invalid_allotment"


class MissingVariable(NumscriptError):
    """A declared variable without an origin was given no value."""

    code = "missing_variable"

    def __init__(self, message: str, *, name: str, line: int | None, column: int | None):
        super().__init__(message, line=line, column=column)
        self.name = name


class BadVariableValue(NumscriptError):
    """A variable's value (given, or read from metadata) is not a literal of its type."""

    code = "bad_variable_value"

    def __init__(
        self, message: str, *, name: str, value: str, line: int | None, column: int | None
    ) -> None:
        super().__init__(message, line=line, column=column)
        self.name = name
        self.value = value


class MissingFunds(NumscriptError):
    """The sources cannot provide the amount to send. `account` is set when the source is one
    account; `needed` and `available` are in the asset's minor units."""

    code = "missing_funds"

    def __init__(
        self,
        message: str,
        *,
        account: str | None,
        asset: str,
        needed: int,
        available: int,
        line: int | None,
        column: int | None,
    ) -> None:
        super().__init__(message, line=line, column=column)
        self.account = account
        self.asset = asset
        self.needed = needed
        self.available = available


class NegativeAmount(NumscriptError):
    """A send or a save of a negative amount."""

    code = "negative_amount"

    def __init__(self, message: str, *, amount: int, line: int | None, column: int | None):
        super().__init__(message, line=line, column=column)
        self.amount = amount


class DivisionByZero(NumscriptError):
    """`n / 0`."""

    code = "division_by_zero"


class MismatchedAssets(NumscriptError):
    """Two monetaries of different assets were combined, or a cap/overdraft bound is not in the
    asset being sent."""

    code = "mismatched_assets"


class NegativeBalance(NumscriptError):
    """`balance(@account, ASSET)` of an account whose balance is negative."""

    code = "negative_balance"


class MetadataNotFound(NumscriptError):
    """`meta(@account, "key")` of a key the account does not have."""

    code = "metadata_not_found"


class UnboundedSendAll(NumscriptError):
    """`send [ASSET *]` from `@world` or an unbounded-overdraft source: there is no "all"."""

    code = "invalid_unbounded_in_send_all"


class AllotmentInSendAll(NumscriptError):
    """`send [ASSET *]` from an allotment source: portions of an unknown total."""

    code = "invalid_allotment_in_send_all"


class InvalidAccountName(NumscriptError):
    """An interpolated account literal produced a name that is not an account name."""

    code = "invalid_account_name"


class InvalidColor(NumscriptError):
    """An asset color that is not upper-case letters A-Z (the empty string means no color)."""

    code = "invalid_color"
