"""Risk features: declared once, computed by one code path online (per event) and offline (replay).

Guarantees:
- One code path. `FeatureState.observe(event)` is the only function that computes features: it
  reads the state *before* the event, returns the vector, then folds the event into the state.
  Offline computation (`replay`) and batch scoring (`clearline.risk.batch`) are nothing but
  `observe` over events in time order, so training and serving cannot disagree (tested: online
  vectors from the simulator's event stream, with a snapshot and restart half way, equal the
  offline and batch vectors from the written tables, bit for bit).
- Point-in-time correct. A vector depends only on events strictly earlier in stream order, on the
  entity context known before the stream started (KYC tier, account tenure, reference FX rates),
  on fraud reports whose `known_at_ns` is not after the event (`report_fraud`), and on the
  event's own fields, among them `payer_available`, the payer's funds just before it (which the
  caller reads from its ledger; offline, `clearline.risk.world` rebuilds it from earlier rows).
  Events must arrive in non-decreasing time order; an earlier timestamp is refused.
- Bounded memory per account and per device: every window, history and "seen" set is capped by a
  named constant (`clearline.risk.feature_state`: counts saturate at the cap; the oldest entry
  goes first).
- Money sums inside windows are exact integers in the account's own asset; conversion to USD
  (a float, for comparability across currencies) happens only when a feature value is read.
- The state can be snapshotted to a file and restored; a restored state continues exactly as the
  original would (tested, also from a snapshot written before the features were split into
  modules), so a restart does not forget history.

This module is the per-event computation and the public API. Its parts live beside it, one
responsibility each: `feature_catalogue` (the declared features and the input records),
`feature_windows` (rolling windows), `feature_state` (per-account and per-device state with its
caps). Every public name of those parts is importable from here too (`__all__`), as it was
when they were one file.

Speed: windows are lists with start indexes that only move forward and running (prefix) sums,
so an event costs a few C-level operations per window instead of Python loops. `make` compiles
this module and its parts with mypyc as one group (`clearline.native`), so calls between them
stay native; that runs about twice as fast as the Python source, which stays the reference and
runs wherever no build is current (see docs/risk.md).
"""

from __future__ import annotations

import heapq
import math
import pickle
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Final

import numpy as np
import pyarrow as pa

from clearline.core.errors import InvalidInput
from clearline.risk.feature_catalogue import (
    CATEGORICAL_FEATURES,
    CHANNEL_CODE,
    DAY_NS,
    FEATURE_INDEX,
    FEATURE_NAMES,
    FEATURES,
    HOUR_NS,
    MCC_RISK,
    NS_PER_SECOND,
    OWNER_KIND_CODE,
    OWNER_KINDS,
    PAYMENT_TYPE_CODE,
    ROW,
    WEEK_NS,
    WINDOWS,
    AccountProfile,
    FeatureContext,
    FeatureSpec,
    PaymentEvent,
)
from clearline.risk.feature_state import (
    ACCOUNT_FIELDS,
    AMOUNT_HISTORY_NS,
    DEVICE_FIELDS,
    MAX_AMOUNT_HISTORY,
    MAX_CORRIDORS,
    MAX_COUNTERPARTIES,
    MAX_DEVICES,
    MAX_FLAGGED_CONTACTS,
    AccountState,
    DeviceState,
    remember,
)
from clearline.risk.feature_windows import (
    COMPACT_AT,
    FLOW_FIELDS,
    MAX_WINDOW_EVENTS,
    Flow,
    FlowCounts,
)

__all__ = [
    "ACCOUNT_FIELDS",
    "AMOUNT_HISTORY_NS",
    "AVAILABLE_COLUMN",
    "CATEGORICAL_FEATURES",
    "CHANNEL_CODE",
    "COMPACT_AT",
    "DAY_NS",
    "DEVICE_FIELDS",
    "FEATURES",
    "FEATURE_INDEX",
    "FEATURE_NAMES",
    "FLOW_FIELDS",
    "HOUR_NS",
    "MATRIX_CHUNK_EVENTS",
    "MAX_AMOUNT_HISTORY",
    "MAX_CORRIDORS",
    "MAX_COUNTERPARTIES",
    "MAX_DEVICES",
    "MAX_FLAGGED_CONTACTS",
    "MAX_WINDOW_EVENTS",
    "MCC_RISK",
    "MIN_HOUR_HISTORY",
    "NO_DEVICE",
    "NS_PER_SECOND",
    "OWNER_KINDS",
    "OWNER_KIND_CODE",
    "PAYMENT_TYPE_CODE",
    "ROW",
    "SNAPSHOT_FORMAT",
    "UNKNOWN_PROFILE",
    "WEEK_NS",
    "WINDOWS",
    "AccountProfile",
    "AccountState",
    "DeviceState",
    "FeatureContext",
    "FeatureSpec",
    "FeatureState",
    "Flow",
    "FlowCounts",
    "PaymentEvent",
    "as_matrix",
    "events_from_table",
    "replay",
    "reports_from_labels",
]
"""The public names, here and in the parts: importable from this module as before the split."""

