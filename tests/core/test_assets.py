"""Assets: ISO 4217 scales from the iso4217 package, custom `CODE/scale` assets, refusals."""

from __future__ import annotations

import pytest

from clearline.core.assets import SCALE_MAX, Asset, asset, iso_currencies
from clearline.core.errors import InvalidInput


@pytest.mark.parametrize(
    ("code", "scale", "numeric"),
    [("CNY", 2, 156), ("USD", 2, 840), ("JPY", 0, 392), ("KWD", 3, 414), ("CLF", 4, 990)],
)
def test_iso_scales(code: str, scale: int, numeric: int) -> None:
    parsed = asset(code)
    assert (parsed.code, parsed.scale, parsed.numeric, parsed.iso) == (code, scale, numeric, True)
    assert parsed.spec == code
    assert str(parsed) == code


def test_iso_currency_written_with_its_own_scale_is_the_iso_asset() -> None:
    assert asset("JPY/0") == asset("JPY")
    assert asset("USD/2") == asset("USD")


@pytest.mark.parametrize("spec", ["USD/3", "JPY/2", "KWD/2"])
def test_iso_currency_with_another_scale_is_refused(spec: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        asset(spec)
    assert refused.value.code == "invalid_asset"


@pytest.mark.parametrize("code", ["XAU", "XAG", "XDR"])
def test_currencies_without_a_minor_unit_need_an_explicit_scale(code: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        asset(code)
    assert refused.value.code == "invalid_asset"
    assert f"{code}/" in str(refused.value)
    explicit = asset(f"{code}/3")
    assert (explicit.code, explicit.scale, explicit.iso) == (code, 3, False)
    assert explicit.spec == f"{code}/3"


@pytest.mark.parametrize(
    ("spec", "code", "scale"),
    [
        ("USDC/6", "USDC", 6),
        ("POINTS/0", "POINTS", 0),
        ("usdc/6", "USDC", 6),
        (" BTC/8 ", "BTC", 8),
    ],
)
def test_custom_assets(spec: str, code: str, scale: int) -> None:
    parsed = asset(spec)
    assert parsed == Asset(code, scale, 0, False)
    assert parsed.spec == f"{code}/{scale}"
    assert asset(parsed.spec) == parsed


def test_custom_scale_limit() -> None:
    assert asset(f"BIG/{SCALE_MAX}").scale == SCALE_MAX
    with pytest.raises(InvalidInput):
        asset(f"BIG/{SCALE_MAX + 1}")


def test_assets_are_interned() -> None:
    assert asset("USD") is asset("USD")
    assert asset("USDC/6") is asset("USDC/6")


@pytest.mark.parametrize(
    ("spec", "code"),
    [
        ("ZZZ", "unknown_asset"),
        ("", "unknown_asset"),
        ("USDC", "unknown_asset"),
        ("USDC/", "invalid_asset"),
        ("USDC/x", "invalid_asset"),
        ("USDC/-1", "invalid_asset"),
        ("USDC/1.5", "invalid_asset"),
        ("USDC/6/6", "invalid_asset"),
        ("1USD/2", "invalid_asset"),
        ("US-D/2", "invalid_asset"),
        ("/2", "invalid_asset"),
        ("ABCDEFGHIJKLM/2", "invalid_asset"),
        ("USDC/²", "invalid_asset"),  # str.isdigit() is true for superscripts
        ("USDC/\u0666", "invalid_asset"),  # ARABIC-INDIC DIGIT SIX
    ],
)
def test_invalid_assets(spec: str, code: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        asset(spec)
    assert refused.value.code == code


@pytest.mark.parametrize("spec", [None, 840, b"USD", 2.0])
def test_asset_must_be_a_string(spec: object) -> None:
    with pytest.raises(TypeError):
        asset(spec)  # type: ignore[arg-type]


def test_iso_currencies_list() -> None:
    listed = iso_currencies()
    codes = [item.code for item in listed]
    assert codes == sorted(codes)
    assert len(codes) == len(set(codes)) > 150
    assert {"CNY", "JPY", "KWD", "CLF", "EUR"} <= set(codes)
    assert "XAU" not in codes
    assert all(item.iso and item.numeric > 0 for item in listed)
