"""Per-entity state: the bounded history of each account and each device, and its caps.

Guarantees:
- Bounded memory per account and per device: every window (`Flow`), history and "seen" set is
  capped by a named constant below; counts saturate at the cap and the oldest entry goes first
  (`remember`). The caps are part of what a feature means, so changing one changes the features.
- Only what came before. The state holds nothing but folded earlier events and fraud reports
  already due; `FeatureState.observe` reads it before folding the event in.
- Money is exact: amounts are kept as integers in the account's own asset.
- Each class pickles as a plain dict of its slots (`state_of`), the same whether this module runs
  as Python or compiled (`clearline.native`), so a snapshot moves between the two.
"""

from __future__ import annotations

from bisect import bisect_right, insort
from collections import deque
from typing import Final

from clearline.risk.feature_catalogue import DAY_NS
from clearline.risk.feature_windows import Flow, set_state, state_of

AMOUNT_HISTORY_NS: Final = 30 * DAY_NS
"""How far back the amounts for the 30-day median and maximum reach."""
MAX_AMOUNT_HISTORY: Final = 128
"""Past amounts kept per account for the 30-day median and maximum."""
MAX_COUNTERPARTIES: Final = 256
MAX_DEVICES: Final = 16
MAX_CORRIDORS: Final = 32
MAX_FLAGGED_CONTACTS: Final = 32
"""Distinct flagged accounts remembered per account (the feature saturates here)."""

ACCOUNT_FIELDS: Final = (
    "amount_log",
    "channels",
    "corridors",
    "counterparties",
    "devices",
    "flagged",
    "flagged_contacts",
    "hour_counts",
    "incoming",
    "last_inflow_amount",
    "last_inflow_new_sender",
    "last_inflow_ns",
    "outgoing",
    "payments",
    "senders",
    "sorted_amounts",
)
DEVICE_FIELDS: Final = ("first_seen_ns", "flow")
"""The slots of `AccountState` and `DeviceState`: what their pickled state holds."""


def remember(seen: dict[object, None], key: object, cap: int) -> None:
    """Insert or refresh `key` as the newest entry; drop the oldest beyond `cap`."""
    seen.pop(key, None)
    seen[key] = None
    if len(seen) > cap:
        del seen[next(iter(seen))]


class AccountState:
    """Bounded history of one account (both as payer and payee) and what is known about it."""

    __slots__ = ACCOUNT_FIELDS

    def __init__(self) -> None:
        self.outgoing = Flow()
        self.incoming = Flow()
        self.amount_log: deque[tuple[int, int]] = deque()
        self.sorted_amounts: list[int] = []
        self.counterparties: dict[object, None] = {}
        self.senders: dict[object, None] = {}
        self.devices: dict[object, None] = {}
        self.corridors: dict[object, None] = {}
        self.channels: set[str] = set()
        self.hour_counts = [0] * 24
        self.payments = 0
        self.last_inflow_ns = -1
        self.last_inflow_amount = 0
        self.last_inflow_new_sender = 0.0
        self.flagged = False
        self.flagged_contacts: dict[object, None] = {}

    def __getstate__(self) -> dict[str, object]:
        return state_of(self, ACCOUNT_FIELDS)

    def __setstate__(self, state: dict[str, object]) -> None:
        set_state(self, state)

    def expire_amounts(self, now_ns: int) -> None:
        log = self.amount_log
        while log and log[0][0] <= now_ns - AMOUNT_HISTORY_NS:
            self._drop_amount()

    def _drop_amount(self) -> None:
        _, amount = self.amount_log.popleft()
        ordered = self.sorted_amounts
        del ordered[bisect_right(ordered, amount) - 1]

    def add_amount(self, now_ns: int, amount: int) -> None:
        self.amount_log.append((now_ns, amount))
        insort(self.sorted_amounts, amount)
        if len(self.amount_log) > MAX_AMOUNT_HISTORY:
            self._drop_amount()


class DeviceState:
    """A device: when it was first seen and its payments (party = the paying account)."""

    __slots__ = DEVICE_FIELDS

    def __init__(self) -> None:
        self.first_seen_ns = -1
        self.flow = Flow()

    def __getstate__(self) -> dict[str, object]:
        return state_of(self, DEVICE_FIELDS)

    def __setstate__(self, state: dict[str, object]) -> None:
        set_state(self, state)
