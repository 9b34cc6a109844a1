"""`clearline script test DIR`: one line per failure, the exact closing line, the exit code."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from typer.testing import CliRunner

from clearline.contracts.numscript.cli import register

SCRIPT = "send [EUR 10] (source = @world destination = @shop)"


def app() -> typer.Typer:
    root = typer.Typer()

    @root.callback()
    def main() -> None:
        """Test root."""

    register(root)
    return root


def write_case(directory: Path, name: str, amount: int, flags: list[str] | None = None) -> None:
    spec: dict[str, object] = {
        "testCases": [
            {
                "it": f"pays {amount}",
                "expect.postings": [
                    {"source": "world", "destination": "shop", "amount": amount, "asset": "EUR"}
                ],
            }
        ]
    }
    if flags:
        spec["featureFlags"] = flags
    (directory / f"{name}.num").write_text(SCRIPT)
    (directory / f"{name}.num.specs.json").write_text(json.dumps(spec))


def test_one_passing_and_one_failing_case(tmp_path: Path) -> None:
    write_case(tmp_path, "good", 10)
    write_case(tmp_path, "bad", 11)
    report = tmp_path / "report.json"
    result = CliRunner().invoke(app(), ["script", "test", str(tmp_path), "--json", str(report)])
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1] == "1 passed, 1 failed"
    (failure,) = [line for line in lines if line.startswith("FAIL")]
    assert "bad.num" in failure and "pays 11" in failure and "posting #1 differs" in failure
    assert "[EUR 11]" in failure  # rich markup does not eat the brackets
    saved = json.loads(report.read_text())
    assert (saved["passed"], saved["failed"]) == (1, 1)


def test_all_passing_with_a_skipped_case(tmp_path: Path) -> None:
    write_case(tmp_path, "good", 10)
    write_case(tmp_path, "later", 10, ["experimental-teleport"])
    result = CliRunner().invoke(app(), ["script", "test", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1] == "1 passed, 0 failed, 1 skipped"
    assert any(line.startswith("SKIP") and "later.num" in line for line in lines[:-1])


def test_not_a_directory(tmp_path: Path) -> None:
    result = CliRunner().invoke(app(), ["script", "test", str(tmp_path / "missing")])
    assert result.exit_code == 2


def test_help_has_an_example() -> None:
    result = CliRunner().invoke(app(), ["script", "test", "--help"])
    assert result.exit_code == 0
    assert "clearline script test" in result.output
