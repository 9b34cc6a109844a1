"""Upstream's own interpreter spec cases (shared/conformance/numscript): every shipped case passes.

The counts are asserted so that a case that starts failing, or starts being skipped, fails here.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from clearline.contracts.numscript.specs import run_specs

REPOSITORY = Path(__file__).resolve().parents[3]
CASES = Path(
    os.environ.get("CLEARLINE_NUMSCRIPT_CASES")
    or REPOSITORY.parent / "shared" / "conformance" / "numscript" / "cases"
)
SHIPPED_CASES = 102
SHIPPED_SCRIPTS = 94


def test_every_shipped_case_passes(needs: Callable[[str, bool, str], None]) -> None:
    needs(
        "the Numscript conformance cases",
        CASES.is_dir(),
        f"put shared/ beside the repository (looked in {CASES}) or set CLEARLINE_NUMSCRIPT_CASES",
    )
    report = run_specs(CASES)
    problems = [
        f"{o.file} › {o.case}: {o.status}: {o.reason}"
        for o in report.outcomes
        if o.status != "passed"
    ]
    assert problems == []
    assert (report.passed, report.failed, report.skipped) == (SHIPPED_CASES, 0, 0)
    assert len({o.file for o in report.outcomes}) == SHIPPED_SCRIPTS
    assert report.summary() == f"{SHIPPED_CASES} passed, 0 failed"
