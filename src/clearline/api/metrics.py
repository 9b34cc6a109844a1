"""Prometheus metrics: request rates and latencies, decisions by action, ledger batch sizes and
commit latency, log size. Each app has its own registry (no global state)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class _LedgerCollector(Collector):
    def __init__(self, stats: Callable[[], Any], log_size: Callable[[], int]) -> None:
        self._stats, self._log_size = stats, log_size

    def collect(self) -> Iterator[Any]:
        stats = self._stats()
        yield CounterMetricFamily(
            "clearline_ledger_commits", "Durable ledger commits (groups)", value=stats.commits
        )
        yield CounterMetricFamily(
            "clearline_ledger_events", "Ledger events committed", value=stats.events
        )
        yield CounterMetricFamily(
            "clearline_ledger_commit_seconds",
            "Total time spent committing groups",
            value=stats.commit_seconds_total,
        )
        yield GaugeMetricFamily(
            "clearline_ledger_batch_size_mean",
            "Mean events per committed group",
            value=stats.events / stats.commits if stats.commits else 0.0,
        )
        yield GaugeMetricFamily(
            "clearline_ledger_batch_size_max", "Largest group committed", value=stats.largest_group
        )
        yield GaugeMetricFamily(
            "clearline_log_size", "Leaves in the settlement log", value=self._log_size()
        )


class _PlatformCollector(Collector):
    def __init__(self, rate_limited: Callable[[], int], seal_failures: Callable[[], int]) -> None:
        self._rate_limited, self._seal_failures = rate_limited, seal_failures

    def collect(self) -> Iterator[Any]:
        yield CounterMetricFamily(
            "clearline_rate_limited",
            "Requests refused by a key's rate limit (429)",
            value=self._rate_limited(),
        )
        yield CounterMetricFamily(
            "clearline_audit_seal_failures",
            "Rounds in which an audit event could not be sealed into the log",
            value=self._seal_failures(),
        )


class Metrics:
    def __init__(
        self,
        ledger_stats: Callable[[], Any],
        rate_limited: Callable[[], int] = lambda: 0,
        seal_failures: Callable[[], int] = lambda: 0,
    ) -> None:
        self.log_size = 0
        """Leaves in the log, read when /metrics is asked (off the event loop)."""
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "clearline_http_requests",
            "HTTP requests by route, method and status",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "clearline_http_request_seconds",
            "HTTP request latency by route",
            ("route", "method"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.decisions = Counter(
            "clearline_decisions", "Risk decisions by action", ("action",), registry=self.registry
        )
        self.registry.register(_LedgerCollector(ledger_stats, lambda: self.log_size))
        self.registry.register(_PlatformCollector(rate_limited, seal_failures))

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request and time it."""
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
