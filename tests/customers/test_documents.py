"""The customers room's identity documents on a real platform directory: numbers stored only as
vault tokens, found by a keyed hash (not a plain one) that survives a data-key rotation, and tier
raises that need their documents."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

from clearline.core.clock import ManualClock
from clearline.customers import DocumentConflict, NewCustomer, TierDocumentsMissing
from clearline.kyc import IdentifierInvalid
from clearline.platform import Platform, Settings
from clearline.platform.maintenance import rotate_data_key
from clearline.trail import Actor

OPERATOR = Actor("k-operator", "operator", None)
RIC = "360426199101010071"
T = TypeVar("T")


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coroutine)


def open_platform(data_dir: Path) -> Platform:
    return Platform.open(data_dir, clock=ManualClock(), settings=Settings(review_timeout_s=60))


def add_ric(platform: Platform, customer_id: int, number: str = RIC) -> Any:
    documents = platform.directory.documents
    return run(
        documents.add(
            customer_id, "cn_ric", "CN", actor=OPERATOR, today=documents.today(), number=number
        )
    )


def rows(data_dir: Path) -> list[tuple[str, str, str]]:
    with sqlite3.connect(data_dir / "platform.sqlite") as connection:
        return connection.execute(
            "SELECT number, number_hmac, facts FROM customer_documents"
        ).fetchall()


def test_numbers_are_tokens_found_by_a_keyed_hash_across_rotation(tmp_path: Path) -> None:
    platform = open_platform(tmp_path)
    first = run(platform.directory.create_customer(NewCustomer("Li"), actor=OPERATOR))
    second = run(platform.directory.create_customer(NewCustomer("Wang"), actor=OPERATOR))
    added = add_ric(platform, first.id)
    assert added.number == RIC and added.masked_number.endswith(RIC[-4:])
    platform.close()
    ((number, digest, facts),) = rows(tmp_path)
    assert number.startswith("pd1.") and facts.startswith("pd1.") and RIC not in number
    for plain in (RIC, f"cn_ric\x00CN\x00{RIC}"):
        assert digest != hashlib.sha256(plain.encode()).hexdigest()  # keyed, not plain
    rotate_data_key(tmp_path)
    ((rotated, same_digest, _),) = rows(tmp_path)
    assert rotated != number and same_digest == digest  # re-sealed; the index key is the same
    platform = open_platform(tmp_path)
    try:
        with pytest.raises(DocumentConflict) as refused:
            add_ric(platform, second.id)
        assert refused.value.code == "document_held_by_another_customer"
        (listed,) = platform.directory.documents.of_customer(first.id)
        assert listed.number == RIC and listed.details["birth_date"] == "1991-01-01"
        with pytest.raises(IdentifierInvalid):
            add_ric(platform, second.id, RIC[:-1] + "2")
        assert platform.directory.documents.of_customer(second.id) == []
    finally:
        platform.close()


def test_tiers_need_their_documents(tmp_path: Path) -> None:
    platform = open_platform(tmp_path)
    try:
        directory = platform.directory
        with pytest.raises(TierDocumentsMissing) as refused:
            run(directory.create_customer(NewCustomer("Zhao", tier=3), actor=OPERATOR))
        assert refused.value.missing == ["government_identity", "second_document"]
        customer = run(directory.create_customer(NewCustomer("Zhao"), actor=OPERATOR))
        with pytest.raises(TierDocumentsMissing):
            run(directory.update_customer(customer.id, actor=OPERATOR, tier=2))
        add_ric(platform, customer.id)
        assert run(directory.update_customer(customer.id, actor=OPERATOR, tier=2)).tier == 2
        with pytest.raises(TierDocumentsMissing) as refused:
            run(directory.update_customer(customer.id, actor=OPERATOR, tier=3))
        assert refused.value.missing == ["second_document"]
        assert directory.customer(customer.id).tier == 2
    finally:
        platform.close()