MIN_HOUR_HISTORY: Final = 5
"""Payments an account needs before its hour-of-day habit is judged."""
MATRIX_CHUNK_EVENTS: Final = 8_192
"""Vectors joined into a matrix at a time by `replay`."""
SNAPSHOT_FORMAT: Final = "clearline.risk.features/5"
AVAILABLE_COLUMN: Final = "payer_available"
"""Optional `transactions` column read into `PaymentEvent.payer_available`."""


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else math.nan


def _credit(
    event: PaymentEvent, profile: AccountProfile | None, rate: float
) -> tuple[float, float]:
    """The payer's credit line in USD (NaN for an account without a profile) and the share of it
    in use once this payment is made (what the payer could spend minus the amount, against the
    line; NaN without a line or without `payer_available`)."""
    if profile is None:
        return math.nan, math.nan
    line = profile.credit_limit
    if line <= 0 or event.payer_available is None:
        return line * rate, math.nan
    drawn = line - (event.payer_available - event.amount_paid)
    return line * rate, (drawn if drawn > 0 else 0) / line


def _hour_share(state: AccountState, hour: int) -> float:
    if state.payments < MIN_HOUR_HISTORY:
        return math.nan
    counts = state.hour_counts
    return (counts[hour - 1] + counts[hour] + counts[(hour + 1) % 24]) / state.payments


def _median(ordered: list[int]) -> float:
    size = len(ordered)
    if not size:
        return math.nan
    middle = size // 2
    return ordered[middle] if size % 2 else (ordered[middle - 1] + ordered[middle]) / 2


NO_DEVICE: Final = (0.0, 0.0, 0.0, 0.0, math.nan)
UNKNOWN_PROFILE: Final = AccountProfile()


