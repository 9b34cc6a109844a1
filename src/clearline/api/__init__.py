"""The HTTP edge: the FastAPI app, API keys and roles, RFC 9457 problem documents, metrics."""

from clearline.api.app import create_app

__all__ = ["create_app"]
