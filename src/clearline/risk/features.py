"""Risk features: declared once, computed by one code path online (per event) and offline (replay).

Guarantees:
- One code path. `FeatureState.observe(event)` is the only function that computes features: it
  reads the state *before* the event, returns the vector, then folds the event into the state.
  Offline computation (`replay`) is nothing but `observe` over history in time order, so training
  and serving cannot disagree (tested: online vectors from the simulator's event stream equal the
  offline vectors from the written tables, bit for bit).
- Point-in-time correct. A vector depends only on events strictly earlier in stream order and on
  the entity context known before the stream started (KYC tier, account tenure, reference FX
  rates). Events must arrive in non-decreasing time order; an earlier timestamp is refused.
- Bounded memory per account and per device: every window, history and "seen" set is capped by a
  named constant below (counts saturate at the cap; the oldest entry goes first).
- Money sums inside windows are exact integers in the account's own asset; conversion to USD
  (a float, for comparability across currencies) happens only when a feature value is read.
- The state can be snapshotted to a file and restored; a restored state continues exactly as the
  original would (tested), so a restart does not forget history.
"""

from __future__ import annotations

import math
import pickle
from collections import OrderedDict, deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from clearline.core.assets import asset as asset_of
from clearline.core.errors import InvalidInput
from clearline.core.vocabulary import CHANNELS, PAYMENT_TYPES

NS_PER_SECOND = 1_000_000_000
HOUR_NS = 3_600 * NS_PER_SECOND
DAY_NS = 24 * HOUR_NS
WINDOWS = (("1h", HOUR_NS), ("24h", DAY_NS), ("7d", 7 * DAY_NS))
AMOUNT_HISTORY_NS = 30 * DAY_NS
MAX_WINDOW_EVENTS = 512
"""Events kept per account, per direction, per window; counts saturate here."""
MAX_AMOUNT_HISTORY = 128
"""Past amounts kept per account for the 30-day median and maximum."""
MAX_COUNTERPARTIES = 256
MAX_DEVICES = 16
MAX_CORRIDORS = 32
MIN_HOUR_HISTORY = 5
"""Payments an account needs before its hour-of-day habit is judged."""
SNAPSHOT_FORMAT = "clearline.risk.features/1"

OWNER_KINDS = ("person", "merchant", "enterprise", "participant")
MCC_RISK = {
    "5816": 3.0,  # digital goods and games: card testing, resale
    "5732": 3.0,  # electronics: bust-out and resale
    "5944": 3.0,  # jewellery and watches
    "4722": 2.0,  # travel agencies
    "7011": 2.0,  # hotels
    "4814": 2.0,  # telecom top-up
    "5999": 1.0,  # miscellaneous retail
    "5651": 1.0,  # clothing
}
"""Declared merchant-category risk (0 when absent): a prior from the card industry, not learned."""


@dataclass(frozen=True, slots=True)
class FeatureSpec:
    """A declared feature. name: column name. words: how a reason reads, `{value}` filled in."""

    name: str
    words: str


def _spec(name: str, words: str) -> FeatureSpec:
    return FeatureSpec(name, words)


