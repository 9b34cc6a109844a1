"""Features: one code path online and offline, point-in-time, bounded, restartable."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from snapshot_vector import EXPECTED_FILE, SNAPSHOT_AT, SNAPSHOT_FILE, vector_stream

from clearline.core.errors import InvalidInput
from clearline.risk.batch import score_events
from clearline.risk.features import (
    COMPACT_AT,
    DAY_NS,
    FEATURE_INDEX,
    FEATURE_NAMES,
    MAX_COUNTERPARTIES,
    MAX_WINDOW_EVENTS,
    AccountProfile,
    FeatureContext,
    FeatureState,
    PaymentEvent,
    events_from_table,
    replay,
    reports_from_labels,
)
from clearline.risk.model import RiskModel, TrainConfig, fit, time_split
from clearline.risk.world import LabelledWorld
from clearline.sim import stream_events
from clearline.sim.config import SimConfig

HOUR_NS = 3_600 * 10**9


def _payment_event(sim_event: object, payer_available: int | None = None) -> PaymentEvent:
    names = set(PaymentEvent._fields) - {"payer_available"}
    values = {name: getattr(sim_event, name) for name in names}
    return PaymentEvent(**values, payer_available=payer_available)


class RunningLedger:
    """What a bank's ledger knows online: each account's funds (balance plus credit line), moved
    by every payment as it happens; the scalar counterpart of `payer_available`'s vector sums."""

    def __init__(self, accounts: pa.Table) -> None:
        self.funds = dict(
            zip(
                accounts.column("account_id").to_pylist(),
                pc.add(
                    accounts.column("opening_balance"), accounts.column("credit_limit")
                ).to_pylist(),
                strict=True,
            )
        )

    def pay(self, sim_event: object) -> int:
        """The payer's funds before `sim_event`, then the event applied."""
        before = self.funds[sim_event.from_account_id]  # type: ignore[attr-defined]
        self.funds[sim_event.from_account_id] -= sim_event.amount_paid  # type: ignore[attr-defined]
        self.funds[sim_event.to_account_id] += sim_event.amount_received  # type: ignore[attr-defined]
        return before


def test_online_stream_equals_offline_replay_and_batch_with_a_restart(
    stream_config: SimConfig,
    stream_world: LabelledWorld,
    stream_tables: dict[str, pa.Table],
    tmp_path: Path,
) -> None:
    world = stream_world
    reports = reports_from_labels(world.transactions, world.is_fraud, world.context, DAY_NS)
    assert reports, "the stream must carry fraud reports so the graph features are exercised"
    offline = replay(events_from_table(world.transactions), world.context, reports)
    assert offline[:, FEATURE_INDEX["payee_flagged_contacts"]].max() > 0
    assert not np.isnan(offline[:, FEATURE_INDEX["amount_to_available"]]).any()
    # online: the simulator's live stream, the payer's funds from a running ledger, reports
    # arriving as time passes, a restart half way
    state, waiting, online = FeatureState(world.context), list(reports), []
    ledger = RunningLedger(stream_tables["accounts"])
    for index, sim_event in enumerate(stream_events(stream_config)):
        while waiting and waiting[0][0] <= sim_event.timestamp_ns:
            state.report_fraud(waiting[0][1], waiting.pop(0)[0])
        if index == len(offline) // 2:
            state.snapshot(tmp_path / "state.pickle")
            state = FeatureState.restore(tmp_path / "state.pickle")
        online.append(state.observe(_payment_event(sim_event, ledger.pay(sim_event))))
    assert len(online) == len(offline) > 1_000
    assert np.array_equal(np.array(online), offline, equal_nan=True)
    # batch scoring: the same vectors, and the same scores as one matrix call
    model = _tiny_model(offline, world.is_fraud)
    batch_state = FeatureState(world.context)
    for known_at_ns, account_id in reports:
        batch_state.report_fraud(account_id, known_at_ns)
    features, scores = score_events(model, batch_state, events_from_table(world.transactions))
    assert np.array_equal(features, offline, equal_nan=True)
    assert np.array_equal(scores, model.score(offline))


def _tiny_model(features: np.ndarray, labels: np.ndarray) -> RiskModel:
    config = TrainConfig(num_boost_round=20, min_data_in_leaf=20)
    split = time_split(np.arange(len(labels)), config)
    return fit(features, labels, split, FEATURE_NAMES, (), config)


