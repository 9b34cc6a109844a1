"""The shared `needs` helper: a missing requirement skips locally and fails under CI, and both
messages say what is missing and how to install it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

Needs = Callable[[str, Callable[[], bool] | bool, str], None]


def test_a_met_requirement_neither_skips_nor_fails(
    needs: Needs, monkeypatch: pytest.MonkeyPatch
) -> None:
    for ci in ("", "true"):
        monkeypatch.setenv("CI", ci)
        needs("present", True, "nothing")
        needs("present", lambda: True, "nothing")


@pytest.mark.parametrize("ci", [None, "", "0", "false"])
def test_a_missing_requirement_skips_outside_ci(
    needs: Needs, monkeypatch: pytest.MonkeyPatch, ci: str | None
) -> None:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(
        pytest.skip.Exception, match=r"frobnicator is missing.*apt-get install frob"
    ):
        needs("frobnicator", lambda: False, "apt-get install frob")


@pytest.mark.parametrize("ci", ["1", "true", "yes"])
def test_a_missing_requirement_fails_under_ci(
    needs: Needs, monkeypatch: pytest.MonkeyPatch, ci: str
) -> None:
    monkeypatch.setenv("CI", ci)
    with pytest.raises(pytest.fail.Exception, match=r"frobnicator is missing.*CI must not skip"):
        needs("frobnicator", False, "apt-get install frob")
