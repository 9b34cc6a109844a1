"""platform.toml: defaults, what it may change, and a clear refusal naming the bad key."""

from __future__ import annotations

from pathlib import Path

import pytest

from clearline.access import DEFAULT_LIMITS, RateLimit
from clearline.platform import Platform, Settings
from clearline.platform.settings import PlatformConfigInvalid, load_settings, parse_settings


def test_no_file_means_the_defaults(tmp_path: Path) -> None:
    assert load_settings(tmp_path) == Settings()
    assert Settings().rate_limits == DEFAULT_LIMITS


def test_the_file_changes_only_what_it_names(tmp_path: Path) -> None:
    (tmp_path / "platform.toml").write_text(
        "review_timeout_s = 60\n"
        "[rate_limits.customer]\nrequests_per_s = 2.5\nburst = 5\n"
        "[rate_limits.auditor]\nunlimited = true\n"
    )
    settings = load_settings(tmp_path)
    assert settings.review_timeout_s == 60
    assert settings.authorization_timeout_s == Settings().authorization_timeout_s
    assert settings.rate_limits["customer"] == RateLimit(2.5, 5)
    assert settings.rate_limits["auditor"] is None
    assert settings.rate_limits["operator"] == DEFAULT_LIMITS["operator"]


@pytest.mark.parametrize(
    ("document", "names"),
    [
        ({"review_timeout": 60}, "review_timeout"),
        ({"review_timeout_s": 0}, "review_timeout_s"),
        ({"review_timeout_s": True}, "review_timeout_s"),
        ({"authorization_timeout_s": "7d"}, "authorization_timeout_s"),
        ({"rate_limits": {"root": {"requests_per_s": 1, "burst": 1}}}, "root"),
        ({"rate_limits": {"customer": {"requests_per_s": 0, "burst": 1}}}, "requests_per_s"),
        ({"rate_limits": {"customer": {"requests_per_s": 1, "burst": 1.5}}}, "burst"),
        ({"rate_limits": {"customer": {"requests_per_s": 1}}}, "burst"),
        ({"rate_limits": {"customer": {"unlimited": True, "burst": 1}}}, "unlimited"),
        ({"rate_limits": {"customer": {"rate": 1, "burst": 1}}}, "rate"),
        ({"rate_limits": "fast"}, "rate_limits"),
    ],
)
def test_bad_settings_are_refused_naming_the_key(document: dict[str, object], names: str) -> None:
    with pytest.raises(PlatformConfigInvalid) as refused:
        parse_settings(document)
    assert names in str(refused.value) and refused.value.code == "platform_config_invalid"


def test_a_platform_with_a_bad_file_does_not_open(tmp_path: Path) -> None:
    (tmp_path / "platform.toml").write_text("review_timeout_s = [1\n")
    with pytest.raises(PlatformConfigInvalid, match="not valid TOML"):
        Platform.open(tmp_path)
    assert not (tmp_path / "platform.sqlite").exists()  # refused before anything opened
