"""`clearline ledger attest` seals a digest (given, or of a file), a retry answers `exists`,
a bad digest is refused before the ledger is touched, and `ledger verify` counts attestations."""

from __future__ import annotations

import hashlib
from pathlib import Path

import typer
from typer.testing import CliRunner

from clearline.core.clock import ManualClock
from clearline.ledger import Ledger
from clearline.ledger.cli import register


def cli(data_dir: Path) -> tuple[CliRunner, typer.Typer]:
    app = typer.Typer()

    @app.callback()
    def main(ctx: typer.Context) -> None:
        ctx.obj = {"data_dir": data_dir}

    register(app)
    return CliRunner(), app


def said(output: str) -> str:
    """The output with rich's line wrapping undone."""
    return " ".join(output.split())


def test_attest_a_file_and_a_digest_then_verify(tmp_path: Path) -> None:
    runner, app = cli(tmp_path / "node")
    trail = tmp_path / "trail.jsonl"
    trail.write_bytes(b'{"actor": "ops-1", "action": "approve"}\n')
    sealed = runner.invoke(app, ["ledger", "attest", "--file", str(trail), "--id", "5"])
    assert sealed.exit_code == 0, sealed.output
    assert f"ok attestation 5 of {hashlib.sha256(trail.read_bytes()).hexdigest()}" in said(
        sealed.output
    )
    again = runner.invoke(
        app, ["ledger", "attest", "--digest", hashlib.sha256(trail.read_bytes()).hexdigest(),
              "--id", "5"]
    )  # fmt: skip
    assert again.exit_code == 0 and "exists attestation 5" in said(again.output)
    other = runner.invoke(app, ["ledger", "attest", "--digest", "ab" * 32, "--id", "5"])
    assert other.exit_code == 1 and "exists_with_different_digest" in other.output
    for bad in (["--digest", "ab" * 31], ["--digest", "zz" * 32], []):
        refused = runner.invoke(app, ["ledger", "attest", *bad])
        assert refused.exit_code == 2, refused.output
    verified = runner.invoke(app, ["ledger", "verify"])
    assert verified.exit_code == 0 and "1 attestations replayed" in said(verified.output)
    with Ledger.open(tmp_path / "node", clock=ManualClock(1 << 62), sealed=False) as ledger:
        (attestation,) = ledger.lookup_attestations([5])
    assert attestation.digest == hashlib.sha256(trail.read_bytes()).digest()
