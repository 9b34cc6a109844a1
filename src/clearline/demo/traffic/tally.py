"""What the replay measured: every payment's HTTP answer joined with the world's label.

Guarantees:
- Counts are measured, never estimated: each answer (status, decision) is counted once, with the
  payment's label from the world (`is_fraud`, `fraud_scenario`).
- Latency is the client's time from sending the request to reading the whole answer; at most
  `LATENCY_SAMPLES_MAX` samples are kept (a reservoir with a fixed seed), so memory is bounded
  whatever the replay's length.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from clearline.demo.traffic.plan import Row

LATENCY_SAMPLES_MAX = 200_000


@dataclass(slots=True)
class Tally:
    """Measured outcomes of the replayed payments, joined with the world's labels.

    Actions are the risk decisions of payments the server accepted (201). `failed`: approved or
    held by risk, then refused by the ledger (e.g. insufficient funds). `refused`: answered 4xx
    before any decision (limits, unknown rate), by problem code. `errors`: 5xx or no answer.
    Fraud: caught = declined or reviewed; missed = approved; `fraud_refused` = stopped before the
    decision (limits). False alarms: honest payments declined or reviewed.
    """

    total: int
    skipped_cross_currency: int
    started: float = field(default_factory=time.perf_counter)
    sent: int = 0
    done: int = 0
    actions: Counter[str] = field(default_factory=Counter)
    statuses: Counter[str] = field(default_factory=Counter)
    refused: Counter[str] = field(default_factory=Counter)
    errors: int = 0
    fraud_seen: int = 0
    fraud_caught: int = 0
    fraud_missed: int = 0
    fraud_refused: int = 0
    false_alarms: int = 0
    honest_decided: int = 0
    scenarios: dict[str, list[int]] = field(default_factory=dict)
    latencies_ms: list[float] = field(default_factory=list)
    sim_time_ns: int = 0
    _rng: random.Random = field(default_factory=lambda: random.Random(0))

    def latency(self, value_ms: float) -> None:
        if len(self.latencies_ms) < LATENCY_SAMPLES_MAX:
            self.latencies_ms.append(value_ms)
            return
        slot = self._rng.randrange(self.done + 1)
        if slot < LATENCY_SAMPLES_MAX:
            self.latencies_ms[slot] = value_ms

    def decided(self, row: Row, status: str, action: str) -> None:
        self.done += 1
        self.actions[action] += 1
        self.statuses[status] += 1
        alarm = action in ("review", "decline")
        if row.is_fraud:
            self.fraud_seen += 1
            seen = self.scenarios.setdefault(row.scenario or "unknown", [0, 0])
            seen[0] += 1
            if alarm:
                self.fraud_caught += 1
                seen[1] += 1
            else:
                self.fraud_missed += 1
        else:
            self.honest_decided += 1
            self.false_alarms += alarm

    def refusal(self, row: Row, code: str) -> None:
        self.done += 1
        self.refused[code] += 1
        if row.is_fraud:
            self.fraud_seen += 1
            self.fraud_refused += 1
            self.scenarios.setdefault(row.scenario or "unknown", [0, 0])[0] += 1

    def error(self) -> None:
        self.done += 1
        self.errors += 1

    def snapshot(self) -> dict[str, Any]:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        p50, p99 = (
            np.percentile(np.asarray(self.latencies_ms), [50, 99]).tolist()
            if self.latencies_ms
            else (None, None)
        )
        return {
            "event": "progress",
            "elapsed_s": elapsed,
            "total": self.total,
            "sent": self.sent,
            "done": self.done,
            "payments_per_s": self.done / elapsed,
            "approve": self.actions["approve"],
            "review": self.actions["review"],
            "decline": self.actions["decline"],
            "statuses": dict(self.statuses),
            "failed": self.statuses["failed"],
            "refused": dict(self.refused),
            "errors": self.errors,
            "fraud_seen": self.fraud_seen,
            "fraud_caught": self.fraud_caught,
            "fraud_missed": self.fraud_missed,
            "fraud_refused": self.fraud_refused,
            "false_alarms": self.false_alarms,
            "honest_decided": self.honest_decided,
            "scenarios": {name: list(pair) for name, pair in self.scenarios.items()},
            "latency_ms_p50": p50,
            "latency_ms_p99": p99,
            "sim_time_ns": self.sim_time_ns,
            "skipped_cross_currency": self.skipped_cross_currency,
        }