class FeatureState:
    """All online state: one `AccountState` per account, one `DeviceState` per device, and the
    fraud reports not yet due."""

    def __init__(self, context: FeatureContext) -> None:
        self.context = context
        self.accounts: dict[int, AccountState] = {}
        self.devices: dict[int, DeviceState] = {}
        self.last_ns = -(2**63)
        self.pending_reports: list[tuple[int, int, int]] = []
        """Heap of (known_at_ns, arrival number, account id) of fraud reports not yet applied."""
        self.reports_received = 0

    def _account(self, account_id: int) -> AccountState:
        state = self.accounts.get(account_id)
        if state is None:
            state = self.accounts[account_id] = AccountState()
        return state

    def _rate(self, asset: str) -> float:
        """USD per minor unit, read from the context on every call (callers may add rates)."""
        rate = self.context.usd_per_unit.get(asset)
        return rate if rate is not None else self.context.to_usd(1, asset)

    def report_fraud(self, account_id: int, known_at_ns: int) -> None:
        """A fraud report on `account_id` (e.g. it received a confirmed fraudulent payment),
        known from `known_at_ns`. It is applied before the first event at or after that time."""
        heapq.heappush(self.pending_reports, (known_at_ns, self.reports_received, account_id))
        self.reports_received += 1

    def _apply_reports(self, now_ns: int) -> None:
        pending = self.pending_reports
        while pending and pending[0][0] <= now_ns:
            _, _, account_id = heapq.heappop(pending)
            flagged = self._account(account_id)
            if flagged.flagged:
                continue
            flagged.flagged = True
            for contact in (*flagged.counterparties, *flagged.senders):
                other = self.accounts.get(contact)  # type: ignore[call-overload]
                if other is not None:
                    remember(other.flagged_contacts, account_id, MAX_FLAGGED_CONTACTS)

    def observe(self, event: PaymentEvent) -> tuple[float, ...]:
        """The feature vector of `event` from what came before it; then remember the event."""
        now = event.timestamp_ns
        if now < self.last_ns:
            raise InvalidInput(
                f"event at {now} arrived after one at {self.last_ns}: feed events in time order",
                code="event_out_of_order",
            )
        self.last_ns = now
        if self.pending_reports and self.pending_reports[0][0] <= now:
            self._apply_reports(now)
        payer, payee = self._account(event.from_account_id), self._account(event.to_account_id)
        device = self._device(event)
        outgoing, received = payer.outgoing.read(now), payer.incoming.read(now)
        incoming = payee.incoming.read(now)
        profile = self.context.profiles.get(event.from_account_id)
        vector = (
            *self._velocity(event, outgoing, received, incoming),
            *self._amounts(event, payer, received, profile),
            *self._novelty(event, payer, payee, device),
            *self._profiles(event, profile),
            float(payer.flagged),
            float(payee.flagged),
            float(len(payer.flagged_contacts)),
            float(len(payee.flagged_contacts)),
        )
        self._update(event, payer, payee, device)
        return vector

    def _device(self, event: PaymentEvent) -> DeviceState | None:
        if event.device_id is None:
            return None
        device = self.devices.get(event.device_id)
        if device is None:
            device = self.devices[event.device_id] = DeviceState()
        return device

    def _velocity(
        self,
        event: PaymentEvent,
        outgoing: FlowCounts,
        received: FlowCounts,
        incoming: FlowCounts,
    ) -> tuple[float, ...]:
        paid, got = self._rate(event.asset_paid), self._rate(event.asset_received)
        return (
            float(outgoing[0]),
            float(outgoing[1]),
            float(outgoing[2]),
            outgoing[3] * paid,
            outgoing[4] * paid,
            outgoing[5] * paid,
            float(incoming[0]),
            float(incoming[1]),
            float(incoming[2]),
            incoming[3] * got,
            incoming[4] * got,
            incoming[5] * got,
            float(outgoing[6]),
            float(outgoing[7]),
            float(incoming[6]),
            float(incoming[7]),
            _ratio(outgoing[4], outgoing[5]),
            _ratio(incoming[4], incoming[5]),
            _ratio(outgoing[5] + event.amount_paid, received[5]),
        )

    def _amounts(
        self,
        event: PaymentEvent,
        payer: AccountState,
        received: FlowCounts,
        profile: AccountProfile | None,
    ) -> tuple[float, ...]:
        payer.expire_amounts(event.timestamp_ns)
        ordered, amount = payer.sorted_amounts, event.amount_paid
        rate = self._rate(event.asset_paid)
        since = event.timestamp_ns - payer.last_inflow_ns
        inflow = payer.last_inflow_ns >= 0
        line, drawn = _credit(event, profile, rate)
        return (
            amount * rate,
            _ratio(amount, _median(ordered)),
            _ratio(amount, float(ordered[-1]) if ordered else math.nan),
            _ratio(amount * rate, received[4] * rate),
            float(payer.payments),
            since / HOUR_NS if inflow else math.nan,
            _ratio(amount, payer.last_inflow_amount) if inflow else math.nan,
            payer.last_inflow_new_sender,
            _ratio(amount, event.payer_available)
            if event.payer_available is not None
            else math.nan,
            line,
            drawn,
        )

    def _novelty(
        self,
        event: PaymentEvent,
        payer: AccountState,
        payee: AccountState,
        device: DeviceState | None,
    ) -> tuple[float, ...]:
        now = event.timestamp_ns
        hour = (now // HOUR_NS) % 24
        cross = event.from_country != event.to_country
        if device is None:
            seen = NO_DEVICE
        else:
            counts = device.flow.read(now)
            seen = (
                1.0,
                float(event.device_id not in payer.devices),
                float(counts[6]),
                float(counts[0]),
                (now - device.first_seen_ns) / HOUR_NS if device.first_seen_ns >= 0 else math.nan,
            )
        return (
            float(event.to_account_id not in payer.counterparties),
            float(event.from_account_id in payee.counterparties),
            seen[0],
            seen[1],
            float(event.channel not in payer.channels),
            seen[2],
            seen[3],
            seen[4],
            float(len(payer.devices)),
            float(hour),
            _hour_share(payer, hour),
            float(cross),
            float(event.asset_paid != event.asset_received),
            float(cross and (event.from_country, event.to_country) not in payer.corridors),
        )

    def _profiles(self, event: PaymentEvent, profile: AccountProfile | None) -> tuple[float, ...]:
        """Read from the context on every event (`profile` is the payer's, looked up once by
        `observe`): callers may register accounts as they open."""
        payer = profile or UNKNOWN_PROFILE
        payee = self.context.profiles.get(event.to_account_id) or UNKNOWN_PROFILE
        elapsed_days = (event.timestamp_ns - self.context.reference_ns) / DAY_NS
        return (
            float(payer.kyc_tier),
            payer.tenure_days + elapsed_days,
            payee.tenure_days + elapsed_days,
            float(payer.age_band),
            OWNER_KIND_CODE.get(payer.owner_kind, -1.0),
            OWNER_KIND_CODE.get(payee.owner_kind, -1.0),
            MCC_RISK.get(event.merchant_category or "", 0.0),
            PAYMENT_TYPE_CODE.get(event.payment_type, -1.0),
            CHANNEL_CODE.get(event.channel, -1.0),
        )

    def _update(
        self,
        event: PaymentEvent,
        payer: AccountState,
        payee: AccountState,
        device: DeviceState | None,
    ) -> None:
        now, payer_id, payee_id = event.timestamp_ns, event.from_account_id, event.to_account_id
        payer.outgoing.add(now, event.amount_paid, payee_id)
        payee.incoming.add(now, event.amount_received, payer_id)
        payer.add_amount(now, event.amount_paid)
        remember(payer.counterparties, payee_id, MAX_COUNTERPARTIES)
        payee.last_inflow_new_sender = float(payer_id not in payee.senders)
        remember(payee.senders, payer_id, MAX_COUNTERPARTIES)
        if device is not None:
            remember(payer.devices, event.device_id, MAX_DEVICES)
            device.flow.add(now, 1, payer_id)
            if device.first_seen_ns < 0:
                device.first_seen_ns = now
        if event.from_country != event.to_country:
            remember(payer.corridors, (event.from_country, event.to_country), MAX_CORRIDORS)
        payer.channels.add(event.channel)
        payer.hour_counts[(now // HOUR_NS) % 24] += 1
        payer.payments += 1
        payee.last_inflow_ns = now
        payee.last_inflow_amount = event.amount_received
        if payee.flagged and payee_id not in payer.flagged_contacts:
            remember(payer.flagged_contacts, payee_id, MAX_FLAGGED_CONTACTS)
        if payer.flagged and payer_id not in payee.flagged_contacts:
            remember(payee.flagged_contacts, payer_id, MAX_FLAGGED_CONTACTS)

    def snapshot(self, path: Path) -> None:
        """Write the whole state to `path` (our own data directory; a pickle, atomic)."""
        temporary = path.with_suffix(path.suffix + ".tmp")
        with temporary.open("wb") as handle:
            pickle.dump((SNAPSHOT_FORMAT, FEATURE_NAMES, self._parts()), handle, protocol=5)
        temporary.replace(path)

    @classmethod
    def restore(cls, path: Path) -> FeatureState:
        """The state written by `snapshot`; refuses a snapshot of another feature set."""
        with path.open("rb") as handle:
            form, names, parts = pickle.load(handle)  # our own file, never user input
        if form != SNAPSHOT_FORMAT or tuple(names) != FEATURE_NAMES:
            raise InvalidInput(
                f"{path} holds features of another version", code="snapshot_version_mismatch"
            )
        context, accounts, devices, last_ns, pending, received = parts
        state = cls(context)
        state.accounts, state.devices, state.last_ns = accounts, devices, last_ns
        state.pending_reports, state.reports_received = pending, received
        return state

    def _parts(
        self,
    ) -> tuple[
        FeatureContext,
        dict[int, AccountState],
        dict[int, DeviceState],
        int,
        list[tuple[int, int, int]],
        int,
    ]:
        """What a snapshot holds: the state's fields, not the object (see `state_of`)."""
        return (
            self.context,
            self.accounts,
            self.devices,
            self.last_ns,
            self.pending_reports,
            self.reports_received,
        )


assert len(
    FeatureState(FeatureContext()).observe(PaymentEvent(0, 1, 2, 1, "USD", 1, "USD", "", ""))
) == len(FEATURE_NAMES)


def replay(
    events: Iterable[PaymentEvent],
    context: FeatureContext,
    reports: Iterable[tuple[int, int]] = (),
    state: FeatureState | None = None,
) -> np.ndarray:
    """Offline features: `observe` over `events` in order, one row per event (float64).

    reports: (known_at_ns, account id) fraud reports, applied when due (see `report_fraud`).
    state: continue from this state (e.g. the training history) instead of an empty one.
    """
    state = state if state is not None else FeatureState(context)
    for known_at_ns, account_id in reports:
        state.report_fraud(account_id, known_at_ns)
    observe, pack = state.observe, ROW.pack
    chunks: list[np.ndarray] = []
    rows: list[bytes] = []
    for event in events:
        rows.append(pack(*observe(event)))
        if len(rows) == MATRIX_CHUNK_EVENTS:
            chunks.append(as_matrix(rows))
            rows = []
    chunks.append(as_matrix(rows))
    return chunks[0] if len(chunks) == 1 else np.concatenate(chunks)


def as_matrix(rows: list[bytes]) -> np.ndarray:
    """Vectors packed by `ROW.pack` as a writable float64 matrix (0 rows when empty)."""
    data = bytearray().join(rows)
    return np.frombuffer(data, dtype=np.float64).reshape(len(rows), len(FEATURE_NAMES))


def reports_from_labels(
    table: pa.Table, is_fraud: np.ndarray, context: FeatureContext, delay_ns: int
) -> list[tuple[int, int]]:
    """Fraud reports a deployed system would receive: the receiving account of each labelled
    fraudulent payment, when it belongs to a person (a mule or accomplice, not a merchant or a
    bank's cash account), known `delay_ns` after the payment. Sorted by `known_at_ns`."""
    rows = np.flatnonzero(is_fraud)
    stamps = table.column("timestamp").cast(pa.int64()).take(pa.array(rows)).to_pylist()
    payees = table.column("to_account_id").take(pa.array(rows)).to_pylist()
    person = AccountProfile().owner_kind
    reports = [
        (int(stamp) + delay_ns, int(payee))
        for stamp, payee in zip(stamps, payees, strict=True)
        if context.profiles.get(payee, AccountProfile()).owner_kind == person
    ]
    return sorted(reports)


def events_from_table(table: pa.Table) -> Iterator[PaymentEvent]:
    """`PaymentEvent`s from a `transactions` table (the simulator's columns), row by row.

    `payer_available` is read from the column of that name when the table has one (the world
    reader derives it, `clearline.risk.world.payer_available`); otherwise it is None."""
    rows = table.num_rows
    timestamp = _values(table.column("timestamp").cast(pa.int64()))
    payer, payee = _values(table.column("from_account_id")), _values(table.column("to_account_id"))
    paid, received = _values(table.column("amount_paid")), _values(table.column("amount_received"))
    asset_paid, asset_received = _text(table, "asset_paid"), _text(table, "asset_received")
    channel, payment_type = _text(table, "channel"), _text(table, "payment_type")
    merchant_category, device = (
        _text(table, "merchant_category"),
        _values(table.column("device_id")),
    )
    from_country, to_country = _text(table, "from_country"), _text(table, "to_country")
    transaction = _values(table.column("transaction_id"))
    available = (
        _values(table.column(AVAILABLE_COLUMN))
        if AVAILABLE_COLUMN in table.column_names
        else [None] * rows
    )
    for row in range(rows):
        yield PaymentEvent(
            timestamp[row],
            payer[row],
            payee[row],
            paid[row],
            asset_paid[row],
            received[row],
            asset_received[row],
            channel[row],
            payment_type[row],
            merchant_category[row],
            device[row],
            from_country[row],
            to_country[row],
            transaction[row],
            available[row],
        )


def _values(column: pa.ChunkedArray) -> list:  # type: ignore[type-arg]
    """A column as Python values, None for nulls (through NumPy when there are none: faster)."""
    if column.null_count:
        return column.to_pylist()  # type: ignore[no-any-return]
    return column.to_numpy().tolist()  # type: ignore[no-any-return]


def _text(table: pa.Table, name: str) -> list:  # type: ignore[type-arg]
    """A column as `str` values (whatever its Arrow type: dictionary, string), None for nulls."""
    return table.column(name).cast(pa.string()).to_pylist()  # type: ignore[no-any-return]
