"""What routes take besides the caller: the platform, the request's idempotency key, ids.

Ids in paths and bodies are 32 lowercase hex digits; a reserved id (all zeros, all `f`) can
name nothing, so it is answered like any id that names nothing: 404.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from clearline.core.errors import NotFound
from clearline.core.ids import ID_MAX
from clearline.platform import Platform

IDEMPOTENCY_KEY_PATTERN = r"^[!-~]([ -~]{0,253}[!-~])?$"


def platform_of(request: Request) -> Platform:
    platform: Platform = request.app.state.platform
    return platform


PlatformDep = Annotated[Platform, Depends(platform_of)]
IdemKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="makes a retried POST the same request (1–255 printable ASCII characters)",
        json_schema_extra={"pattern": IDEMPOTENCY_KEY_PATTERN},
    ),
]


def resource_id(text: str, what: str) -> int:
    """The id of an existing `what` named in a path or body (the schema checked its form)."""
    value = int(text, 16)
    if value == 0 or value == ID_MAX:
        raise NotFound(f"no {what.replace('_', ' ')} {text}", code=f"{what}_not_found")
    return value