FEATURES: tuple[FeatureSpec, ...] = (
    *(
        _spec(f"payer_out_count_{w}", f"payer made {{value:.0f}} payments in the last {w}")
        for w, _ in WINDOWS
    ),
    *(
        _spec(f"payer_out_sum_usd_{w}", f"payer sent USD {{value:,.0f}} in the last {w}")
        for w, _ in WINDOWS
    ),
    *(
        _spec(f"payee_in_count_{w}", f"payee received {{value:.0f}} payments in the last {w}")
        for w, _ in WINDOWS
    ),
    *(
        _spec(f"payee_in_sum_usd_{w}", f"payee received USD {{value:,.0f}} in the last {w}")
        for w, _ in WINDOWS
    ),
    _spec("payer_fan_out_24h", "payer paid {value:.0f} different accounts in 24 h"),
    _spec("payer_fan_out_7d", "payer paid {value:.0f} different accounts in 7 days"),
    _spec("payee_fan_in_24h", "payee was paid by {value:.0f} different accounts in 24 h"),
    _spec("payee_fan_in_7d", "payee was paid by {value:.0f} different accounts in 7 days"),
    _spec("amount_usd", "amount of USD {value:,.2f}"),
    _spec("amount_to_median_30d", "amount {value:.1f}× this account's 30-day median"),
    _spec("amount_to_max_30d", "amount {value:.1f}× this account's largest payment in 30 days"),
    _spec("amount_to_inflow_24h", "amount is {value:.1f}× what the account received in 24 h"),
    _spec("payer_history_count", "payer has only {value:.0f} earlier payments on record"),
    _spec("hours_since_last_inflow", "paid out {value:.1f} h after money arrived"),
    _spec("first_time_counterparty", "first payment to this counterparty"),
    _spec("payee_paid_payer_before", "payee has paid this payer before"),
    _spec("device_present", "a device was used"),
    _spec("new_device", "a device never seen on this account"),
    _spec("new_channel", "a channel this account has never used"),
    _spec("device_accounts_24h", "this device paid for {value:.0f} accounts in 24 h"),
    _spec("device_count_1h", "this device made {value:.0f} payments in the last hour"),
    _spec("hour_of_day_utc", "paid at {value:.0f}h UTC"),
    _spec("hour_share", "only {value:.0%} of this account's payments happen at this hour"),
    _spec("cross_border", "cross-border payment"),
    _spec("currency_conversion", "payment converts currency"),
    _spec("new_corridor", "a corridor this account has never used"),
    _spec("payer_kyc_tier", "payer KYC tier {value:.0f}"),
    _spec("payer_account_age_days", "payer account is {value:.0f} days old"),
    _spec("payee_account_age_days", "payee account is {value:.0f} days old"),
    _spec("payer_age_band", "payer age band {value:.0f}"),
    _spec("payer_kind", "payer kind {value:.0f}"),
    _spec("payee_kind", "payee kind {value:.0f}"),
    _spec("mcc_risk", "merchant category of risk level {value:.0f}"),
    _spec("payment_type_code", "payment type {value:.0f}"),
    _spec("channel_code", "channel {value:.0f}"),
)
FEATURE_NAMES: tuple[str, ...] = tuple(spec.name for spec in FEATURES)
FEATURE_INDEX = {name: index for index, name in enumerate(FEATURE_NAMES)}
CATEGORICAL_FEATURES = ("payment_type_code", "channel_code", "payer_kind", "payee_kind")


@dataclass(frozen=True, slots=True)
class PaymentEvent:
    """One payment as the risk room sees it (amounts in integer minor units of the named asset).

    device_id and merchant_category are None when absent; transaction_id is informational only.
    """

    timestamp_ns: int
    from_account_id: int
    to_account_id: int
    amount_paid: int
    asset_paid: str
    amount_received: int
    asset_received: str
    channel: str
    payment_type: str
    merchant_category: str | None = None
    device_id: int | None = None
    from_country: str = ""
    to_country: str = ""
    transaction_id: int = 0


@dataclass(frozen=True, slots=True)
class AccountProfile:
    """What was known about an account before the stream started.

    kyc_tier: 1-3, 0 when not a person. tenure_days: age of the account at `reference_ns`.
    age_band: index of the owner's age band, -1 when unknown. owner_kind: one of OWNER_KINDS.
    """

    kyc_tier: int = 0
    tenure_days: float = math.nan
    age_band: int = -1
    owner_kind: str = "person"


@dataclass(frozen=True, slots=True)
class FeatureContext:
    """Entity facts known before the stream: profiles, reference time and USD rates per asset.

    usd_per_unit: USD value of one *minor* unit of each asset (1.0 / units per USD / 10**scale).
    """

    profiles: dict[int, AccountProfile] = field(default_factory=dict)
    reference_ns: int = 0
    usd_per_unit: dict[str, float] = field(default_factory=dict)

    def to_usd(self, amount: int, asset: str) -> float:
        rate = self.usd_per_unit.get(asset)
        if rate is None:
            rate = 10.0 ** -asset_of(asset).scale
        return amount * rate


class Window:
    """Events in (now - span, now], capped, with a running integer sum and distinct parties."""

    __slots__ = ("events", "parties", "span_ns", "total")

    def __init__(self, span_ns: int) -> None:
        self.span_ns = span_ns
        self.events: deque[tuple[int, int, int]] = deque()
        self.parties: dict[int, int] = {}
        self.total = 0

    def expire(self, now_ns: int) -> None:
        while self.events and (
            self.events[0][0] <= now_ns - self.span_ns or len(self.events) > MAX_WINDOW_EVENTS
        ):
            self._drop()

    def _drop(self) -> None:
        _, amount, party = self.events.popleft()
        self.total -= amount
        left = self.parties[party] - 1
        if left:
            self.parties[party] = left
        else:
            del self.parties[party]

    def add(self, now_ns: int, amount: int, party: int) -> None:
        self.events.append((now_ns, amount, party))
        self.total += amount
        self.parties[party] = self.parties.get(party, 0) + 1
        if len(self.events) > MAX_WINDOW_EVENTS:
            self._drop()


def _remember(seen: OrderedDict[object, None], key: object, cap: int) -> None:
    seen[key] = None
    seen.move_to_end(key)
    if len(seen) > cap:
        seen.popitem(last=False)


