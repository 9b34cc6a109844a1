"""The HTTP edge: the app factory, one router per domain (`api.routes`), admission before
validation (`guard`), idempotency, RFC 9457 problem documents declared in the OpenAPI document,
the fast lane and metrics."""

from clearline.api.app import create_app

__all__ = ["create_app"]
