"""The payment path's amount text equals `Money.format` for every scale and size."""

from __future__ import annotations

import random

import pytest

from clearline.api.app import amount, decimal_text


@pytest.mark.parametrize(("spec", "scale"), [("USD", 2), ("JPY", 0), ("KWD", 3), ("USDC/6", 6)])
def test_decimal_text_is_money_format(spec: str, scale: int) -> None:
    rng = random.Random(scale)
    samples = [0, 1, 9, 10, 99, 100, 101, 10**scale, 10**scale - 1, 123456789, 10**20 + 7]
    samples += [rng.randrange(10**15) for _ in range(500)]
    for units in samples + [-value for value in samples]:
        assert decimal_text(units, scale) == amount(units, spec), (units, spec)
