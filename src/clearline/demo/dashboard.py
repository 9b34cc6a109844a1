"""What the demo shows: the live dashboard, the table of what was measured, and the plot.

Guarantees:
- Every number shown is one the traffic process measured (`clearline.demo.traffic.tally`) or
  the server answered (`GET /v1/checkpoints/latest`); none is estimated here.
- Rendering is pure: `render` and `measured_table` build rich renderables from the messages and
  print nothing; `plot` writes one PNG beside the run's data and returns its path (None without
  matplotlib).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.table import Table

from clearline.demo.options import LiveDemoResult

RATE_WINDOW_S = 5.0
RATE_POINTS_MAX = 20


@dataclass(slots=True)
class View:
    """What the dashboard shows: the last progress report, the checkpoint and a short history."""

    phase: str = "starting"
    progress: dict[str, Any] = field(default_factory=dict)
    checkpoint: dict[str, Any] = field(default_factory=dict)
    series: list[tuple[float, int, float | None]] = field(default_factory=list)
    window: list[tuple[float, int]] = field(default_factory=list)

    def update(self, message: dict[str, Any]) -> None:
        self.progress = message
        now, done = time.monotonic(), int(message["done"])
        self.window = [*self.window[-RATE_POINTS_MAX:], (now, done)]
        self.series.append((float(message["elapsed_s"]), done, message["latency_ms_p99"]))

    def current_rate(self) -> float:
        """Payments answered per second over the last ~5 s of reports."""
        recent = [point for point in self.window if point[0] >= self.window[-1][0] - RATE_WINDOW_S]
        if len(recent) < 2 or recent[-1][0] == recent[0][0]:
            return 0.0
        return (recent[-1][1] - recent[0][1]) / (recent[-1][0] - recent[0][0])


def _share(part: int, whole: int) -> str:
    return f"{part:,}  ({part / whole:.1%})" if whole else f"{part:,}"


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} ms"


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f}"


def render(view: View, header: str) -> RenderableType:
    p = view.progress
    table = Table(show_header=False, box=None, padding=(0, 1))
    for style, justify in (("bold", "left"), ("", "right")) * 2:
        table.add_column(style=style, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    if not p:
        return Panel(Group(header, f"\n{view.phase}"), title="Clearline live demo")
    decided = p["approve"] + p["review"] + p["decline"]
    refused = sum(p["refused"].values())
    sim_time = datetime.fromtimestamp(p["sim_time_ns"] / 1e9, UTC).strftime("%b %d %H:%M")
    point = view.checkpoint
    rows = [
        ("payments", f"{p['done']:,} / {p['total']:,}", "world time", sim_time),
        (
            "payments/s",
            f"{view.current_rate():,.0f} · avg {p['payments_per_s']:,.0f}",
            "p50 · p99",
            f"{_number(p['latency_ms_p50'])} · {_ms(p['latency_ms_p99'])}",
        ),
        ("approve", _share(p["approve"], decided), "labelled fraud", f"{p['fraud_seen']:,}"),
        (
            "review",
            _share(p["review"], decided),
            "  caught",
            _share(p["fraud_caught"], p["fraud_seen"]),
        ),
        (
            "decline",
            _share(p["decline"], decided),
            "  missed",
            _share(p["fraud_missed"], p["fraud_seen"]),
        ),
        (
            "limits refused",
            f"{refused:,}",
            "  by limits",
            _share(p["fraud_refused"], p["fraud_seen"]),
        ),
        (
            "ledger refused",
            f"{p['failed']:,}",
            "false alarms",
            _share(p["false_alarms"], p["honest_decided"]),
        ),
        (
            "errors",
            f"{p['errors']:,}",
            "checkpoint",
            f"{point.get('size', 0):,} · {str(point.get('root_hash', ''))[:8]}" if point else "–",
        ),
    ]
    for row in rows:
        table.add_row(*row)
    return Panel(Group(header, "", table, f"\n{view.phase}"), title="Clearline live demo")


def latest_checkpoint(client: httpx.Client) -> dict[str, Any]:
    """The server's latest signed checkpoint, or {} when it cannot say right now."""
    try:
        response = client.get("/v1/checkpoints/latest")
    except httpx.HTTPError:
        return {}
    if response.status_code != 200:
        return {}
    data: dict[str, Any] = response.json()
    return data


def plot(view: View, run_dir: Path) -> Path | None:
    """Payments per second and p99 latency over the replay, as a PNG beside the data."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    elapsed = np.array([point[0] for point in view.series])
    done = np.array([point[1] for point in view.series], dtype=float)
    p99 = np.array([np.nan if point[2] is None else point[2] for point in view.series])
    rate = np.diff(done, prepend=0.0) / np.maximum(np.diff(elapsed, prepend=0.0), 1e-9)
    figure, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
    top.plot(elapsed, rate)
    top.set_ylabel("payments/s")
    top.set_title("Clearline live demo: payments through HTTP")
    bottom.plot(elapsed, p99, color="tab:red")
    bottom.set_ylabel("p99 latency (ms, so far)")
    bottom.set_xlabel("seconds since the replay started")
    figure.tight_layout()
    path = run_dir / "demo.png"
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return path


def measured_table(result: LiveDemoResult) -> Table | None:
    """The final tally as a table (None before the traffic reported one)."""
    final = result.final
    if not final:
        return None
    decided = final["approve"] + final["review"] + final["decline"]
    seen = final["fraud_seen"]
    table = Table(title="Live demo: measured")
    table.add_column("what")
    table.add_column("value", justify="right")
    rows = [
        ("payments answered", f"{final['done']:,} of {final['total']:,}"),
        ("payments/s (average)", f"{final['payments_per_s']:,.0f}"),
        ("latency p50 / p99", f"{_ms(final['latency_ms_p50'])} / {_ms(final['latency_ms_p99'])}"),
        *((action, _share(final[action], decided)) for action in ("approve", "review", "decline")),
        ("refused by limits (before the decision)", f"{sum(final['refused'].values()):,}"),
        ("refused by the ledger (after approval)", f"{final['failed']:,}"),
        ("errors", f"{final['errors']:,}"),
        ("labelled fraud", f"{seen:,}"),
        ("  caught (declined or reviewed)", _share(final["fraud_caught"], seen)),
        ("  missed (approved)", _share(final["fraud_missed"], seen)),
        ("  by limits", _share(final["fraud_refused"], seen)),
        (
            "false alarms (honest, declined or reviewed)",
            _share(final["false_alarms"], final["honest_decided"]),
        ),
        ("cross-currency payments skipped", f"{final['skipped_cross_currency']:,}"),
    ]
    if result.checkpoint:
        point = result.checkpoint
        rows.append(
            ("latest checkpoint", f"size {point['size']:,}, root {point['root_hash'][:16]}…")
        )
    for row in rows:
        table.add_row(*row)
    return table


def audit_commands(run_dir: Path) -> str:
    """How to check the run directory offline."""
    export = run_dir.with_name(run_dir.name + "-export")
    return (
        "check it offline:\n"
        f"  clearline --data-dir {run_dir} audit export {export}\n"
        f"  clearline audit verify {export}"
    )
