"""Cursor pagination: `?limit=` (1–500) and the `next_cursor` of the previous page.

A cursor is the position after which the next page starts (a sequence number, a timestamp or
an offset, written as lowercase hex): opaque to clients, but any value the schema admits is a
valid position, so a generated cursor is answered with a (possibly empty) page, never an error.
`next_cursor` is null on the last page.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

T = TypeVar("T")
LIMIT_DEFAULT = 50
LIMIT_MAX = 500
CURSOR_PATTERN = r"^[0-9a-f]{1,16}$"
POSITION_MAX = (1 << 63) - 1
"""Positions are SQLite integers: a cursor past the largest one is past every item."""


class Page(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None


Limit = Annotated[int, Query(ge=1, le=LIMIT_MAX, description="page size")]
Cursor = Annotated[
    str | None,
    Query(pattern=CURSOR_PATTERN, description="the previous page's next_cursor"),
]


def encode_cursor(value: int) -> str:
    return f"{value:x}"


def decode_cursor(cursor: str | None) -> int:
    """The position a cursor stands for (0: the first page); the schema checked its form."""
    return min(int(cursor, 16), POSITION_MAX) if cursor else 0


def next_cursor(items: list[Any], limit: int, last_key: Callable[[Any], int]) -> str | None:
    return encode_cursor(last_key(items[-1])) if len(items) == limit and items else None
