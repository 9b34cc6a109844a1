"""`clearline screening match|batch` against lists read from the shipped files."""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from clearline.aml.screening import match_cli

DATA = Path(
    os.environ.get("CLEARLINE_SANCTIONS_DATA")
    or Path(__file__).resolve().parents[3] / "shared" / "data" / "sanctions"
)
UN = DATA / "un-consolidated-excerpt.xml"


@pytest.fixture(autouse=True)
def shipped_lists(needs) -> None:  # type: ignore[no-untyped-def]
    needs("the shipped sanctions lists", UN.exists(), f"a copy in {DATA}")


def app() -> typer.Typer:
    root = typer.Typer()
    match_cli.register(root)
    return root


def test_match_finds_the_un_entry_from_its_arabic_name() -> None:
    result = CliRunner().invoke(
        app(), ["match", "مزبان خضر هادي", "--type", "person", "--json", "--un", str(UN)]
    )
    assert result.exit_code == 0, result.output
    first = json.loads(result.output)[0]
    assert first["list_id"] == "IQi.023" and 0 <= first["score"] <= 1
    assert first["matched_name"]


def test_batch_writes_one_row_per_candidate(tmp_path: Path) -> None:
    queries = tmp_path / "q.csv"
    queries.write_text("id,name,type\nq1,MIZBAN KHADR HADI,person\nq2,Abdul Latif Mansoor,\n")
    out = tmp_path / "r.csv"
    result = CliRunner().invoke(
        app(), ["batch", str(queries), "--out", str(out), "--top", "2", "--un", str(UN)]
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(out.open()))
    assert list(rows[0]) == list(match_cli.RESULT_COLUMNS)
    firsts = {r["query_id"]: r["list_id"] for r in rows if r["rank"] == "1"}
    assert firsts == {"q1": "IQi.023", "q2": "TAi.007"}


def test_help_has_examples_and_says_where_lists_come_from() -> None:
    for command in ("match", "batch"):
        result = CliRunner().invoke(app(), [command, "--help"])
        assert "Example" in result.output and "--un" in result.output


def test_no_lists_is_refused() -> None:
    result = CliRunner().invoke(app(), ["match", "x"])
    assert result.exit_code == 1
