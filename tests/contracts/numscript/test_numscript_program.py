"""compile_program / Program.run / ProgramCache: results, running balances, store reads."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import cast

import pytest

from clearline.contracts import numscript as ns
from clearline.contracts.numscript.program import program_key

ALL_FLAGS = ns.KNOWN_FEATURES


def run(
    text: str,
    balances: Mapping[tuple[str, str, str], int] | None = None,
    variables: Mapping[str, str] | None = None,
    metadata: Mapping[str, Mapping[str, str]] | None = None,
) -> ns.Result:
    store = ns.MemoryStore(balances or {}, metadata or {})
    return ns.compile_program(text, ALL_FLAGS).run(variables or {}, store)


def moves(result: ns.Result) -> list[tuple[str, str, int]]:
    return [(p.source, p.destination, p.amount) for p in result.postings]


def test_result_is_immutable() -> None:
    result = run('send [COIN 1] (source = @world destination = @a)\nset_tx_meta("k", 1)')
    assert result.postings == (ns.Posting("world", "a", 1, "COIN", ""),)
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(result, "postings", ())  # noqa: B010 - what a caller could try
    with pytest.raises(TypeError):
        cast(dict[str, str], result.tx_meta)["k"] = "2"


def test_metadata_values_render_as_upstream() -> None:
    result = run(
        """
        set_tx_meta("portion", 100%)
        set_tx_meta("ratio", 2/4)
        set_tx_meta("monetary", [USD/2 -7])
        set_tx_meta("number", -3)
        set_tx_meta("asset", EUR/2)
        set_tx_meta("account", @users:001)
        set_tx_meta("string", "x")
        set_tx_meta("number", 4)
        set_account_meta(@a, "k", 1/3)
        """
    )
    assert dict(result.tx_meta) == {
        "portion": "1/1",
        "ratio": "1/2",
        "monetary": "USD/2 -7",
        "number": "4",
        "asset": "EUR/2",
        "account": "users:001",
        "string": "x",
    }
    assert {a: dict(m) for a, m in result.account_meta.items()} == {"a": {"k": "1/3"}}


def test_store_is_asked_once_per_key_and_never_for_credited_accounts() -> None:
    store = ns.MemoryStore({("a", "COIN", ""): 10, ("b", "COIN", ""): 5})
    program = ns.compile_program(
        """
        vars { monetary $before = balance(@a, COIN) }
        send [COIN 3] (source = { @a @a @world } destination = @c)
        send [COIN 10] (source = @world destination = @b)
        send [COIN *] (source = @b destination = @c)
        send [COIN *] (source = @a destination = @d)
        set_tx_meta("before", $before)
        """
    )
    result = program.run({}, store)
    assert moves(result) == [("a", "c", 3), ("world", "b", 10), ("b", "c", 15), ("a", "d", 7)]
    assert dict(store.calls) == {("a", "COIN", ""): 1, ("b", "COIN", ""): 1}
    assert result.tx_meta["before"] == "COIN 10"


def test_a_program_runs_many_times_without_sharing_state() -> None:
    program = ns.compile_program(
        "vars { monetary $m }\nsend $m (source = @a destination = { 1/3 to @b remaining to @c })"
    )
    store = ns.MemoryStore({("a", "EUR", ""): 100})
    first = program.run({"m": "EUR 10"}, store)
    second = program.run({"m": "EUR 100", "unused": "ignored"}, store)
    assert moves(first) == [("a", "b", 4), ("a", "c", 6)]
    assert moves(second) == [("a", "b", 34), ("a", "c", 66)]
    assert program.variables == ("m",)


def test_midscript_balance_sees_earlier_sends() -> None:
    result = run(
        "send [USD 3] (source = @a destination = @b)\n"
        "send balance(@a, USD) (source = @world destination = @c)",
        {("a", "USD", ""): 10},
    )
    assert moves(result) == [("a", "b", 3), ("world", "c", 7)]


def test_save_makes_funds_unavailable_but_never_below_zero() -> None:
    text = "save [USD 15] from @a\nsend [USD *] (source = @a destination = @b)"
    assert moves(run(text, {("a", "USD", ""): 20})) == [("a", "b", 5)]
    assert moves(run(text, {("a", "USD", ""): 10})) == []
    saved = (
        "save [USD 5] from @a\n"
        "send [USD *] (source = @a allowing overdraft up to [USD 3] destination = @b)"
    )
    assert moves(run(saved, {("a", "USD", ""): 10})) == [("a", "b", 8)]


def test_oneof_undoes_a_failed_branch() -> None:
    result = run(
        """
        send [COIN 10] (
          source = oneof { { @a @b } @c }
          destination = @d
        )
        send [COIN *] (source = { @a @b } destination = @e)
        """,
        {("a", "COIN", ""): 3, ("b", "COIN", ""): 4, ("c", "COIN", ""): 50},
    )
    assert moves(result) == [("c", "d", 10), ("a", "e", 3), ("b", "e", 4)]


def test_oneof_undoes_conversions_of_a_failed_branch() -> None:
    result = run(
        """
        send [EUR/2 500] (
          source = oneof { @a with scaling through @swap  @world }
          destination = @d
        )
        """,
        {("a", "EUR", ""): 1},
    )
    assert moves(result) == [("world", "d", 500)]


def test_one_sender_pushed_twice_is_one_posting_but_two_receivers_are_two() -> None:
    double = run(
        "send [COIN 3] (source = { max [COIN 1] from @a  @a } destination = @d)",
        {("a", "COIN", ""): 10},
    )
    assert moves(double) == [("a", "d", 3)]
    split = run(
        "send [COIN 3] (source = @a destination = { max [COIN 1] to @d remaining to @d })",
        {("a", "COIN", ""): 10},
    )
    assert moves(split) == [("a", "d", 1), ("a", "d", 2)]


def test_self_send_is_a_posting_and_changes_nothing() -> None:
    result = run(
        "send [COIN 4] (source = @a destination = @a)\n"
        "send [COIN *] (source = @a destination = @b)",
        {("a", "COIN", ""): 4},
    )
    assert moves(result) == [("a", "a", 4), ("a", "b", 4)]


def test_kept_funds_stay_with_the_sender() -> None:
    result = run(
        "send [COIN 10] (source = @a destination = { 30% kept remaining to @b })\n"
        "send [COIN *] (source = @a destination = @c)",
        {("a", "COIN", ""): 10},
    )
    assert moves(result) == [("a", "b", 7), ("a", "c", 3)]


def test_colored_funds_move_with_their_color() -> None:
    result = run(
        'send [COIN 5] (source = @a \\ "RED" destination = @b)\n'
        'send [COIN *] (source = { @b \\ "RED" @b } destination = @c)',
        {("a", "COIN", "RED"): 7, ("b", "COIN", ""): 2},
    )
    assert [(p.source, p.destination, p.amount, p.color) for p in result.postings] == [
        ("a", "b", 5, "RED"),
        ("b", "c", 5, "RED"),
        ("b", "c", 2, ""),
    ]


def test_scaling_uses_own_funds_first_then_highest_scale() -> None:
    text = "send [EUR/2 250] (source = @a with scaling through @swap destination = @d)"
    own = run(text, {("a", "EUR/2", ""): 300, ("a", "EUR/3", ""): 9000})
    assert moves(own) == [("a", "d", 250)]
    result = run(text, {("a", "EUR/2", ""): 50, ("a", "EUR/3", ""): 1005, ("a", "EUR", ""): 9})
    assert [(p.source, p.destination, p.amount, p.asset) for p in result.postings] == [
        ("a", "swap", 1000, "EUR/3"),
        ("a", "swap", 1, "EUR"),
        ("swap", "a", 200, "EUR/2"),
        ("a", "d", 250, "EUR/2"),
    ]


def test_scaling_probes_scales_on_a_store_that_cannot_list_them() -> None:
    class PlainStore:
        def balance(self, account: str, asset: str, color: str) -> int:
            return 3 if (account, asset) == ("a", "EUR") else 0

        def account_meta(self, account: str, key: str) -> str | None:
            return None

    program = ns.compile_program(
        "send [EUR/2 *] (source = @a with scaling through @swap destination = @d)", ALL_FLAGS
    )
    assert moves(program.run({}, PlainStore())) == [
        ("a", "swap", 3),
        ("swap", "a", 300),
        ("a", "d", 300),
    ]


def test_account_interpolation_and_meta_origins() -> None:
    result = run(
        """
        vars {
          account $sale
          account $seller = meta($sale, "seller")
          portion $fee = meta($seller, "fee")
          number $id
        }
        send [EUR 100] (source = @world destination = { $fee to @fees:$id remaining to $seller })
        """,
        variables={"sale": "sales:1", "id": "7"},
        metadata={"sales:1": {"seller": "users:2"}, "users:2": {"fee": "12.5%"}},
    )
    assert moves(result) == [("world", "fees:7", 13), ("world", "users:2", 87)]


def test_program_cache_is_a_bounded_lru() -> None:
    cache = ns.ProgramCache(capacity=2)
    one, two, three = (f"send [COIN {n}] (source = @world destination = @a)" for n in (1, 2, 3))
    first = cache.get(one)
    assert cache.get(one) is first
    cache.get(two)
    cache.get(one)  # one is now the most recent
    cache.get(three)  # evicts two
    assert len(cache) == 2
    assert cache.get(one) is first
    assert cache.get(two, ["experimental-oneof"]) is not cache.get(two)
    assert ns.PROGRAM_CACHE_CAPACITY >= 1
    with pytest.raises(ValueError):
        ns.ProgramCache(capacity=0)


def test_program_cache_does_not_keep_errors() -> None:
    cache = ns.ProgramCache(capacity=4)
    with pytest.raises(ns.ParseError):
        cache.get("send")
    assert len(cache) == 0


def test_cache_key_covers_flags_and_text() -> None:
    assert program_key("x", ["b", "a"]) == program_key("x", ["a", "b", "a"])
    assert program_key("x", []) != program_key("x", ["a"])
    assert program_key("ab", []) != program_key("a", ["b"])
    assert len(program_key("x", [])) == 32


def test_feature_flags_of_a_program_include_its_declaration() -> None:
    program = ns.compile_program(
        '#![feature("experimental-oneof")]\nsend [C 1] (source = @world destination = @a)'
    )
    assert program.feature_flags == frozenset({"experimental-oneof"})