def test_a_snapshot_written_before_the_split_restores_and_continues() -> None:
    """A deployed system's snapshot from when the features were one module (17d6026: its classes
    pickled as `clearline.risk.features.Flow` and so on) restores, with a fraud report still
    pending, and gives the vectors that code gave for the rest of the stream, bit for bit."""
    state = FeatureState.restore(SNAPSHOT_FILE)
    assert state.pending_reports, "the vector holds a report not yet due"
    events, _ = vector_stream()
    got = np.array([state.observe(event) for event in events[SNAPSHOT_AT:]])
    expected = np.load(EXPECTED_FILE)
    assert got.shape == expected.shape == (len(events) - SNAPSHOT_AT, len(FEATURE_NAMES))
    assert np.array_equal(got, expected, equal_nan=True)


def test_a_snapshot_of_another_feature_set_is_refused(tmp_path: Path) -> None:
    """The committed snapshot with one byte of its format tag changed (a named mutation)."""
    data = SNAPSHOT_FILE.read_bytes()
    tag = b"clearline.risk.features/5"
    assert data.count(tag) == 1
    mutated = tmp_path / "other_version.pickle"
    mutated.write_bytes(data.replace(tag, b"clearline.risk.features/4"))
    with pytest.raises(InvalidInput) as refused:
        FeatureState.restore(mutated)
    assert refused.value.code == "snapshot_version_mismatch"


def test_fraud_reports_count_only_once_known() -> None:
    state = FeatureState(FeatureContext(usd_per_unit={"USD": 0.01}))
    state.observe(_event(0.0, payer=1, payee=9))  # 1 has dealt with 9 before any report
    state.report_fraud(9, known_at_ns=int(5 * HOUR_NS))
    before = state.observe(_event(4.0, payer=2, payee=9))
    assert _value(before, "payee_flagged") == 0
    after = state.observe(_event(5.0, payer=1, payee=3))
    assert _value(after, "payer_flagged_contacts") == 1  # the earlier contact, now reported
    to_flagged = state.observe(_event(6.0, payer=4, payee=9))
    assert _value(to_flagged, "payee_flagged") == 1
    later = state.observe(_event(7.0, payer=5, payee=4))
    assert _value(later, "payee_flagged_contacts") == 1  # 4 paid 9 after the report


def test_features_use_nothing_after_the_event(stream_world: LabelledWorld) -> None:
    table = stream_world.transactions
    full = replay(events_from_table(table), stream_world.context)
    cut = len(full) // 3
    prefix = replay(events_from_table(table.slice(0, cut)), stream_world.context)
    assert np.array_equal(prefix, full[:cut], equal_nan=True)


def _event(at_hours: float, payer: int = 1, payee: int = 2, amount: int = 1_000, **kw: object):
    base = {
        "timestamp_ns": int(at_hours * HOUR_NS),
        "from_account_id": payer,
        "to_account_id": payee,
        "amount_paid": amount,
        "asset_paid": "USD",
        "amount_received": amount,
        "asset_received": "USD",
        "channel": "mobile_app",
        "payment_type": "p2p",
        "from_country": "US",
        "to_country": "US",
    }
    return PaymentEvent(**{**base, **kw})  # type: ignore[arg-type]


def _value(vector: tuple[float, ...], name: str) -> float:
    return vector[FEATURE_INDEX[name]]


def test_windows_count_and_sum_only_their_span() -> None:
    state = FeatureState(FeatureContext(usd_per_unit={"USD": 0.01}))
    state.observe(_event(0.0, amount=500))
    state.observe(_event(10.0, amount=700))
    vector = state.observe(_event(10.5, amount=100, payee=3))
    assert _value(vector, "payer_out_count_1h") == 1
    assert _value(vector, "payer_out_count_24h") == 2
    assert _value(vector, "payer_out_sum_usd_24h") == pytest.approx(12.0)
    assert _value(vector, "first_time_counterparty") == 1
    later = state.observe(_event(25.0, amount=100))
    assert _value(later, "payer_out_count_24h") == 2  # the 0 h payment left the 24 h window
    assert _value(later, "payer_out_count_7d") == 3
    assert _value(later, "first_time_counterparty") == 0
    assert _value(later, "payer_fan_out_24h") == 2


