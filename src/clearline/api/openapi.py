"""The OpenAPI document, finished: every error an operation can answer, typed.

FastAPI documents successes; `finish` makes the document say everything else, so a generated
client can type its errors:
- every 4xx response of every operation carries the RFC 9457 problem schema under
  `application/problem+json` (FastAPI would put its own validation schema under
  `application/json`, which the API never sends);
- 401 declares `WWW-Authenticate`, 429 declares `Retry-After`, and successful POSTs declare the
  optional `Idempotent-Replayed`;
- authenticated operations name the bearer scheme (`security`), public ones an empty one, and
  each lists its roles (`x-roles`).
"""

from __future__ import annotations

from typing import Any

from clearline.api.guard import PUBLIC_KEY, RATE_EXEMPT_KEY
from clearline.api.problems import MEDIA_TYPE, Problem

SCHEME = "bearer"
PROBLEM_REF = "#/components/schemas/Problem"
UNUSED_SCHEMAS = ("HTTPValidationError", "ValidationError")
HEADERS: dict[str, dict[str, Any]] = {
    "401": {
        "WWW-Authenticate": {
            "description": "Bearer",
            "required": True,
            "schema": {"type": "string"},
        }
    },
    "429": {
        "Retry-After": {
            "description": "seconds until the key's bucket has a token again",
            "required": True,
            "schema": {"type": "string", "pattern": "^[0-9]+$"},
        }
    },
}
REPLAYED = {
    "Idempotent-Replayed": {
        "description": "true when this is the stored response of an earlier request with the "
        "same Idempotency-Key",
        "schema": {"type": "string", "enum": ["true"]},
    }
}


def finish(document: dict[str, Any]) -> dict[str, Any]:
    """`document` (FastAPI's) with problems, headers and security declared."""
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    problem_schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem_schema.pop("$defs", {}))
    schemas["Problem"] = problem_schema
    for name in UNUSED_SCHEMAS:
        schemas.pop(name, None)
    components["securitySchemes"] = {
        SCHEME: {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "clk_<key id>_<secret> (clearline keys create --role ROLE)",
        }
    }
    for methods in document.get("paths", {}).values():
        for method, operation in methods.items():
            _operation(method, operation)
    return document


def _operation(method: str, operation: dict[str, Any]) -> None:
    public = operation.pop(PUBLIC_KEY, False)
    operation.pop(RATE_EXEMPT_KEY, None)
    operation["security"] = [] if public else [{SCHEME: []}]
    for status, response in operation.get("responses", {}).items():
        if status.startswith("4") or status.startswith("5"):
            response["content"] = {MEDIA_TYPE: {"schema": {"$ref": PROBLEM_REF}}}
            if status in HEADERS:
                response["headers"] = HEADERS[status]
        elif status.startswith("2") and method == "post":
            response.setdefault("headers", {}).update(REPLAYED)
