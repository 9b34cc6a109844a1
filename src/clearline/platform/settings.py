"""A platform's settings: `platform.toml` in the data directory, optional, strict.

```toml
review_timeout_s = 86400          # how long a payment in review holds its funds
authorization_timeout_s = 604800  # how long a card authorization holds them

[rate_limits.customer]            # per API key of the role; omit a role to keep its default
requests_per_s = 20
burst = 40

[rate_limits.auditor]
unlimited = true
```

Guarantees:
- Every setting has a default (`Settings()`); the file only changes what it names. Unknown keys,
  wrong types and out-of-range values are refused with `platform_config_invalid`, naming the
  key, before anything opens.
- The file is read once, when the platform opens (`clearline serve` reads it at start).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clearline.access import DEFAULT_LIMITS, ROLES, RateLimit
from clearline.core.errors import ClearlineError

SETTINGS_FILE = "platform.toml"
TIMEOUT_S_MAX = 90 * 86_400


class PlatformConfigInvalid(ClearlineError, ValueError):
    code = "platform_config_invalid"


@dataclass(frozen=True, slots=True)
class Settings:
    """`review_timeout_s`, `authorization_timeout_s`: how long holds last. `rate_limits`: per
    role, the token bucket of each of its keys (None: unlimited)."""

    review_timeout_s: int = 24 * 3600
    authorization_timeout_s: int = 7 * 24 * 3600
    rate_limits: dict[str, RateLimit | None] = field(default_factory=lambda: dict(DEFAULT_LIMITS))


def load_settings(data_directory: Path) -> Settings:
    """The data directory's settings (the defaults when it has no `platform.toml`)."""
    path = Path(data_directory) / SETTINGS_FILE
    if not path.exists():
        return Settings()
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise PlatformConfigInvalid(f"{path}: not valid TOML: {error}") from None
    return parse_settings(document, str(path))


def parse_settings(document: dict[str, Any], where: str = SETTINGS_FILE) -> Settings:
    known = {"review_timeout_s", "authorization_timeout_s", "rate_limits"}
    _no_unknown(document, known, where)
    defaults = Settings()
    timeouts = {
        name: _seconds(document.get(name, getattr(defaults, name)), f"{where}: {name}")
        for name in ("review_timeout_s", "authorization_timeout_s")
    }
    limits = dict(defaults.rate_limits)
    table = document.get("rate_limits", {})
    if not isinstance(table, dict):
        raise PlatformConfigInvalid(f"{where}: rate_limits must be a table of roles")
    _no_unknown(table, set(ROLES), f"{where}: rate_limits")
    for role, entry in table.items():
        limits[role] = _limit(entry, f"{where}: rate_limits.{role}")
    return Settings(timeouts["review_timeout_s"], timeouts["authorization_timeout_s"], limits)


def _no_unknown(table: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise PlatformConfigInvalid(
            f"{where}: unknown key {unknown[0]!r}; known keys are {', '.join(sorted(known))}"
        )


def _seconds(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= TIMEOUT_S_MAX:
        raise PlatformConfigInvalid(
            f"{where} must be a whole number of seconds in 1..{TIMEOUT_S_MAX}"
        )
    return value


def _limit(entry: Any, where: str) -> RateLimit | None:
    if not isinstance(entry, dict):
        raise PlatformConfigInvalid(f"{where} must be a table (requests_per_s, burst)")
    _no_unknown(entry, {"requests_per_s", "burst", "unlimited"}, where)
    if entry.get("unlimited") is True:
        if len(entry) > 1:
            raise PlatformConfigInvalid(f"{where}: unlimited takes no other key")
        return None
    rate, burst = entry.get("requests_per_s"), entry.get("burst")
    if not isinstance(rate, int | float) or isinstance(rate, bool) or not 0 < rate <= 1e6:
        raise PlatformConfigInvalid(f"{where}.requests_per_s must be a number in (0, 1000000]")
    if not isinstance(burst, int) or isinstance(burst, bool) or not 1 <= burst <= 10_000_000:
        raise PlatformConfigInvalid(f"{where}.burst must be a whole number in 1..10000000")
    return RateLimit(float(rate), burst)