class AccountState:
    """Bounded history of one account (both as payer and payee)."""

    __slots__ = (
        "amounts",
        "channels",
        "corridors",
        "counterparties",
        "devices",
        "hour_counts",
        "incoming",
        "last_inflow_ns",
        "outgoing",
        "payments",
    )

    def __init__(self) -> None:
        self.outgoing = [Window(span) for _, span in WINDOWS]
        self.incoming = [Window(span) for _, span in WINDOWS]
        self.amounts: deque[tuple[int, int]] = deque()
        self.counterparties: OrderedDict[object, None] = OrderedDict()
        self.devices: OrderedDict[object, None] = OrderedDict()
        self.corridors: OrderedDict[object, None] = OrderedDict()
        self.channels: set[str] = set()
        self.hour_counts = [0] * 24
        self.payments = 0
        self.last_inflow_ns = -1

    def expire(self, now_ns: int) -> None:
        for window in (*self.outgoing, *self.incoming):
            window.expire(now_ns)
        while self.amounts and self.amounts[0][0] <= now_ns - AMOUNT_HISTORY_NS:
            self.amounts.popleft()


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else math.nan


def _hour_share(state: AccountState, hour: int) -> float:
    if state.payments < MIN_HOUR_HISTORY:
        return math.nan
    near = sum(state.hour_counts[(hour + shift) % 24] for shift in (-1, 0, 1))
    return near / state.payments


def _code(value: str | None, vocabulary: tuple[str, ...]) -> float:
    return float(vocabulary.index(value)) if value in vocabulary else -1.0


