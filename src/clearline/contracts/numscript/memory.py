"""An in-memory `Store` for tests, spec files and dry runs.

Guarantees:
- Balances not given are 0; metadata not given is absent (`None`).
- It never changes: a run reads from it and the caller applies the postings elsewhere.
- It lists the scales it holds of an asset (`asset_scales`), so `with scaling through` sees
  exactly the balances it was given.
- `calls` counts the balance look-ups per key, for tests of "at most once per key per run".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from types import MappingProxyType

from clearline.contracts.numscript.values import split_asset


class MemoryStore:
    """Balances by `(account, asset, color)` and metadata by account then key."""

    def __init__(
        self,
        balances: Mapping[tuple[str, str, str], int] | None = None,
        metadata: Mapping[str, Mapping[str, str]] | None = None,
    ) -> None:
        self.balances: Mapping[tuple[str, str, str], int] = MappingProxyType(dict(balances or {}))
        self.metadata: Mapping[str, Mapping[str, str]] = MappingProxyType(
            {account: dict(values) for account, values in (metadata or {}).items()}
        )
        self.calls: Counter[tuple[str, str, str]] = Counter()

    def balance(self, account: str, asset: str, color: str) -> int:
        key = (account, asset, color)
        self.calls[key] += 1
        return self.balances.get(key, 0)

    def account_meta(self, account: str, key: str) -> str | None:
        return self.metadata.get(account, {}).get(key)

    def asset_scales(self, account: str, base_asset: str) -> Iterable[int]:
        return {
            split_asset(asset)[1]
            for (holder, asset, color) in self.balances
            if holder == account and not color and split_asset(asset)[0] == base_asset
        }
