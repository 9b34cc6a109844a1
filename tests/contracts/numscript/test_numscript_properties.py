"""Invariants of every run, on random balances and random programs: value is conserved, no
posting is zero or negative, no account without an overdraft ends below where it could, the
store is read at most once per key and never changed, and a failed run changes nothing."""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field

from hypothesis import event, given, settings
from hypothesis import strategies as st

from clearline.contracts import numscript as ns
from clearline.contracts.numscript.runtime import WORLD

ACCOUNTS = ("a", "b", "c", "d")
ASSET = "COIN"
EXPECTED_ERRORS = (ns.MissingFunds, ns.UnboundedSendAll, ns.AllotmentInSendAll)
"""What a generated program may legitimately raise: the rest would be a bug."""


@dataclass
class Facts:
    """What a generated fragment allows: overdraft bounds per account, whether funds are kept."""

    overdraft: Counter[str] = field(default_factory=Counter)
    unbounded: set[str] = field(default_factory=set)
    kept: bool = False


accounts = st.sampled_from(ACCOUNTS)


@st.composite
def portions(draw: st.DrawFn, count: int) -> list[str]:
    """`count` portions that sum to 1 (as n/d), or with the last one `remaining`."""
    denominator = draw(st.integers(count, 12))
    cuts = sorted(
        draw(st.lists(st.integers(0, denominator), min_size=count - 1, max_size=count - 1))
    )
    bounds = [0, *cuts, denominator]
    texts = [f"{b - a}/{denominator}" for a, b in itertools.pairwise(bounds)]
    if draw(st.booleans()):
        texts[-1] = "remaining"
    return texts


@st.composite
def sources(draw: st.DrawFn, facts: Facts, depth: int = 0) -> str:
    kinds = ["account", "overdraft", "unbounded", "world"]
    if depth < 2:
        kinds += ["inorder", "capped", "allotment", "oneof"]
    kind = draw(st.sampled_from(kinds))
    if kind == "account":
        return "@" + draw(accounts)
    if kind == "overdraft":
        name, bound = draw(accounts), draw(st.integers(-5, 50))
        facts.overdraft[name] += max(bound, 0)
        return f"@{name} allowing overdraft up to [{ASSET} {bound}]"
    if kind == "unbounded":
        name = draw(accounts)
        facts.unbounded.add(name)
        return f"@{name} allowing unbounded overdraft"
    if kind == "world":
        return "@world"
    if kind == "capped":
        return f"max [{ASSET} {draw(st.integers(-5, 150))}] from {draw(sources(facts, depth + 1))}"
    count = draw(st.integers(1, 3))
    inner = [draw(sources(facts, depth + 1)) for _ in range(count)]
    if kind == "inorder":
        return "{ " + " ".join(inner) + " }"
    if kind == "oneof":
        return "oneof { " + " ".join(inner) + " }"
    shares = draw(portions(count))
    return "{ " + " ".join(f"{p} from {s}" for p, s in zip(shares, inner, strict=True)) + " }"


@st.composite
def destinations(draw: st.DrawFn, facts: Facts, depth: int = 0) -> str:
    kinds = ["account"] + (["allotment", "inorder", "oneof"] if depth < 2 else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "account":
        return "@" + draw(st.sampled_from((*ACCOUNTS, "e")))
    count = draw(st.integers(1, 3))

    def target() -> str:
        if draw(st.integers(0, 4)) == 0:
            facts.kept = True
            return "kept"
        return "to " + draw(destinations(facts, depth + 1))

    if kind == "allotment":
        shares = draw(portions(count))
        return "{ " + " ".join(f"{p} {target()}" for p in shares) + " }"
    caps = [f"max [{ASSET} {draw(st.integers(-5, 80))}] {target()}" for _ in range(count)]
    keyword = "oneof " if kind == "oneof" else ""
    return keyword + "{ " + " ".join(caps) + f" remaining {target()} }}"


@st.composite
def programs(draw: st.DrawFn) -> tuple[str, Facts, list[int | None]]:
    facts = Facts()
    statements, amounts = [], []
    for _ in range(draw(st.integers(1, 3))):
        send_all = draw(st.integers(0, 3)) == 0
        amount = None if send_all else draw(st.integers(0, 200))
        sent = f"[{ASSET} *]" if amount is None else f"[{ASSET} {amount}]"
        source, destination = draw(sources(facts)), draw(destinations(facts))
        statements.append(f"send {sent} (\n  source = {source}\n  destination = {destination}\n)")
        amounts.append(amount)
    return "\n".join(statements), facts, amounts


balances = st.dictionaries(
    st.tuples(accounts, st.just(ASSET), st.just("")), st.integers(-50, 600), max_size=4
)


@settings(max_examples=400, deadline=None)
@given(programs(), balances)
def test_runs_conserve_value_and_respect_overdrafts(
    generated: tuple[str, Facts, list[int | None]], start: dict[tuple[str, str, str], int]
) -> None:
    text, facts, amounts = generated
    program = ns.compile_program(text, ["experimental-oneof"])
    store = ns.MemoryStore(start)
    before = dict(store.balances)
    try:
        result = program.run({}, store)
    except EXPECTED_ERRORS as error:
        event(f"raised {error.code}")
        assert dict(store.balances) == before  # a failed run changed nothing
        return
    event("ran")
    assert dict(store.balances) == before  # nor does a successful one: the caller commits
    assert all(count == 1 for count in store.calls.values())
    end: Counter[str] = Counter({key[0]: value for key, value in start.items()})
    for posting in result.postings:
        assert posting.amount > 0
        assert (posting.asset, posting.color) == (ASSET, "")
        end[posting.source] -= posting.amount
        end[posting.destination] += posting.amount
    assert sum(end.values()) == sum(start.values())  # value moves, it is never made or lost
    total = sum(posting.amount for posting in result.postings)
    fixed = [amount for amount in amounts if amount is not None]
    if len(fixed) == len(amounts) and not facts.kept:
        assert total == sum(fixed)
    elif len(fixed) == len(amounts):
        assert total <= sum(fixed)
    for name in ACCOUNTS:
        if name in facts.unbounded or name == WORLD:
            continue
        initial = start.get((name, ASSET, ""), 0)
        assert end[name] >= min(initial, 0) - facts.overdraft[name]


@settings(max_examples=100, deadline=None)
@given(programs(), balances)
def test_a_run_is_deterministic(
    generated: tuple[str, Facts, list[int | None]], start: dict[tuple[str, str, str], int]
) -> None:
    program = ns.compile_program(generated[0], ["experimental-oneof"])
    outcomes: list[object] = []
    for _ in range(2):
        try:
            outcomes.append(program.run({}, ns.MemoryStore(start)).postings)
        except EXPECTED_ERRORS as error:
            outcomes.append((type(error), error.message))
    assert outcomes[0] == outcomes[1]