class FeatureState:
    """All online state: one `AccountState` per account and a device window per device."""

    def __init__(self, context: FeatureContext) -> None:
        self.context = context
        self.accounts: dict[int, AccountState] = {}
        self.devices: dict[int, Window] = {}
        self.last_ns = -(2**63)

    def _account(self, account_id: int) -> AccountState:
        state = self.accounts.get(account_id)
        if state is None:
            state = self.accounts[account_id] = AccountState()
        return state

    def observe(self, event: PaymentEvent) -> tuple[float, ...]:
        """The feature vector of `event` from what came before it; then remember the event."""
        if event.timestamp_ns < self.last_ns:
            raise InvalidInput(
                f"event at {event.timestamp_ns} arrived after one at {self.last_ns}: "
                "feed events in time order",
                code="event_out_of_order",
            )
        self.last_ns = event.timestamp_ns
        payer, payee = self._account(event.from_account_id), self._account(event.to_account_id)
        payer.expire(event.timestamp_ns)
        payee.expire(event.timestamp_ns)
        device = self._device_window(event)
        vector = (
            *self._velocity(event, payer, payee),
            *self._amounts(event, payer),
            *self._novelty(event, payer, payee, device),
            *self._profiles(event),
        )
        self._update(event, payer, payee, device)
        return vector

    def _device_window(self, event: PaymentEvent) -> Window | None:
        if event.device_id is None:
            return None
        window = self.devices.get(event.device_id)
        if window is None:
            window = self.devices[event.device_id] = Window(DAY_NS)
        window.expire(event.timestamp_ns)
        return window

    def _velocity(
        self, event: PaymentEvent, payer: AccountState, payee: AccountState
    ) -> tuple[float, ...]:
        usd = self.context.to_usd
        return (
            *(float(len(w.events)) for w in payer.outgoing),
            *(usd(w.total, event.asset_paid) for w in payer.outgoing),
            *(float(len(w.events)) for w in payee.incoming),
            *(usd(w.total, event.asset_received) for w in payee.incoming),
            float(len(payer.outgoing[1].parties)),
            float(len(payer.outgoing[2].parties)),
            float(len(payee.incoming[1].parties)),
            float(len(payee.incoming[2].parties)),
        )

    def _amounts(self, event: PaymentEvent, payer: AccountState) -> tuple[float, ...]:
        past = sorted(amount for _, amount in payer.amounts)
        middle = len(past) // 2
        median = (
            (past[middle] if len(past) % 2 else (past[middle - 1] + past[middle]) / 2)
            if past
            else math.nan
        )
        largest = float(past[-1]) if past else math.nan
        inflow = self.context.to_usd(payer.incoming[1].total, event.asset_paid)
        since = event.timestamp_ns - payer.last_inflow_ns
        return (
            self.context.to_usd(event.amount_paid, event.asset_paid),
            _ratio(event.amount_paid, median),
            _ratio(event.amount_paid, largest),
            _ratio(self.context.to_usd(event.amount_paid, event.asset_paid), inflow),
            float(payer.payments),
            since / HOUR_NS if payer.last_inflow_ns >= 0 else math.nan,
        )

    def _novelty(
        self,
        event: PaymentEvent,
        payer: AccountState,
        payee: AccountState,
        device: Window | None,
    ) -> tuple[float, ...]:
        hour = (event.timestamp_ns // HOUR_NS) % 24
        cross = event.from_country != event.to_country
        corridor = (event.from_country, event.to_country)
        return (
            float(event.to_account_id not in payer.counterparties),
            float(event.from_account_id in payee.counterparties),
            float(device is not None),
            float(device is not None and event.device_id not in payer.devices),
            float(event.channel not in payer.channels),
            float(len(device.parties)) if device is not None else 0.0,
            float(sum(1 for ts, _, _ in device.events if ts > event.timestamp_ns - HOUR_NS))
            if device is not None
            else 0.0,
            float(hour),
            _hour_share(payer, hour),
            float(cross),
            float(event.asset_paid != event.asset_received),
            float(cross and corridor not in payer.corridors),
        )

    def _profiles(self, event: PaymentEvent) -> tuple[float, ...]:
        unknown = AccountProfile()
        payer = self.context.profiles.get(event.from_account_id, unknown)
        payee = self.context.profiles.get(event.to_account_id, unknown)
        elapsed_days = (event.timestamp_ns - self.context.reference_ns) / DAY_NS
        return (
            float(payer.kyc_tier),
            payer.tenure_days + elapsed_days,
            payee.tenure_days + elapsed_days,
            float(payer.age_band),
            _code(payer.owner_kind, OWNER_KINDS),
            _code(payee.owner_kind, OWNER_KINDS),
            MCC_RISK.get(event.merchant_category or "", 0.0),
            _code(event.payment_type, PAYMENT_TYPES),
            _code(event.channel, CHANNELS),
        )

    def _update(
        self,
        event: PaymentEvent,
        payer: AccountState,
        payee: AccountState,
        device: Window | None,
    ) -> None:
        now = event.timestamp_ns
        for window in payer.outgoing:
            window.add(now, event.amount_paid, event.to_account_id)
        for window in payee.incoming:
            window.add(now, event.amount_received, event.from_account_id)
        payer.amounts.append((now, event.amount_paid))
        if len(payer.amounts) > MAX_AMOUNT_HISTORY:
            payer.amounts.popleft()
        _remember(payer.counterparties, event.to_account_id, MAX_COUNTERPARTIES)
        if event.device_id is not None and device is not None:
            _remember(payer.devices, event.device_id, MAX_DEVICES)
            device.add(now, 1, event.from_account_id)
        if event.from_country != event.to_country:
            _remember(payer.corridors, (event.from_country, event.to_country), MAX_CORRIDORS)
        payer.channels.add(event.channel)
        payer.hour_counts[(now // HOUR_NS) % 24] += 1
        payer.payments += 1
        payee.last_inflow_ns = now

    def snapshot(self, path: Path) -> None:
        """Write the whole state to `path` (our own data directory; a pickle, atomic)."""
        temporary = path.with_suffix(path.suffix + ".tmp")
        with temporary.open("wb") as handle:
            pickle.dump((SNAPSHOT_FORMAT, FEATURE_NAMES, self), handle, protocol=5)
        temporary.replace(path)

    @classmethod
    def restore(cls, path: Path) -> FeatureState:
        """The state written by `snapshot`; refuses a snapshot of another feature set."""
        with path.open("rb") as handle:
            form, names, state = pickle.load(handle)  # our own file, never user input
        if form != SNAPSHOT_FORMAT or tuple(names) != FEATURE_NAMES:
            raise InvalidInput(
                f"{path} holds features of another version", code="snapshot_version_mismatch"
            )
        assert isinstance(state, cls)
        return state


def replay(events: Iterable[PaymentEvent], context: FeatureContext) -> np.ndarray:
    """Offline features: `observe` over `events` in order, one row per event (float64)."""
    state = FeatureState(context)
    rows = [state.observe(event) for event in events]
    return np.array(rows, dtype=np.float64).reshape(len(rows), len(FEATURE_NAMES))


def events_from_table(table: pa.Table) -> Iterator[PaymentEvent]:
    """`PaymentEvent`s from a `transactions` table (the simulator's columns), row by row."""
    timestamps = table.column("timestamp").cast(pa.int64()).to_pylist()
    names = (
        "from_account_id",
        "to_account_id",
        "amount_paid",
        "asset_paid",
        "amount_received",
        "asset_received",
        "channel",
        "payment_type",
        "merchant_category",
        "device_id",
        "from_country",
        "to_country",
        "transaction_id",
    )
    columns = [
        [None if v is None else str(v) for v in table.column(n).cast(pa.string()).to_pylist()]
        if n in ("asset_paid", "asset_received", "channel", "payment_type", "merchant_category")
        or n.endswith("country")
        else table.column(n).to_pylist()
        for n in names
    ]
    for timestamp, *values in zip(timestamps, *columns, strict=True):
        yield PaymentEvent(timestamp, *values)
