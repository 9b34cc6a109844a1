"""Who may call the platform: API keys and their roles, the principal behind a request, the
role check, and rate limits per key."""

from clearline.access.keys import (
    ROLES,
    SCHEMA,
    Forbidden,
    KeyInfo,
    KeyStore,
    Principal,
    Unauthenticated,
    require,
)
from clearline.access.ratelimit import DEFAULT_LIMITS, RateLimit, RateLimited, RateLimiter

__all__ = [
    "DEFAULT_LIMITS",
    "ROLES",
    "SCHEMA",
    "Forbidden",
    "KeyInfo",
    "KeyStore",
    "Principal",
    "RateLimit",
    "RateLimited",
    "RateLimiter",
    "Unauthenticated",
    "require",
]
