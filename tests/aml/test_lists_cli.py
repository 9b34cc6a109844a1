"""`clearline screening lists load|show` on a real data directory: a load prints the version,
counts and diff, a reload of the same file is unchanged, a bad file is refused naming its
place and stores nothing, `show` (and `--json`) lists the versions with their file hashes, a
busy directory is refused, and every command's help has an example."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner, Result

from clearline.aml.screening import lists_cli
from clearline.platform import DirectoryLock

DATA = Path(
    os.environ.get("CLEARLINE_SANCTIONS_DATA")
    or Path(__file__).resolve().parents[3] / "shared" / "data" / "sanctions"
)
UN = DATA / "un-consolidated-excerpt.xml"
SDN, ALT, ADD = DATA / "ofac-sdn.csv", DATA / "ofac-alt.csv", DATA / "ofac-add.csv"


@pytest.fixture(autouse=True)
def shipped_lists(needs) -> None:  # type: ignore[no-untyped-def]
    needs("the shipped sanctions lists", UN.exists() and SDN.exists(), f"a copy in {DATA}")


def invoke(data_dir: Path, *args: str) -> Result:
    app = typer.Typer()
    screening = typer.Typer()

    @app.callback()
    def main(ctx: typer.Context) -> None:
        ctx.obj = {"data_dir": data_dir}

    lists_cli.register(screening)
    app.add_typer(screening, name="screening")
    return CliRunner().invoke(app, ["screening", "lists", *args])


def test_load_prints_version_counts_and_diff(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    result = invoke(
        data_dir, "load", "--ofac-sdn", str(SDN), "--ofac-alt", str(ALT), "--ofac-add", str(ADD)
    )
    assert result.exit_code == 0, result.output
    assert "ofac: version 1 (8976 entries)" in result.output
    assert "kinds: aircraft 277, organization 3673, person 4620, vessel 406" in result.output
    assert "alias 11523, former 387" in result.output
    assert (
        f"file ofac-sdn.csv sha256 {hashlib.sha256(SDN.read_bytes()).hexdigest()}" in result.output
    )
    assert "added 8976, changed 0, removed 0" in result.output

    again = invoke(
        data_dir, "load", "--ofac-sdn", str(SDN), "--ofac-alt", str(ALT), "--ofac-add", str(ADD)
    )
    assert again.exit_code == 0, again.output
    assert "ofac: unchanged, still version 1 (8976 entries)" in again.output


def test_reload_of_a_changed_file_names_the_changes(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert invoke(data_dir, "load", "--un", str(UN)).exit_code == 0
    changed = tmp_path / "un.xml"
    text = UN.read_text(encoding="utf-8").replace("AMIKWE LEPIC", "AMIKWE LE PIC")
    changed.write_text(text, encoding="utf-8")
    result = invoke(data_dir, "load", "--un", str(changed))
    assert result.exit_code == 0, result.output
    assert "un: version 2 (40 entries)" in result.output
    assert "added 0, changed 1, removed 0" in result.output
    assert "changed: CDi.039" in result.output


def test_internal_list_and_show(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    peps = tmp_path / "peps.csv"
    peps.write_text("id,name,type,nationality\np1,ZHANG Wei,person,CN\n", encoding="utf-8")
    result = invoke(data_dir, "load", "--csv", str(peps), "--list", "peps")
    assert result.exit_code == 0, result.output
    assert "peps: version 1 (1 entries)" in result.output
    assert invoke(data_dir, "load", "--un", str(UN)).exit_code == 0

    shown = invoke(data_dir, "show")
    assert shown.exit_code == 0, shown.output
    assert "peps: version 1, csv, loaded " in shown.output
    assert "un: version 1, un, loaded " in shown.output
    assert (
        f"file un-consolidated-excerpt.xml sha256 {hashlib.sha256(UN.read_bytes()).hexdigest()}"
        in shown.output
    )

    as_json = invoke(data_dir, "show", "--json")
    assert as_json.exit_code == 0, as_json.output
    documents = {d["list"]: d for d in json.loads(as_json.output)["lists"]}
    assert sorted(documents) == ["peps", "un"]
    assert documents["un"]["version"] == 1
    assert documents["un"]["counts"]["entries"] == 40
    assert documents["un"]["files"][0]["sha256"] == hashlib.sha256(UN.read_bytes()).hexdigest()
    assert documents["un"]["loaded_at"].endswith("+00:00")


def test_bad_file_is_refused_and_nothing_is_stored(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    bad = tmp_path / "peps.csv"
    bad.write_text("id,name,type\np1,,person\np2,X,robot\n", encoding="utf-8")
    result = invoke(data_dir, "load", "--csv", str(bad), "--list", "peps")
    assert result.exit_code == 1
    assert "error: list_file_invalid: peps.csv:row 2, column name: empty" in result.output
    assert "peps.csv:row 3, column type: 'robot'" in result.output
    assert "nothing was loaded" in result.output
    shown = invoke(data_dir, "show", "--json")
    assert json.loads(shown.output) == {"lists": []}


def test_usage_errors(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    both = invoke(data_dir, "load", "--un", str(UN), "--ofac-sdn", str(SDN))
    assert both.exit_code == 2 and "exactly one of" in both.output
    no_name = invoke(data_dir, "load", "--csv", str(UN))
    assert no_name.exit_code == 2 and "--list" in no_name.output
    missing = invoke(data_dir, "load", "--un", str(tmp_path / "nope.xml"))
    assert missing.exit_code == 2


def test_busy_directory_is_refused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    lock = DirectoryLock(data_dir)
    try:
        result = invoke(data_dir, "load", "--un", str(UN))
    finally:
        lock.release()
    assert result.exit_code == 1
    assert "platform_busy" in result.output


@pytest.mark.parametrize("command", ["load", "show"])
def test_help_has_an_example(tmp_path: Path, command: str) -> None:
    result = invoke(tmp_path, command, "--help")
    assert result.exit_code == 0
    assert "Example" in result.output and f"clearline screening lists {command}" in result.output