def test_amount_ratio_device_novelty_and_hour_habit() -> None:
    state = FeatureState(FeatureContext(usd_per_unit={"USD": 0.01}))
    for day in range(6):
        state.observe(_event(24.0 * day + 9, amount=1_000, device_id=7))
    vector = state.observe(_event(24.0 * 6 + 3, amount=14_000, device_id=99))
    assert _value(vector, "amount_to_median_30d") == 14
    assert _value(vector, "new_device") == 1
    assert _value(vector, "hour_share") == 0
    assert np.isnan(_value(state.observe(_event(200.0, payer=5)), "amount_to_median_30d"))


def test_amount_to_available_reads_the_payers_funds_and_nothing_else() -> None:
    state = FeatureState(FeatureContext(usd_per_unit={"USD": 0.01}))
    drain = state.observe(_event(0.0, amount=700, payer_available=1_000))
    assert _value(drain, "amount_to_available") == pytest.approx(0.7)
    assert np.isnan(_value(state.observe(_event(1.0)), "amount_to_available"))  # unknown
    empty = state.observe(_event(2.0, payer_available=0))
    assert np.isnan(_value(empty, "amount_to_available"))
    # the funds change that one feature only, and nothing the state remembers
    known = replay([_event(3.0, payer_available=5_000), _event(4.0)], state.context)
    unknown = replay([_event(3.0), _event(4.0)], state.context)
    other = [FEATURE_INDEX[n] for n in FEATURE_NAMES if n != "amount_to_available"]
    assert np.array_equal(known[:, other], unknown[:, other], equal_nan=True)
    assert _value(tuple(known[0]), "amount_to_available") == pytest.approx(0.2)


def test_credit_features_read_the_granted_line_and_what_is_left_of_it() -> None:
    profiles = {1: AccountProfile(credit_limit=50_000), 3: AccountProfile()}
    state = FeatureState(FeatureContext(profiles, usd_per_unit={"USD": 0.01}))

    def credit(vector: tuple[float, ...]) -> tuple[float, float]:
        return _value(vector, "payer_credit_line_usd"), _value(vector, "credit_drawn_after")

    # 60,000 available = 10,000 own money + the 50,000 line; paying 30,000 draws 20,000 of it
    assert credit(state.observe(_event(0.0, amount=30_000, payer_available=60_000))) == (
        500.0,
        pytest.approx(0.4),
    )
    assert credit(state.observe(_event(1.0, amount=1_000, payer_available=100_000))) == (
        500.0,
        0.0,
    )  # still within its own money
    line, drawn = credit(state.observe(_event(2.0)))  # funds unknown
    assert line == 500.0 and np.isnan(drawn)
    line, drawn = credit(state.observe(_event(3.0, payer=3, payer_available=5_000)))
    assert line == 0.0 and np.isnan(drawn)  # no line granted
    line, drawn = credit(state.observe(_event(4.0, payer=9, payer_available=5_000)))
    assert np.isnan(line) and np.isnan(drawn)  # an account nobody described


def test_memory_per_account_is_bounded() -> None:
    state = FeatureState(FeatureContext(usd_per_unit={"USD": 0.01}))
    for index in range(2 * MAX_WINDOW_EVENTS):
        state.observe(_event(index / 10_000, payee=10 + index))
    account = state.accounts[1]
    flow = account.outgoing
    assert len(flow.times) <= MAX_WINDOW_EVENTS + COMPACT_AT + 1
    assert len(flow.fan_week) <= MAX_WINDOW_EVENTS + 1  # the newest, until the next read
    assert len(account.counterparties) == MAX_COUNTERPARTIES
    vector = state.observe(_event(1.0, payee=3))
    assert _value(vector, "payer_out_count_1h") == MAX_WINDOW_EVENTS


def test_out_of_order_events_are_refused() -> None:
    state = FeatureState(FeatureContext())
    state.observe(_event(2.0))
    with pytest.raises(InvalidInput) as caught:
        state.observe(_event(1.0))
    assert caught.value.code == "event_out_of_order"


def test_feature_names_are_unique_and_match_the_vector() -> None:
    assert len(set(FEATURE_NAMES)) == len(FEATURE_NAMES)
    vector = FeatureState(FeatureContext()).observe(_event(0.0))
    assert len(vector) == len(FEATURE_NAMES)
