"""The live demo end to end, in this process: a tiny world set up and replayed through HTTP by a
separate process, then the run directory checked by `clearline audit export` and `clearline audit
verify`. The command-line runs (serving after the replay, Ctrl-C) are in test_demo_cli.py."""

from __future__ import annotations

import io
import sqlite3
import subprocess
import sys
from pathlib import Path

from rich.console import Console

from clearline.demo.live import run_live_demo
from clearline.demo.options import LiveDemoOptions
from clearline.demo.world import ensure_model

SMALL_TRAINING = {"training_people": 300, "training_days": 12}
"""A small separate training world, so the tests take seconds (the default is 5,000 × 180)."""
CLEARLINE = str(Path(sys.executable).with_name("clearline"))
"""The console script of the environment running the tests."""


def clearline(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLEARLINE, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def assert_audit_accepts(run_dir: Path, export: Path) -> None:
    exported = clearline("--data-dir", str(run_dir), "audit", "export", str(export))
    assert exported.returncode == 0, exported.stdout + exported.stderr
    verified = clearline("audit", "verify", str(export))
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert "ok" in verified.stdout


def test_live_demo_replays_through_http_and_leaves_a_verifiable_directory(tmp_path: Path) -> None:
    output = io.StringIO()
    result = run_live_demo(
        tmp_path,
        LiveDemoOptions(
            people=300, days=9, payments=300, plot=False, exit_after_replay=True, **SMALL_TRAINING
        ),
        Console(file=output, width=100),
    )
    final = result.final
    assert not result.interrupted
    assert final["total"] == 300 and final["done"] == 300
    assert final["errors"] == 0
    decided = final["approve"] + final["review"] + final["decline"]
    assert decided + sum(final["refused"].values()) == 300
    assert decided > 250  # limits refuse a few payments, never most of them
    assert (
        final["fraud_caught"] + final["fraud_missed"] + final["fraud_refused"]
        == final["fraud_seen"]
    )
    assert final["latency_ms_p50"] is not None and final["latency_ms_p50"] > 0
    assert result.setup["accounts"] > 300  # people plus merchants, enterprises and banks
    assert result.model_version
    with sqlite3.connect(result.run_dir / "platform.sqlite") as connection:
        (stored,) = connection.execute("SELECT count(*) FROM payments").fetchone()
        (models,) = connection.execute(
            "SELECT count(DISTINCT model_version) FROM payments"
        ).fetchone()
    assert stored == decided  # every decided payment is the server's record, not the client's
    assert models == 1  # every payment was decided by the trained model
    assert result.checkpoint["size"] > 0
    assert "replay finished; server stopped, ledger closed" in output.getvalue()
    assert not (result.run_dir / "demo-clock.i64").exists()  # the shared clock is cleaned up
    assert_audit_accepts(result.run_dir, tmp_path / "export")
    # the model came from the separate training world, trained once and cached
    cached = tmp_path / "demo" / "model-300p-12d-seed1"
    assert (cached / "version.txt").read_text().strip() == result.model_version
    installed = result.run_dir / "models" / "current" / "version.txt"
    assert installed.read_text().strip() == result.model_version
    again = io.StringIO()
    options = LiveDemoOptions(people=300, days=9, **SMALL_TRAINING)
    assert ensure_model(tmp_path, options, Console(file=again)) == cached
    assert "model: reusing" in again.getvalue()


def test_the_training_world_is_never_the_demo_world() -> None:
    assert LiveDemoOptions(seed=7).training_world_seed() == 1
    assert LiveDemoOptions(seed=1).training_world_seed() == 2


def test_training_days_zero_learns_from_the_demo_worlds_own_history(tmp_path: Path) -> None:
    output = io.StringIO()
    result = run_live_demo(
        tmp_path,
        LiveDemoOptions(
            people=300, days=9, payments=100, plot=False, training_days=0, exit_after_replay=True
        ),
        Console(file=output, width=100),
    )
    assert result.final["done"] == 100 and result.final["errors"] == 0
    assert not list((tmp_path / "demo").glob("model-*"))
    assert "history payments" in output.getvalue() and "warmed with the same history" in (
        output.getvalue()
    )
    metrics = (result.run_dir / "models" / "current" / "metrics.json").read_text()
    assert '"trained_on": "demo history days"' in metrics
