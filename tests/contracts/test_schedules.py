"""Standing orders: when occurrences fall (cron in a time zone, intervals, count, end), each one run
once on the ledger with its failures recorded, the three missed-occurrence policies after
downtime, cancellation by the payer, and an occurrence interrupted between the ledger and its
record finished once at start."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from contract_wallets import Wallets
from hypothesis import given, settings
from hypothesis import strategies as st

from clearline.access import Principal
from clearline.contracts import templates as tp
from clearline.contracts.records import Party
from clearline.contracts.schedules import NS, InvalidSchedule, Schedule, occurrence_name
from clearline.contracts.service import OCCURRENCES_PER_SWEEP
from clearline.core.clock import ManualClock
from clearline.platform import Platform
from clearline.trail import Actor

OPERATOR_ACTOR = Actor("op-key", "operator")
OPERATOR = Principal("op-key", "operator", None)
ALICE = Principal("alice-key", "customer", 11)
BOB = Principal("bob-key", "customer", 22)


def at(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp()) * NS


def names(schedule: Schedule, from_ns: int, count: int) -> list[str]:
    first = schedule.first_from(from_ns)
    assert first is not None
    return [occurrence_name(when) for _, when in schedule.due(*first, 1 << 62, count)]


# -- the series ----------------------------------------------------------------------------------


def test_a_weekday_cron_falls_at_nine_in_its_time_zone() -> None:
    schedule = Schedule.from_terms({"cron": "0 9 * * 1-5", "timezone": "Asia/Shanghai"}, 0)
    # Thursday 3 December 2026, 10:00 in Shanghai: the next are Fri, Mon, Tue at 09:00 (01:00Z)
    assert names(schedule, at("2026-12-03T10:00:00+08:00"), 3) == [
        "2026-12-04T01:00:00Z",
        "2026-12-07T01:00:00Z",
        "2026-12-08T01:00:00Z",
    ]


def test_a_cron_keeps_local_time_across_daylight_saving() -> None:
    schedule = Schedule.from_terms({"cron": "0 12 * * *", "timezone": "America/New_York"}, 0)
    # New York moves from UTC-4 to UTC-5 on 1 November 2026
    assert names(schedule, at("2026-10-31T00:00:00-04:00"), 2) == [
        "2026-10-31T16:00:00Z",
        "2026-11-01T17:00:00Z",
    ]


def test_an_interval_counts_from_its_start_and_stops_at_its_count_or_end() -> None:
    start = at("2026-12-01T00:00:00+00:00")
    every = Schedule.from_terms({"every_s": 3600, "start_ns": start, "count": 3}, 0)
    # created at 00:30: the series is 01:00, 02:00, 03:00 (three, counted from the first)
    assert names(every, start + 1800 * NS, 10) == [
        "2026-12-01T01:00:00Z",
        "2026-12-01T02:00:00Z",
        "2026-12-01T03:00:00Z",
    ]
    ended = Schedule.from_terms(
        {"every_s": 3600, "start_ns": start, "end_ns": start + 7200 * NS}, 0
    )
    assert len(names(ended, start, 10)) == 3  # 00:00, 01:00 and 02:00: the end is inclusive
    assert ended.first_from(start + 7201 * NS) is None


@pytest.mark.parametrize(
    ("terms", "names"),
    [
        ({}, "cron"),
        ({"cron": "0 9 * *", "every_s": 60}, "one of the two"),
        ({"cron": "61 * * * *"}, "minute"),
        ({"cron": "0 9 * * *", "timezone": "Mars/Olympus"}, "IANA"),
        ({"every_s": 0}, "every_s"),
        ({"every_s": 60, "timezone": "Asia/Dubai"}, "applies to a cron"),
        ({"every_s": 60, "count": 0}, "count"),
        ({"every_s": 60, "start_ns": 10, "end_ns": 5}, "end"),
        ({"every_s": 60, "missed": "maybe"}, "missed"),
    ],
)
def test_a_bad_schedule_is_refused_naming_what_is_wrong(terms: dict[str, Any], names: str) -> None:
    with pytest.raises(InvalidSchedule, match=names):
        Schedule.from_terms(terms, 0)


@settings(max_examples=40, deadline=None)
@given(
    every=st.integers(1, 10_000),
    offset=st.integers(0, 10**6),
    gap=st.integers(0, 20_000),
    count=st.none() | st.integers(1, 500),
)
def test_skipping_an_interval_lands_where_walking_it_does(
    every: int, offset: int, gap: int, count: int | None
) -> None:
    schedule = Schedule.from_terms({"every_s": every, "start_ns": 0, "count": count}, 0)
    first = schedule.first_from(offset * NS)
    assert first is not None
    until = first[1] + gap * NS + 1
    following, passed, last = schedule.skip_until(*first, until)
    walked = schedule.due(*first, until - 1, 10**6)  # those before `until`
    assert passed == len(walked) and last == walked[-1]
    assert following == schedule.next_after(*last)


# -- standing orders on the platform ----------------------------------------------------------


def order(
    platform: Platform,
    payer: int,
    payee: int,
    amount: int = 100,
    stop_after_failures: int | None = None,
    **schedule: Any,
) -> int:
    terms: dict[str, Any] = {
        "schedule": {"every_s": 60, **schedule},
        "payment": {"from_account_id": payer, "to_account_id": payee, "amount": amount},
        "stop_after_failures": stop_after_failures,
    }
    parties = [Party("payer", customer_id=11), Party("payee", customer_id=22)]
    contract = platform.contracts.create("schedule", parties, terms, OPERATOR_ACTOR)
    assert contract.state == "active"
    return contract.id


def test_each_occurrence_pays_once_and_the_order_completes_at_its_count(
    platform: Platform, wallets: Wallets, clock: ManualClock
) -> None:
    payer, payee = wallets.make(funds=1_000), wallets.make()
    cid = order(platform, payer, payee, 100, count=3, start_ns=clock.now_ns())
    assert platform.contracts.sweep() == 1  # occurrence 0 falls at the start
    for _ in range(5):
        clock.advance(seconds=60)
        platform.contracts.sweep()
        platform.contracts.sweep()  # a second sweep at the same moment runs nothing
    contract = platform.contracts.get(cid)
    assert contract.state == "completed" and contract.deadline_ns is None
    assert (contract.data["succeeded"], contract.data["occurrences"]) == (3, 3)
    assert (wallets.balance(payer), wallets.balance(payee)) == (700, 300)
    steps = platform.contracts.steps(cid)
    assert [s.step.split(":", 1)[0] for s in steps] == ["create", *["occurrence"] * 3]
    transfer_ids = [s.operations["transfers"][0][0] for s in steps[1:]]
    start = contract.terms["schedule"]["start_ns"]
    expected = [f"{tp.occurrence_id(cid, start + n * 60 * NS):032x}" for n in range(3)]
    assert transfer_ids == expected  # derived from the contract and the occurrence's time
    events = [e for e in platform.trail.page(0, 100) if e.resource_id == f"{cid:032x}"]
    assert [e.action for e in events] == ["contract.create", *["contract.occurrence"] * 3]


def test_a_refused_occurrence_is_recorded_with_the_ledgers_reason_and_the_order_goes_on(
    platform: Platform, wallets: Wallets, clock: ManualClock
) -> None:
    payer, payee = wallets.make(funds=150), wallets.make()
    cid = order(platform, payer, payee, 100, start_ns=clock.now_ns(), stop_after_failures=2)
    platform.contracts.sweep()  # pays 100: 50 left
    clock.advance(seconds=60)
    platform.contracts.sweep()  # refused: the wallet cannot go below zero
    contract = platform.contracts.get(cid)
    assert contract.state == "active"
    assert contract.data["last"]["ledger"] == "ledger_exceeds_credits"
    failed = platform.contracts.steps(cid)[-1]
    assert failed.status == "failed" and failed.outcome is not None
    assert failed.outcome["result"] == "failed"
    clock.advance(seconds=60)
    platform.contracts.sweep()  # the second refusal in a row stops it
    contract = platform.contracts.get(cid)
    assert contract.state == "stopped" and contract.deadline_ns is None
    assert (contract.data["succeeded"], contract.data["failed"]) == (1, 2)
    assert (wallets.balance(payer), wallets.balance(payee)) == (50, 100)


@pytest.mark.parametrize(
    ("policy", "runs", "skipped"),
    # down from 00:00 to 02:00 with an occurrence a minute and 5 minutes' grace: 121 are due,
    # the last six (01:55..02:00, at most 300 s late) on time
    [("run_all", 121, 0), ("run_latest", 6, 115), ("skip", 6, 115)],
)
def test_missed_occurrences_follow_the_orders_policy_after_downtime(
    platform: Platform,
    wallets: Wallets,
    clock: ManualClock,
    policy: str,
    runs: int,
    skipped: int,
) -> None:
    payer, payee = wallets.make(funds=10**6), wallets.make()
    cid = order(platform, payer, payee, 1, start_ns=clock.now_ns(), missed=policy, grace_s=300)
    clock.advance(seconds=2 * 3600)
    sweeps = 0
    while platform.contracts.get(cid).deadline_ns <= clock.now_ns():  # type: ignore[operator]
        assert platform.contracts.sweep() <= OCCURRENCES_PER_SWEEP
        sweeps += 1
    contract = platform.contracts.get(cid)
    assert (contract.data["succeeded"], contract.data["skipped"]) == (runs, skipped)
    assert contract.data["occurrences"] == 121 and contract.state == "active"
    assert wallets.balance(payee) == runs
    assert sweeps == (2 if policy == "run_all" else 1)
    assert contract.data["next"] == occurrence_name(
        contract.terms["schedule"]["start_ns"] + 121 * 60 * NS
    )


def test_run_latest_runs_the_latest_late_one_when_none_is_on_time(
    platform: Platform, wallets: Wallets, clock: ManualClock
) -> None:
    payer, payee = wallets.make(funds=10**6), wallets.make()
    start = clock.now_ns()
    cid = order(platform, payer, payee, 1, start_ns=start, every_s=3600, missed="run_latest",
                grace_s=60)  # fmt: skip
    clock.advance(seconds=5 * 3600 + 600)  # 05:10: 00:00..05:00 are due, all late
    platform.contracts.sweep()
    contract = platform.contracts.get(cid)
    assert (contract.data["skipped"], contract.data["succeeded"]) == (5, 1)
    assert contract.data["last"]["at"] == occurrence_name(start + 5 * 3600 * NS)
    kinds = [s.step for s in platform.contracts.steps(cid)]
    assert kinds == ["create", f"skip:{occurrence_name(start)}",
                     f"occurrence:{occurrence_name(start + 5 * 3600 * NS)}"]  # fmt: skip


def test_a_numscript_order_runs_its_program_once_per_occurrence(
    platform: Platform, wallets: Wallets, clock: ManualClock
) -> None:
    payer = wallets.make(funds=250)
    program = (
        "vars { monetary $rent account $from }\n"
        "send $rent ( source = $from destination = { 90% to @landlord remaining kept } )\n"
    )
    variables = {"rent": "USD/2 100", "from": f"ledger:{payer:032x}"}
    contract = platform.contracts.create(
        "schedule",
        [Party("payer", customer_id=11)],
        {
            "schedule": {"every_s": 86_400, "start_ns": clock.now_ns()},
            "numscript": {"program": program, "variables": variables},
        },
        OPERATOR_ACTOR,
    )
    for _ in range(3):
        platform.contracts.sweep()
        clock.advance(seconds=86_400)
    contract = platform.contracts.get(contract.id)
    assert (contract.data["succeeded"], contract.data["failed"]) == (2, 1)
    assert contract.data["last"]["error"] == "missing_funds"
    assert wallets.balance(payer) == 250 - 2 * 90  # 10% of each rent is kept by the payer
    executions = [s.outcome["execution_id"] for s in platform.contracts.steps(contract.id)[1:]]
    assert len(set(executions)) == 3


def test_the_payer_or_an_operator_cancels_an_order_and_nobody_else(
    platform: Platform, wallets: Wallets, clock: ManualClock
) -> None:
    payer, payee = wallets.make(funds=1_000), wallets.make()
    cid = order(platform, payer, payee, start_ns=clock.now_ns() + 60 * NS)
    with pytest.raises(tp.NotAParty):
        platform.contracts.cancel(cid, BOB, Actor("bob-key", "customer"))  # the payee
    cancelled = platform.contracts.cancel(cid, ALICE, Actor("alice-key", "customer"))
    assert cancelled.state == "cancelled" and cancelled.deadline_ns is None
    clock.advance(seconds=600)
    assert platform.contracts.sweep() == 0
    assert wallets.balance(payee) == 0
    with pytest.raises(tp.NotAllowed):
        platform.contracts.cancel(cid, OPERATOR, OPERATOR_ACTOR)


def test_bad_standing_order_terms_are_refused_and_create_nothing(
    platform: Platform, wallets: Wallets
) -> None:
    payer, payee = wallets.make(funds=1_000), wallets.make()
    parties = [Party("payer", customer_id=11)]
    payment = {"from_account_id": payer, "to_account_id": payee, "amount": 5}
    with pytest.raises(tp.InvalidTerms, match="payment"):
        platform.contracts.create(
            "schedule", parties, {"schedule": {"every_s": 60}}, OPERATOR_ACTOR
        )
    with pytest.raises(tp.InvalidTerms, match="payer"):
        platform.contracts.create(
            "schedule", [], {"schedule": {"every_s": 60}, "payment": payment}, OPERATOR_ACTOR
        )
    with pytest.raises(tp.InvalidTerms, match="no occurrence"):
        platform.contracts.create(
            "schedule", parties,
            {"schedule": {"every_s": 60, "start_ns": 0, "end_ns": 60 * NS}, "payment": payment},
            OPERATOR_ACTOR,
        )  # fmt: skip
    assert platform.contracts.records.page(0, 10) == []


def test_an_occurrence_interrupted_after_the_ledger_is_finished_once_at_start(
    tmp_path: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "data"
    platform = Platform.open(directory, clock=clock)
    wallets = Wallets(platform)
    payer, payee = wallets.make(funds=1_000), wallets.make()
    cid = order(platform, payer, payee, 100, start_ns=clock.now_ns())

    def killed(*_: object, **__: object) -> None:
        raise SystemExit("killed between the ledger and the record")

    monkeypatch.setattr(platform.contracts.records, "complete", killed)
    with pytest.raises(SystemExit):
        platform.contracts.sweep()
    monkeypatch.undo()
    assert wallets.balance(payee) == 100  # the ledger has it; the step is still pending
    platform.close()
    clock.advance(seconds=30)
    reopened = Platform.open(directory, clock=clock)
    try:
        contract = reopened.contracts.get(cid)
        assert contract.data["succeeded"] == 1 and contract.data["occurrences"] == 1
        assert [s.status for s in reopened.contracts.steps(cid)] == ["done", "done"]
        assert reopened.contracts.sweep() == 0  # the next falls at +60 s
        assert Wallets(reopened).balance(payee) == 100
    finally:
        reopened.close()


def test_the_occurrence_name_is_utc_to_the_second() -> None:
    when = int(datetime(2026, 12, 3, 9, 0, tzinfo=UTC).timestamp()) * NS
    assert occurrence_name(when) == "2026-12-03T09:00:00Z"
    assert occurrence_name(when + 5) == "2026-12-03T09:00:00.000000005Z"
